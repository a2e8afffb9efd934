"""A code rollback under load on the lab. Each switching host is drained on haproxy first (its requests in flight
finish), switched and verified directly, and put back once haproxy sees it UP; scripts/probe.py sends 50
requests/s through haproxy for the whole run and no request may fail. (The upgrade deploy, the never-ready and
crash-at-start releases and the config-only rollback run under the same load in test_deploy and test_rollback.)"""

from __future__ import annotations

import pytest
from labutil import APP_HOSTS, current, history, in_host, playbook, print_times, under_load

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module", autouse=True)
def serving(fresh_lab):
    if not history(APP_HOSTS[0]):
        playbook("deploy", version="v1.0.0")
    if any(current(host) != "releases/v1.1.0" for host in APP_HOSTS):
        playbook("deploy", version="v1.1.0")
    yield
    print_times("zero-downtime wall times in the lab")


def servers() -> dict[str, str]:
    """haproxy's own view of the app servers (operational state 2 = UP, administrative 0 = in rotation)."""
    raw = in_host("ai-cs-lb", "sh", "-c", "echo 'show servers state ai_cs_app' | socat stdio /run/haproxy/admin.sock")
    rows = [line.split() for line in raw.splitlines() if line and not line.startswith("#") and len(line.split()) > 6]
    return {row[3]: f"op={row[5]} admin={row[6]}" for row in rows}


def test_a_code_rollback_fails_no_request(tmp_path):
    with under_load("rollback v1.1.0 -> v1.0.0", tmp_path) as load:
        proc = playbook("rollback", version="v1.0.0")
    assert load["failed"] == 0, load["failed_by_cause"]
    assert {"v1.0.0", "v1.1.0"} <= set(load["versions"]), "the load ran across the whole switch"
    assert "Stop sending it new requests (DRAIN)" in proc.stdout
    assert all(current(host) == "releases/v1.0.0" for host in APP_HOSTS)
    assert servers() == dict.fromkeys(APP_HOSTS, "op=2 admin=0"), "both back in rotation and UP"
