"""site.yml refuses, before it changes any host, a host its roles cannot serve: real containers of the lab's image,
one made to say it is Fedora (its os-release and release files, no debian_version: Ansible's own facts then say
RedHat family), one whose PID 1 is not systemd, read over podman's connection as site.yml reads any host."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ansible_run import BIN, ROOT

FEDORA = "ai-cs-site-test-fedora"
NO_SYSTEMD = "ai-cs-site-test-nosystemd"
GOOD = "ai-cs-site-test-debian"  # one it can serve, left as it is too: one refused host stops the whole run
ALL = (FEDORA, NO_SYSTEMD, GOOD)

OS_RELEASE = 'NAME="Fedora Linux"\nVERSION="40 (Server Edition)"\nID=fedora\nVERSION_ID=40\n'


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.fixture(scope="module")
def hosts():
    image = (
        os.environ.get("AI_CS_LAB_IMAGE")
        or subprocess.run([str(ROOT / "lab/image/build.sh")], capture_output=True, text=True, check=True).stdout.strip()
    )
    for name in ALL:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)
    for name in (FEDORA, GOOD):
        podman("run", "-d", "--name", name, "--systemd=always", "--cap-add", "SYS_ADMIN", image, "/sbin/init")
    release = (
        "rm -f /etc/os-release /usr/lib/os-release /etc/debian_version"
        f" && printf '{OS_RELEASE}' >/etc/os-release && echo 'Fedora release 40 (Forty)' >/etc/fedora-release"
        " && cp /etc/fedora-release /etc/redhat-release"
    )
    podman("exec", FEDORA, "sh", "-c", release)
    podman("run", "-d", "--name", NO_SYSTEMD, image, "sleep", "infinity")
    for name in (FEDORA, GOOD):  # booted: what the boot writes in /etc (host keys) comes before the test's marker
        booted = ["podman", "exec", name, "systemctl", "is-system-running", "--wait"]
        subprocess.run(booted, capture_output=True, check=False, timeout=120)
    yield
    for name in ALL:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)


def test_site_refuses_hosts_it_cannot_serve_before_changing_any(hosts, tmp_path: Path):
    container = {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"}
    groups = {"db": FEDORA, "lb": NO_SYSTEMD, "artifacts": GOOD}
    inventory = {"all": {"children": {group: {"hosts": {name: container}} for group, name in groups.items()}}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    marker = "/etc/ai-cs-site-test-untouched"
    for name in ALL:
        podman("exec", name, "touch", marker)
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), "playbooks/site.yml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = " ".join(proc.stdout.split())  # the messages wrap
    assert proc.returncode != 0, proc.stdout[-3000:]
    refused = f"{FEDORA} cannot be provisioned: Fedora 40 is not apt-based: not of the Debian family (os family RedHat,"
    assert refused in out, out[-3000:]
    assert "Cause: the roles install Debian's packages with apt." in out
    assert f"{NO_SYSTEMD} cannot be provisioned: systemd is missing: the service manager is" in out, out[-3000:]
    # nothing after the check ran, on any host: no play of the roles, nothing changed
    assert f"{GOOD} cannot" not in out
    assert "PLAY [Site | " not in proc.stdout.split("PLAY [Site | Check")[1]
    assert proc.stdout.count("changed=0") == 3, proc.stdout[-1500:]
    for name in ALL:  # the marker is the newest file in /etc: nothing was written after it
        assert podman("exec", name, "sh", "-c", f"find /etc -newer {marker} -type f | wc -l").strip() == "0"
