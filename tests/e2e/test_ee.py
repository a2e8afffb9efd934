"""The execution environment on the lab: `make ee` builds it (ee/build.sh), then ansible-navigator runs diagnose,
rollback and deploy from inside it with no flags beyond the playbook's own (ansible-navigator.yml), and
ansible-runner runs the same EE. The run's who is the same as from the .venv, and no secret reaches the output."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest
import yaml
from labutil import APP_HOSTS, ENV, ROOT, current, history, leaked, machine_turn, masked

pytestmark = pytest.mark.lab


def timed(*cmd: str, timeout: int = 900) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout, check=False)
    return proc, time.monotonic() - started


@pytest.fixture(scope="module")
def ee(fresh_lab):
    with machine_turn("the EE image built"):  # a build is heavy: another lab's run under load waits for it
        proc, seconds = timed("./ee/build.sh", timeout=1800)
    assert proc.returncode == 0, masked(proc.stderr[-4000:])
    said = (proc.stderr.strip().splitlines() or ["already built"])[-1]
    print(f"\nee/build.sh: {proc.stdout.strip()} in {seconds:.0f} s ({said})")
    return proc.stdout.strip()


def navigator(*args: str) -> subprocess.CompletedProcess:
    proc, seconds = timed("ansible-navigator", "run", *args)
    print(f"ansible-navigator run {' '.join(args)}: {seconds:.1f} s (rc {proc.returncode})")
    return proc


def test_the_ee_holds_the_pinned_tooling_and_the_collections(ee):
    out = subprocess.run(
        [
            "podman",
            "run",
            "--rm",
            ee,
            "bash",
            "-c",
            "ansible --version; ansible-runner --version; command -v ssh pg_dump; id -u",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ansible [core 2.19.14]" in out and "\n2.4.3\n" in out and "/usr/bin/pg_dump" in out
    assert out.strip().splitlines()[-1] == "1000"  # not root
    unused = ["podman", "run", "--rm", ee, "bash", "-c", "command -v rsync git || true"]
    assert subprocess.run(unused, capture_output=True, text=True, check=True).stdout == ""  # ee/bindep.txt


def navigator_options() -> list[str]:
    """The container options ansible-navigator.yml gives the EE (its user mapped to the one running it)."""
    config = yaml.safe_load((ROOT / "ansible-navigator.yml").read_text())
    return config["ansible-navigator"]["execution-environment"]["container-options"]


@pytest.fixture
def work():
    """A directory inside the checkout (the EE sees the checkout, not this machine's /tmp)."""
    path = ROOT / "build/test-ee"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def test_diagnose_rollback_and_deploy_run_from_the_ee_with_navigator(ee, work):
    if current(APP_HOSTS[0]) != "releases/v1.1.0":
        assert navigator("playbooks/deploy.yml", "-e", "version=v1.1.0").returncode == 0
    diagnose = navigator("playbooks/diagnose.yml", "-e", json.dumps({"diagnose_report_dir": str(work)}))
    assert diagnose.returncode == 0, masked(diagnose.stdout[-3000:])
    assert json.loads((work / "latest.json").read_text())["failed"] == 0
    rollback = navigator("playbooks/rollback.yml", "-e", "version=v1.0.0")
    assert rollback.returncode == 0, masked(rollback.stdout[-3000:])
    deploy = navigator("playbooks/deploy.yml", "-e", "version=v1.1.0", "-vvv")
    assert deploy.returncode == 0, masked(deploy.stdout[-3000:])
    assert not leaked(diagnose.stdout, rollback.stdout, deploy.stdout, deploy.stderr), "leaked at -vvv"
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.1.0"
        last = history(host)[-1]
        # the same who as from the .venv: the EE shares the machine's host name (--uts=host) and $USER
        assert last["to"] == "v1.1.0" and last["who"] == f"{os.environ.get('USER') or 'root'}@{socket.gethostname()}"
    artifacts = sorted((ROOT / "build/navigator").glob("deploy-artifact-*.json"))
    assert artifacts and json.loads(artifacts[-1].read_text())["status"] == "successful"
    # the report the playbook wrote in the EE, as its user (1000), is owned on the host by whoever ran navigator
    report = (work / "latest.json").stat()
    assert (report.st_uid, report.st_gid) == (os.getuid(), os.getgid())


def test_ansible_runner_runs_the_same_ee(ee, work):
    tmp_path = work / "runner"
    (tmp_path / "env").mkdir(parents=True)
    (tmp_path / "env/extravars").write_text(json.dumps({"diagnose_report_dir": str(tmp_path / "reports")}))
    # the checkout's ansible.cfg (inventory, library, roles), as AWX finds it at the project's root
    (tmp_path / "env/envvars").write_text(json.dumps({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}))
    proc, seconds = timed(
        "ansible-runner",
        "run",
        str(tmp_path),
        "--playbook",
        str(ROOT / "playbooks/diagnose.yml"),
        "--process-isolation",
        "--process-isolation-executable",
        "podman",
        "--container-image",
        ee,
        "--container-volume-mount",
        f"{ROOT}:{ROOT}:Z",
        *(f"--container-option={option}" for option in navigator_options()),
        # the checkout's inventory, as AWX's inventory source gives it (runner's own is <private data dir>/inventory)
        f"--cmdline=-i {ROOT / 'inventories/lab/hosts.yml'}",
    )
    print(f"ansible-runner run diagnose in the EE: {seconds:.1f} s (rc {proc.returncode})")
    assert proc.returncode == 0, masked(proc.stdout[-3000:])
    plain = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)  # runner keeps ansible's colours
    assert re.search(r"ai-cs-app1 +: ok=\d+ ", plain), masked(plain[-3000:])
    assert json.loads((tmp_path / "reports/latest.json").read_text())["failed"] == 0
