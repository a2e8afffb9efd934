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
    """The JSON callback's document in ansible's stdout (the timing callback may print after it)."""
    start = stdout.find("{\n")
    if start < 0:
        raise AssertionError(f"no JSON result from ansible:\n{(context or stdout)[-3000:]}")
    return json.JSONDecoder().raw_decode(stdout[start:])[0]


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
