"""Slow clients cannot take the fleet down (issue 36 item 2). On main at 44cd21b, 200 connections through haproxy
each sending a webhook body a byte every 5 s made GET /live through haproxy answer 503 within seconds (73 of 90
over 45 s): the service read bodies inside its 64 request slots, which its health endpoints shared, and haproxy
passed each connection on as it came, so every server was marked DOWN.

Now haproxy reads a whole request (body included) within timeout http-request before it picks a server and limits
connections per client address, and the service reads a body within the request's deadline before it takes a
slot, with its probes on a bound of their own. The slow clients run inside a lab container (another address than
the normal client's, which runs here)."""

from __future__ import annotations

import json
import time

import pytest
from labutil import APP_HOSTS, ROOT, current, failures, haproxy_states, in_host, playbook, run, under_load

pytestmark = pytest.mark.lab
ATTACKER = "ai-cs-artifacts"  # a lab host that is neither haproxy nor an app host


@pytest.fixture(scope="module", autouse=True)
def serving(fresh_lab):
    if any(current(host) != "releases/v1.1.0" for host in APP_HOSTS):
        playbook("deploy", version="v1.1.0")


def slow_clients(host: str, port: int, count: int = 200, seconds: int = 60, interval: float = 5) -> dict:
    script = (ROOT / "tests/slow_clients.py").read_text()
    proc = run("podman", "exec", "-i", ATTACKER, "python3", "-c", script, host, str(port), str(count), str(seconds),
               str(interval), timeout=seconds + 60)  # fmt: skip
    return json.loads(proc.stdout)


def service_runs() -> dict[str, tuple[str, str]]:
    """Each app host's service process and its restart count: a restart (the watchdog's, or systemd's) changes them."""
    show = ["systemctl", "show", "-P", "MainPID,NRestarts", "ai-customer-service"]
    return {host: tuple(in_host(host, *show).split()) for host in APP_HOSTS}


def address(host: str) -> str:
    return in_host(host, "hostname", "-I").split()[0]


def test_200_slow_clients_through_haproxy_leave_the_fleet_serving(tmp_path):
    runs = service_runs()
    started = time.time()
    with under_load("200 slow clients through haproxy", tmp_path, url="http://127.0.0.1:18080") as load:
        attack = slow_clients("ai-cs-lb", 8080)
    print(f"slow clients through haproxy: {attack}")
    assert attack["connected"] >= 200 and attack["cut"] > 0, attack  # haproxy cut them (408), they came back
    assert load["ok"] >= 0.99 * load["requests"], failures(load)
    assert load["webhooks"] > 0 and load["requests"] >= 0.9 * 60 * 20, load  # the normal client ran throughout
    changes = [line for line in haproxy_states(started) if "DOWN" in line or "no server available" in line]
    assert not changes, f"haproxy marked a server DOWN: {changes}"
    assert service_runs() == runs, "no service was restarted"


def test_200_slow_clients_at_one_service_leave_its_health_endpoints_answering(tmp_path):
    host = APP_HOSTS[0]
    runs = service_runs()
    url = f"http://{address(host)}:8080"
    with under_load("200 slow clients at one service", tmp_path, url=url, get_path="/live", webhook_share=0) as live:
        attack = slow_clients(host, 8080)
    print(f"slow clients at {host}: {attack}")
    assert attack["connected"] >= 200 and attack["cut"] > 0, attack  # the service's deadline cut them
    assert live["ok"] >= 0.99 * live["requests"], failures(live)
    for path in ("/ready", "/actuator/health"):
        with under_load(f"{path} beside 200 slow clients", tmp_path, url=url, get_path=path, webhook_share=0) as probe:
            slow_clients(host, 8080, seconds=20)
        assert probe["ok"] >= 0.99 * probe["requests"], failures(probe)
    assert service_runs() == runs, "no service was restarted"
