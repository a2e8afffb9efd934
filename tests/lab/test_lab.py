"""The lab from nothing: up, up again with no changes, reachable over SSH without -i, down leaves nothing.

Runs the real playbooks against real podman containers; `make test` runs it as its own stage.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from labutil import APP_HOSTS, HOSTS, ROOT, in_host, recap, run, sql

pytestmark = pytest.mark.lab
NETWORK = os.environ.get("AI_CS_LAB_NETWORK") or "ai-cs-lab"  # as the lab role names it (a lab of its own: another)


def lab_objects() -> tuple[list[str], list[str]]:
    containers = run("podman", "ps", "-a", "--filter", "label=ai-cs.lab=ai-cs", "--format", "{{.Names}}").stdout.split()
    networks = [n for n in run("podman", "network", "ls", "--format", "{{.Name}}").stdout.split() if n == NETWORK]
    return containers, networks


GONE = "0" * 64  # the id of a container that no longer exists
STALE_FORWARD = [
    *("-p", "tcp", "-d", "127.0.0.1", "--dport", "18080", "-m", "comment"),
    *("--comment", f'dnat name: "{NETWORK}" id: "{GONE}"', "-j", "DNAT", "--to-destination", "10.89.77.250:8080"),
]


def network() -> dict:
    return json.loads(run("podman", "network", "inspect", NETWORK).stdout)[0]


@pytest.fixture(scope="module")
def lab_from_nothing():
    run("ansible-playbook", "playbooks/lab-down.yml")
    assert lab_objects() == ([], [])
    # A network left by a machine without container DNS (made before its provider was installed): lab.yml must
    # recreate it with DNS on, not reuse it.
    run("podman", "network", "create", "--disable-dns", "--subnet", "10.89.77.0/24", NETWORK)
    assert network()["dns_enabled"] is False
    # ... and a port forward left by a lab container whose teardown failed, ahead of where the live one will go
    run("iptables", "-t", "nat", "-N", "CNI-HOSTPORT-DNAT", check=False)  # CNI makes it on first use; it may not yet
    run("iptables", "-t", "nat", "-I", "CNI-HOSTPORT-DNAT", "1", *STALE_FORWARD)
    started = time.monotonic()
    first = run("ansible-playbook", "playbooks/lab.yml")
    cold = time.monotonic() - started
    started = time.monotonic()
    second = run("ansible-playbook", "playbooks/lab.yml")
    warm = time.monotonic() - started
    print(f"\nlab up from nothing: {cold:.1f}s; again (warm, no changes): {warm:.1f}s")
    yield first.stdout, second.stdout
    run("ansible-playbook", "playbooks/lab-down.yml")


def test_first_run_creates_every_host(lab_from_nothing):
    containers, networks = lab_objects()
    assert sorted(containers) == sorted(HOSTS) and networks == [NETWORK]
    running = run("podman", "ps", "--filter", "label=ai-cs.lab=ai-cs", "--format", "{{.Names}}").stdout.split()
    assert sorted(running) == sorted(HOSTS)
    first = recap(lab_from_nothing[0])
    assert {"localhost", "ai-cs-db", "ai-cs-lb", "ai-cs-artifacts"} <= set(first)
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in first.values())


def test_second_run_changes_nothing(lab_from_nothing):
    second = recap(lab_from_nothing[1])
    assert second and all(r["changed"] == 0 and r["failed"] == 0 for r in second.values()), second


def test_ping_every_host_without_an_inventory_flag(lab_from_nothing):
    out = run("ansible", "all", "-m", "ansible.builtin.ping").stdout
    for host in HOSTS:
        assert re.search(rf"^{host} \| SUCCESS", out, re.MULTILINE), out


def test_hosts_are_reached_over_ssh_with_their_own_pinned_host_keys(lab_from_nothing, tmp_path):
    ssh_dir = ROOT / "build/lab-ssh"
    keys = dict(line.split(" ", 1) for line in (ssh_dir / "known_hosts").read_text().splitlines())
    assert sorted(keys) == sorted(HOSTS) and len(set(keys.values())) == len(HOSTS)  # none shared through the image
    out = run("ansible", "ai-cs-app1", "-m", "ansible.builtin.shell", "-a", "echo via=$SSH_CONNECTION").stdout
    assert re.search(r"via=10\.89\.77\.\d+ \d+ 10\.89\.77\.\d+ 22", out), out
    # a host that shows another key is refused (a fresh connection: no control socket to skip the check)
    forged = tmp_path / "known_hosts"
    forged.write_text(f"ai-cs-app1 {keys['ai-cs-app2']}\n")
    ssh = ["ssh", "-F", str(ssh_dir / "config"), "-o", "ControlPath=none", "-o", f"UserKnownHostsFile={forged}"]
    refused = run(*ssh, "-o", "LogLevel=ERROR", "ai-cs-app1", "true", check=False)
    assert refused.returncode != 0 and "Host key verification failed" in refused.stderr, refused.stderr
    assert run(*ssh[:-1], f"UserKnownHostsFile={ssh_dir / 'known_hosts'}", "ai-cs-app1", "true").returncode == 0


def test_app_hosts_reach_database_and_artifacts_by_name(lab_from_nothing):
    assert oct((ROOT / "inventories/lab/.secrets/postgres_password").stat().st_mode)[-3:] == "600"
    for app in ("ai-cs-app1", "ai-cs-app2"):
        # over TLS without checking the certificate: the CA file on the app hosts is installed by the first deploy
        assert sql("SELECT current_user", host=app, sslmode="require") == "ai_cs"
        sums = run("podman", "exec", app, "curl", "-sf", "http://ai-cs-artifacts:8000/SHA256SUMS").stdout
        assert "ai-customer-service-v1.1.0-linux-amd64.tar.gz" in sums


def test_every_lab_host_resolves_every_other_by_name(lab_from_nothing):
    assert network()["dns_enabled"] is True  # recreated: the fixture left one with DNS off
    ip = f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}'
    address = {host: run("podman", "inspect", host, "--format", ip).stdout.strip() for host in HOSTS}
    for host in HOSTS:
        others = [h for h in HOSTS if h != host]
        found = in_host(host, "getent", "ahostsv4", *others, check=False)
        for other in others:
            assert re.search(rf"^{re.escape(address[other])}\s", found, re.MULTILINE), (host, other, found)


def test_a_machine_without_container_dns_is_refused_before_any_change(lab_from_nothing):
    before = network()
    # What lab.yml sees on a machine where the DNS plugin is not installed: the provider's file is missing.
    missing = {"package": "the-dns-plugin", "path": "/nonexistent/dnsname"}
    providers = {"__lab_dns_providers": {"cni": missing, "netavark": missing}}
    refused = run("ansible-playbook", "playbooks/lab.yml", "-e", json.dumps(providers), check=False)
    out = " ".join(refused.stdout.split())
    assert refused.returncode != 0
    assert "lab hosts would not resolve each other by name" in out and "/nonexistent/dnsname is missing" in out, out
    assert "apt-get install the-dns-plugin" in out and "Nothing was changed" in out, out
    assert network() == before


def test_port_forwards_of_containers_that_are_gone_are_removed(lab_from_nothing):
    assert GONE not in run("iptables", "-t", "nat", "-S").stdout


def test_load_balancer_published_on_loopback_with_runtime_api(lab_from_nothing):
    state = run(
        "podman", "exec", "ai-cs-lb", "bash", "-c", "echo 'show servers state' | socat stdio /run/haproxy/admin.sock"
    )
    assert "ai-cs-app1" in state.stdout and "ai-cs-app2" in state.stdout
    code = run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:18080/ready", check=False)
    assert code.stdout in {"200", "503"}  # haproxy answers; 503 until a release is deployed
    internal = run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:18081/ready", check=False)
    assert internal.stdout in {"200", "503"}  # the internal front end (metrics, actuator) is published too
    stats = run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:18404/stats", check=False)
    assert stats.stdout == "401"  # the stats page asks for a login


def servers() -> list[str]:
    cfg = in_host("ai-cs-lb", "cat", "/etc/haproxy/haproxy.cfg")
    return re.findall(r"^\s*server (\S+) ", cfg, re.MULTILINE)


def test_the_lab_grows_to_n_app_hosts_and_back(lab_from_nothing):
    """AI_CS_LAB_APP_HOSTS=3: a third app host, in the inventory, haproxy and Prometheus; unset: back to two."""
    wrong = run("ansible-playbook", "playbooks/lab.yml", "-e", "lab_app_hosts=17", check=False)
    assert wrong.returncode != 0 and "the lab cannot run '17' app hosts" in " ".join(wrong.stdout.split())
    assert sorted(lab_objects()[0]) == sorted(HOSTS)  # nothing changed
    grown = run("env", "AI_CS_LAB_APP_HOSTS=3", "ansible-playbook", "playbooks/lab.yml")
    assert all(r["failed"] == 0 for r in recap(grown.stdout).values())
    assert "ai-cs-app3" in lab_objects()[0]
    assert json.loads((ROOT / "build/lab-ssh/lab.json").read_text())["app_hosts"] == [*APP_HOSTS, "ai-cs-app3"]
    inventory = json.loads(run("ansible-inventory", "--list").stdout)  # no variable: the lab's record
    assert inventory["app"]["hosts"] == [*APP_HOSTS, "ai-cs-app3"]
    assert servers() == [*APP_HOSTS, "ai-cs-app3"]
    assert "ai-cs-app3:8080" in in_host("ai-cs-mon", "cat", "/etc/prometheus/prometheus.yml")
    assert re.search(r"^ai-cs-app3 \| SUCCESS", run("ansible", "app", "-m", "ansible.builtin.ping").stdout, re.M)

    shrunk = run("ansible-playbook", "playbooks/lab.yml")
    assert all(r["failed"] == 0 for r in recap(shrunk.stdout).values())
    assert sorted(lab_objects()[0]) == sorted(HOSTS)
    volumes = run("podman", "volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert "ai-cs-app3-containers" not in volumes and "ai-cs-app2-containers" in volumes
    assert servers() == APP_HOSTS
    assert json.loads(run("ansible-inventory", "--list").stdout)["app"]["hosts"] == APP_HOSTS


def test_lab_down_leaves_nothing():
    run("ansible-playbook", "playbooks/lab-down.yml")
    assert lab_objects() == ([], [])
