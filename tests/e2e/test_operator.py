"""An operator without root runs the lab as a fleet is run from an operator's machine: their own copy of the
project, `make setup-controller` (no root, no podman), the lab's access handed to them (scripts/lab-operator.sh, as
production's SSH key and vault would be), then deploy, rollback and diagnose as that user."""

from __future__ import annotations

import json
import pwd
import shlex
import socket
import subprocess

import pytest
from labutil import APP_HOSTS, ROOT, current, history, leaked, masked

pytestmark = pytest.mark.lab

OPERATOR = "ai-cs-operator"


def as_operator(command: str, cwd: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """command in a login shell of the operator (their HOME, USER and PATH, not this test's), from cwd."""
    return subprocess.run(
        ["runuser", "--login", OPERATOR, "--command", f"cd {shlex.quote(cwd)} && {command}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def checkout(fresh_lab):
    """The operator's copy of this checkout (its files as they are now, uncommitted changes included), made ready
    by `make setup-controller` as the operator, with the lab's access handed over."""
    try:
        pwd.getpwnam(OPERATOR)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", OPERATOR], check=True)
    home = pwd.getpwnam(OPERATOR).pw_dir
    path = f"{home}/ai-customer-service-ops"
    subprocess.run(["rm", "-rf", path], check=True)
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    files = b"\0".join(f for f in files.split(b"\0") if f and (ROOT / f.decode()).exists())
    subprocess.run(
        ["tar", "-C", str(ROOT), "--null", "-T", "-", "-c", "-f", f"{home}/checkout.tar"], input=files, check=True
    )
    made = as_operator(f"mkdir {shlex.quote(path)} && tar -C {shlex.quote(path)} -xf ~/checkout.tar", home)
    assert made.returncode == 0, made.stderr
    setup = as_operator("make setup-controller", path)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    subprocess.run([str(ROOT / "scripts/lab-operator.sh"), OPERATOR, path], check=True, capture_output=True)
    yield path
    subprocess.run(["pkill", "-u", OPERATOR], check=False)  # ssh's control masters (ControlPersist)


def test_deploy_rollback_and_diagnose_as_an_operator_without_root(checkout):
    assert as_operator("id -u", checkout).stdout.strip() != "0"
    runs = {}
    for name, command in [
        ("deploy", "playbooks/deploy.yml -e version=v1.1.0"),
        ("rollback", "playbooks/rollback.yml -e version=v1.0.0"),
        ("diagnose", "playbooks/diagnose.yml"),
    ]:
        runs[name] = as_operator(f".venv/bin/ansible-playbook {command}", checkout)
        assert runs[name].returncode == 0, masked(runs[name].stdout[-3000:] + runs[name].stderr[-2000:])
    assert not leaked(*(proc.stdout for proc in runs.values()))
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.0.0"
        last = history(host)[-1]
        assert last["to"] == "v1.0.0" and last["who"] == f"{OPERATOR}@{socket.gethostname()}"
    # the report is written in the operator's checkout, as the operator
    report = f"{checkout}/build/diagnose/latest.json"
    assert json.loads(as_operator(f"cat {report}", checkout).stdout)["failed"] == 0
    assert as_operator(f"stat -c %U {report}", checkout).stdout.strip() == OPERATOR
