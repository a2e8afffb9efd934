"""Helpers for tests that drive the lab with the project's real playbooks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
APP_HOSTS = ["ai-cs-app1", "ai-cs-app2"]
HOSTS = ["ai-cs-db", *APP_HOSTS, "ai-cs-lb", "ai-cs-artifacts"]


def run(*cmd: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        )
    return proc


def recap(output: str) -> dict[str, dict[str, int]]:
    rows = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.MULTILINE)
    return {h: {"ok": int(o), "changed": int(c), "unreachable": int(u), "failed": int(f)} for h, o, c, u, f in rows}


def in_host(host: str, *cmd: str, check: bool = True) -> str:
    return run("podman", "exec", host, *cmd, check=check).stdout


def secret(name: str) -> str:
    return (ROOT / "inventories/lab/.secrets" / name).read_text().strip()


def sql(query: str, host: str = "ai-cs-app1") -> str:
    """psql from an app host with the service's own credentials, as the runbook's checklist does."""
    return in_host(
        host,
        "env",
        f"PGPASSWORD={secret('postgres_password')}",
        "psql",
        "-h",
        "ai-cs-db",
        "-p",
        "5434",
        "-U",
        "ai_cs",
        "-d",
        "ai_customer_service",
        "-tAc",
        query,
    ).strip()


def current(host: str) -> str:
    return in_host(host, "readlink", "/opt/ai-customer-service/current", check=False).strip()


def history(host: str) -> list[dict]:
    text = in_host(host, "cat", "/var/lib/ai-customer-service/history.jsonl", check=False)
    return [json.loads(line) for line in text.splitlines() if line.strip()]
