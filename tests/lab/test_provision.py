"""site.yml on bare hosts: lab containers of the bare image (lab/image/build.sh, AI_CS_LAB_IMAGE_VARIANT=bare: systemd,
sshd, python3 and python3-apt, nothing else) are provisioned as a fleet's hosts would be, --check first.

--check first changes nothing on any host and names every change the real run then makes (a task it could not run
yet is in a role it ended because the role's packages were not installed: those are named too); the real run brings
the hosts to a fleet; a second run changes nothing; deploy.yml passes on it. The lab's own stage runs it after
test_lab.py, from nothing, and leaves the lab down.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request

import pytest
from labutil import APP_HOSTS, ENV, HOSTS, ROOT, current, in_host, machine_turn, masked, recap, run

pytestmark = pytest.mark.lab
BARE = {**ENV, "AI_CS_LAB_IMAGE_VARIANT": "bare"}
MARKER = "/etc/ai-cs-provision-test-marker"
# what the roles install, by host: none of it is on a bare host, all of it after site.yml
PACKAGES = {
    "ai-cs-db": ["postgresql-15", "python3-psycopg2", "sudo", "prometheus-postgres-exporter"],
    "ai-cs-lb": ["haproxy", "socat", "prometheus-node-exporter"],
    "ai-cs-artifacts": ["docker-registry", "skopeo", "python3-passlib"],
    "ai-cs-mon": ["prometheus", "prometheus-alertmanager"],
    "ai-cs-app1": ["python3-psycopg2", "ca-certificates", "prometheus-node-exporter"],
}


def bare(*cmd: str) -> subprocess.CompletedProcess:
    """cmd with the lab's containers made from the bare image (lab.yml and lab-containers.yml build and run it)."""
    return run(*cmd, env=BARE, timeout=1800)


def installed(host: str, package: str) -> bool:
    status = in_host(host, "dpkg-query", "-W", "-f", "${Status}", package, check=False)
    return status.strip() == "install ok installed"


def results(output: str) -> dict[tuple[str, str], str]:
    """(host, task) -> changed, ok or skipping, as the default callback printed it (a loop: changed if any item
    changed, ok if any was ok); task is 'role : name' (a handler too), or the play's task name."""
    found: dict[tuple[str, str], str] = {}
    task = ""
    rank = {"skipping": 0, "ok": 1, "changed": 2}
    for line in output.splitlines():
        if header := re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \*+$", line):
            task = header.group(1)
        elif result := re.match(r"^(changed|ok|skipping): \[([^\]]+?)(?: -> [^\]]+)?\]", line):
            status, host = result.groups()
            if rank[status] >= rank[found.get((host, task), "skipping")]:
                found[(host, task)] = status
    return found


def changed_roles(found: dict[tuple[str, str], str], host: str) -> set[str]:
    return {
        task.split(" : ")[0]
        for (h, task), status in found.items()
        if h == host and status == "changed" and " : " in task
    }


@pytest.fixture(scope="module")
def runs():
    with machine_turn("the lab provisioned from bare hosts"):
        run("ansible-playbook", "playbooks/lab-down.yml")
        bare("ansible-playbook", "playbooks/lab-containers.yml")
        for host in HOSTS:
            in_host(host, "touch", MARKER)
        before = {host: in_host(host, "dpkg-query", "-W") for host in HOSTS}
        check = bare("ansible-playbook", "playbooks/site.yml", "--check", "--diff")
        after_check = {
            host: (in_host(host, "dpkg-query", "-W"), in_host(host, "find", "/etc", "-newer", MARKER)) for host in HOSTS
        }
        first = bare("ansible-playbook", "playbooks/site.yml")
        second = bare("ansible-playbook", "playbooks/site.yml")
    logs = ROOT / "build" / "test-logs"  # the three runs' output, to read when an assertion below fails
    logs.mkdir(parents=True, exist_ok=True)
    for name, proc in (("check", check), ("first", first), ("second", second)):
        (logs / f"provision-site-{name}.log").write_text(masked(proc.stdout))
    yield {"before": before, "check": check, "after_check": after_check, "first": first, "second": second}
    run("ansible-playbook", "playbooks/lab-down.yml")


def test_the_hosts_start_bare(runs):
    for host, packages in PACKAGES.items():
        assert not [p for p in packages if f"\n{p}\t" in "\n" + runs["before"][host]], host


def test_check_first_changes_nothing_on_any_host(runs):
    rows = recap(runs["check"].stdout)
    assert sorted(rows) == sorted(HOSTS)
    assert all(row["failed"] == 0 and row["unreachable"] == 0 for row in rows.values()), rows
    for host in HOSTS:
        packages, etc = runs["after_check"][host]
        assert packages == runs["before"][host], f"--check installed or removed a package on {host}"
        assert etc.split() == [], f"--check wrote in {host}'s /etc: {etc.split()[:10]}"


def test_check_first_names_every_change_the_real_run_makes(runs):
    said, did = results(runs["check"].stdout), results(runs["first"].stdout)
    # No task --check ran and found nothing to do changes the host in the real run.
    lies = sorted(key for key, status in did.items() if status == "changed" and said.get(key) == "ok")
    assert lies == [], "--check said ok (nothing to change), the real run changed it"
    # Every role that changes a host was named changed by --check; a role whose packages are missing ends there in
    # --check (what follows reads them: users, validators, units), its package install named as the change.
    for host in HOSTS:
        assert changed_roles(did, host) == changed_roles(said, host), host
    assert said[("ai-cs-db", "postgresql : Install PostgreSQL, psycopg2 for the postgresql modules, sudo to run them "
                 "as postgres (become_user)")] == "changed"  # fmt: skip
    assert ("ai-cs-db", "postgresql : Create the service's login role") not in said  # the role ended before it
    # ... and nothing --check named changed stays unchanged, but the apt index it refreshed (for real, in --check)
    over = sorted(key for key, status in said.items() if status == "changed" and did.get(key) != "changed")
    assert {task for _, task in over} <= {
        "Site | Refresh the apt package index where it is missing or older than a day"
    }


def test_site_installs_what_the_roles_need_and_a_second_run_changes_nothing(runs):
    assert all(row["failed"] == 0 for row in recap(runs["first"].stdout).values())
    for host, packages in PACKAGES.items():
        assert [p for p in packages if not installed(host, p)] == [], host
    rows = recap(runs["second"].stdout)
    assert sorted(rows) == sorted(HOSTS)
    assert all(row["changed"] == 0 and row["failed"] == 0 for row in rows.values()), rows


def test_deploy_passes_on_the_provisioned_fleet(runs):
    lab = bare("ansible-playbook", "playbooks/lab.yml")  # as `make lab` on these hosts: site.yml again, haproxy's port
    assert all(row["changed"] == 0 for host, row in recap(lab.stdout).items() if host != "localhost")
    run("ansible-playbook", "playbooks/deploy.yml", "-e", "version=v1.1.0", timeout=900)
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.1.0"
    with urllib.request.urlopen("http://127.0.0.1:18080/ready", timeout=5) as answer:
        assert answer.status == 200
    assert in_host(APP_HOSTS[0], "systemctl", "is-active", "ai-customer-service").strip() == "active"
