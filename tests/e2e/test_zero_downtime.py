"""A host whose requests in flight outlast the drain timeout is not switched, nor the only server in rotation; a
code rollback under load on the lab. Each switching host is drained on haproxy first (its requests in flight
finish), switched and verified directly, and put back once haproxy sees it UP; scripts/probe.py sends 50
requests/s through haproxy for the whole run and no request may fail. (The upgrade deploy, the never-ready and
crash-at-start releases, the canary and the config-only rollback run under the same load in test_deploy and
test_rollback.)"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time

import pytest
from labutil import (
    APP_HOSTS,
    DB_PSQL,
    current,
    failures,
    history,
    in_host,
    lock_holder,
    playbook,
    print_times,
    under_load,
    wait_for,
    webhook,
)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module", autouse=True)
def serving(fresh_lab):
    if not history(APP_HOSTS[0]):
        playbook("deploy", version="v1.0.0")
    if any(current(host) != "releases/v1.1.0" for host in APP_HOSTS):
        playbook("deploy", version="v1.1.0")
    yield
    print_times("zero-downtime wall times in the lab")


def runtime_api(command: str) -> str:
    """One command to haproxy's runtime API on the lab's load balancer."""
    return in_host("ai-cs-lb", "sh", "-c", f"echo '{command}' | socat stdio /run/haproxy/admin.sock")


def servers() -> dict[str, str]:
    """haproxy's own view of the app servers (operational state 2 = UP, administrative 0 = in rotation)."""
    raw = runtime_api("show servers state ai_cs_app")
    rows = [line.split() for line in raw.splitlines() if line and not line.startswith("#") and len(line.split()) > 6]
    return {row[3]: f"op={row[5]} admin={row[6]}" for row in rows}


def sessions() -> dict[str, int]:
    """Sessions open now on each app server (the stats CSV's column 5, scur)."""
    rows = [line.split(",") for line in runtime_api("show stat").splitlines() if line.startswith("ai_cs_app,ai-cs-app")]
    return {row[1]: int(row[4] or 0) for row in rows}


@contextlib.contextmanager
def stalled_requests(count: int):
    """count signed webhooks through haproxy kept in flight on the servers it gave them (round robin, so both) for as
    long as the block runs: the table their first write goes to is locked against writes (EXCLUSIVE: reads, such as a
    starting service's check of its tables, go on), so each waits there until the service's statement timeout (5 s)
    answers it 503, and is sent again. (Bodies that arrive a byte a second no longer reach a server: haproxy reads a
    whole request before it picks one.) Yields a function that adds one more."""
    lock = subprocess.Popen(["podman", "exec", "-i", "ai-cs-db", *DB_PSQL], stdin=subprocess.PIPE, text=True)
    lock.stdin.write("BEGIN; LOCK TABLE cs_message_dedup IN EXCLUSIVE MODE;\n")
    lock.stdin.flush()
    stop = threading.Event()
    threads = []

    def keep_one() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):  # 503 when the statement timeout answers it: send it again
                webhook(f"stalled-{time.time_ns()}", url="http://127.0.0.1:18081")

    def more() -> None:
        thread = threading.Thread(target=keep_one, daemon=True)
        thread.start()
        threads.append(thread)

    for _ in range(count):
        more()
    try:
        yield more
    finally:
        stop.set()
        lock.stdin.write("ROLLBACK;\n")
        lock.stdin.close()
        lock.wait(30)
        for thread in threads:
            thread.join(15)


def test_a_host_that_cannot_be_drained_is_not_switched_and_stays_in_rotation():
    """Requests in flight that outlast loadbalancer_drain_timeout: the run stops before switching, says so, puts
    the host back in rotation (it still serves what it served) and releases the lock."""
    before = {host: current(host) for host in APP_HOSTS}
    wait_for("both servers UP and in rotation", lambda: servers() == dict.fromkeys(APP_HOSTS, "op=2 admin=0"), 60)
    with stalled_requests(10) as more:
        # the first batch's host must hold one: round robin gives each server some, but once (under make test's
        # load) all six went to ai-cs-app2, so up to 14 more are opened, one a second, until ai-cs-app1 holds one
        for _ in range(14):
            if sessions().get("ai-cs-app1", 0) > 0:
                break
            more()
            time.sleep(1)
        state = runtime_api("show servers state ai_cs_app")
        assert sessions().get("ai-cs-app1", 0) > 0, f"no stalled request reached ai-cs-app1: {sessions()}\n{state}"
        # each stalled request lasts at most 5 s: with 1 s to drain, some on ai-cs-app1 outlast it (about five are
        # there, each with 0-5 s to go: all under 1 s has odds of about 1 in 3,000)
        proc = playbook("rollback", "-e", "loadbalancer_drain_timeout=1", check=False, version="v1.0.0")
    text = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert "ai-cs-app1 could not be drained on ai-cs-lb" in text, text[-3000:]
    assert "ai-cs-app1 was not switched and is back in rotation, serving v1.1.0; no host was switched." in text
    assert {host: current(host) for host in APP_HOSTS} == before
    assert lock_holder() == ""
    wait_for("both servers UP and in rotation", lambda: servers() == dict.fromkeys(APP_HOSTS, "op=2 admin=0"))


def test_the_only_server_in_rotation_is_not_drained():
    """With ai-cs-app2 out of rotation (MAINT, as an operator or a dead run may leave it), draining ai-cs-app1
    would leave haproxy nothing to serve: the run waits loadbalancer_enable_timeout for another server, then stops
    before switching, naming the cause and the fix; nothing changed, the lock released."""
    before = {host: current(host) for host in APP_HOSTS}
    wait_for("both servers UP and in rotation", lambda: servers() == dict.fromkeys(APP_HOSTS, "op=2 admin=0"), 60)
    runtime_api("disable server ai_cs_app/ai-cs-app2")
    try:
        proc = playbook("rollback", "-e", "loadbalancer_enable_timeout=3", check=False, version="v1.0.0")
        app1 = servers()["ai-cs-app1"]
    finally:
        runtime_api("enable server ai_cs_app/ai-cs-app2")
    text = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert "ai-cs-app1 could not be drained on ai-cs-lb" in text, text[-3000:]
    assert "it is the only server in rotation there" in text and "-e pipeline_drain_whole_fleet=true" in text
    assert app1 == "op=2 admin=0", "ai-cs-app1 stayed in rotation, serving"
    assert {host: current(host) for host in APP_HOSTS} == before
    assert lock_holder() == ""
    wait_for("both servers UP and in rotation", lambda: servers() == dict.fromkeys(APP_HOSTS, "op=2 admin=0"))


def test_a_code_rollback_fails_no_request(tmp_path):
    with under_load("rollback v1.1.0 -> v1.0.0", tmp_path) as load:
        proc = playbook("rollback", version="v1.0.0")
    assert load["failed"] == 0, failures(load)
    assert {"v1.0.0", "v1.1.0"} <= set(load["versions"]), "the load ran across the whole switch"
    assert "Stop sending it new requests (DRAIN)" in proc.stdout
    assert all(current(host) == "releases/v1.0.0" for host in APP_HOSTS)
    assert servers() == dict.fromkeys(APP_HOSTS, "op=2 admin=0"), "both back in rotation and UP"
