"""Run a module of this project through Ansible itself (ad-hoc, JSON callback) and return its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run_module(name: str, args: dict, check: bool = False, verbosity: int = 0) -> tuple[dict, str]:
    """(result, full stdout+stderr). The raw output is returned so tests can look for leaked secrets."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_NOCOLOR": "1",
    }
    cmd = [
        str(BIN / "ansible"),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-m",
        name,
        "-a",
        json.dumps(args),
    ]
    if check:
        cmd.append("--check")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    return json_document(proc.stdout, output)["plays"][0]["tasks"][0]["hosts"]["localhost"], output


def json_document(stdout: str, context: str = "") -> dict:
    """The JSON callback's document in ansible's stdout (the timing callback may print after it), one entry per task
    run as under ansible's linear strategy, whichever strategy ran it (see lockstep)."""
    start = stdout.find("{\n")
    if start < 0:
        raise AssertionError(f"no JSON result from ansible:\n{(context or stdout)[-3000:]}")
    document = json.JSONDecoder().raw_decode(stdout[start:])[0]
    for play in document.get("plays", []):
        play["tasks"] = lockstep(play.get("tasks", []))
    return document


def lockstep(tasks: list[dict]) -> list[dict]:
    """The callback writes one entry per task and host for a strategy it does not know as lockstep (ansible.cfg's
    mitogen_linear runs as linear does, but is not named linear): entries of the same task in a row become one, its
    hosts together, from the first start to the last end, as the callback writes them under linear."""
    merged: list[dict] = []
    for entry in tasks:
        last = merged[-1] if merged else None
        if last is None or last["task"].get("id") != entry["task"].get("id") or not entry["task"].get("id"):
            merged.append({"task": {**entry["task"], "duration": dict(entry["task"].get("duration", {}))},
                           "hosts": dict(entry.get("hosts", {}))})  # fmt: skip
            continue
        last["hosts"].update(entry.get("hosts", {}))
        span, more = last["task"]["duration"], entry["task"].get("duration", {})
        if "start" in more:
            span["start"] = min(span.get("start", more["start"]), more["start"])
        if "end" in more:
            span["end"] = max(span.get("end", more["end"]), more["end"])
    return merged


def run_playbook(
    playbook: Path, inventory: Path, extra: dict, *, as_json: bool = False, verbosity: int = 0, env: dict | None = None
) -> tuple[int, str, str]:
    """ansible-playbook with this project's ansible.cfg; (exit status, stdout, stderr). as_json: the JSON callback."""
    environ = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", **(env or {})}
    if as_json:
        environ["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", json.dumps(extra)]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr
