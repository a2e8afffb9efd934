"""canary_analysis through Ansible against real service processes (built releases, a real PostgreSQL) under traffic."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from ansible_run import run_module
from svc import SECRET, Service, apply_migrations, prod_env, unpack

WEBHOOK = "/api/v1/customer-service/webhook"


@pytest.fixture(scope="module")
def database(pg, artifacts, tmp_path_factory):
    db = pg.create_database("canary_test")
    conn = pg.connect(db)
    apply_migrations(conn, unpack(artifacts, "v1.1.0", tmp_path_factory.mktemp("schema")), 2)
    conn.close()
    return db


@pytest.fixture
def start(pg, artifacts, database, tmp_path):
    started: list[Service] = []

    def _start(version: str, **env: str) -> Service:
        svc = Service(unpack(artifacts, version, tmp_path), prod_env(pg, database, **env))
        started.append(svc)
        svc.wait_live()
        return svc

    yield _start
    for svc in started:
        svc.stop()


def send(svc: Service, secret: str, n: int) -> None:
    """Request n to one service: odd n a GET, even n a signed webhook (each service counts its own n: one shared
    count let two threads take turns, one getting every webhook, the other none)."""
    if n % 2:
        request = urllib.request.Request(f"{svc.base}/actuator/health")
    else:
        body = json.dumps({"channel": "widget", "message_id": f"c-{time.time_ns()}", "open_id": "u", "content": "hi"})
        stamp = str(int(time.time()))
        signature = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-CS-Timestamp": stamp, "X-CS-Signature": signature}
        request = urllib.request.Request(f"{svc.base}{WEBHOOK}", body.encode(), headers, method="POST")
    # an error answer is what the analysis must see; a refused connection is for readiness
    with contextlib.suppress(urllib.error.URLError, OSError):
        urllib.request.urlopen(request, timeout=5).read()


@pytest.fixture
def traffic():
    """Requests to each given service at `rate` per second, from a thread, until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def _traffic(*targets: tuple[Service, str], rate: float = 30) -> None:
        def loop(svc: Service, secret: str) -> None:
            sent = itertools.count(1)
            while not stop.wait(1 / rate):
                send(svc, secret, next(sent))

        for svc, secret in targets:
            thread = threading.Thread(target=loop, args=(svc, secret), daemon=True)
            thread.start()
            threads.append(thread)

    yield _traffic
    stop.set()
    for thread in threads:
        thread.join()


def analyse(canary: list[Service], baseline: list[Service], **extra):
    hosts = {f"127.0.0.1:{s.port}" for s in canary + baseline}
    assert len(hosts) == len(canary) + len(baseline)
    args = {
        "canary": [f"127.0.0.1:{s.port}" for s in canary],
        "baseline": [f"127.0.0.1:{s.port}" for s in baseline],
        "url": "http://{host}/metrics",
        "window": 8,
        "interval": 1,
        "min_requests": 20,
        **extra,
    }
    return run_module("canary_analysis", args)[0]


def signal(result: dict, name: str) -> dict:
    return next(s for s in result["signals"] if s["signal"] == name)


def test_a_release_failing_a_quarter_of_webhooks_is_degraded_naming_the_figures(start, traffic):
    canary, baseline = start("v1.1.1-fixture.webhook-errors"), start("v1.1.0")
    traffic((canary, SECRET), (baseline, SECRET))
    result = analyse([canary], [baseline], window=30)
    assert result.get("failed") and result["verdict"] == "degraded", result
    errors = signal(result, "5xx")
    assert errors["degraded"] and errors["canary"]["count"] > 0 and errors["baseline"]["count"] == 0
    assert errors["canary"]["of"] >= 20 and 0.04 < errors["canary"]["ratio"] < 0.3  # a quarter of half the traffic
    assert result["seconds"] < 25, "fails as soon as the ratio is judged, not at the end of the window"
    # from the counts, as the message is (the returned ratio is rounded to 4 places: 16 of 119 is 0.1345, "13.5%",
    # where the message says 13.4%)
    share = errors["canary"]["count"] / errors["canary"]["of"]
    figures = f"5xx ratio {share * 100:.1f}% on the canary ({errors['canary']['count']:g} of "
    assert result["msg"].startswith("canary degraded after") and figures in result["msg"], result["msg"]
    assert canary.metric("ai_cs_http_5xx_total") > 0 and baseline.metric("ai_cs_http_5xx_total") == 0


def test_the_same_release_on_both_sides_passes(start, traffic):
    canary, baseline = start("v1.1.0"), start("v1.1.0")
    traffic((canary, SECRET), (baseline, SECRET))
    result = analyse([canary], [baseline])
    assert not result.get("failed") and result["verdict"] == "pass", result
    assert all(s["judged"] and not s["degraded"] for s in result["signals"])
    # judged over the whole window (8 s), looking again every second: under make test's load a scrape can take
    # longer than the interval (seen: 6 scrapes in 7.6 s), so "several", not "one per second"
    assert 6 <= result["seconds"] <= 15 and result["scrapes"] >= 4, result


def test_a_canary_rejecting_signed_calls_is_degraded_on_rejects(start, traffic):
    """A release given another secret refuses every signed call (403 CS_AUTH_4034): no 5xx, all rejects."""
    canary, baseline = start("v1.1.0", AI_CS_WEBHOOK_SECRET="rotated-elsewhere"), start("v1.1.0")
    traffic((canary, SECRET), (baseline, SECRET))
    result = analyse([canary], [baseline], min_requests=10)
    assert result["verdict"] == "degraded", result
    assert signal(result, "rejects")["degraded"] and not signal(result, "5xx")["degraded"]
    rejects = signal(result, "rejects")
    # every signed call refused; the window's two ends may each cut one call between its two counters (the reject
    # counted, its HTTP response not yet, or the other way round), so count and denominator agree within 2
    assert abs(rejects["canary"]["count"] - rejects["canary"]["of"]) <= 2 and rejects["canary"]["of"] >= 10, rejects
    # the verdict can come at an interim look, before the baseline saw 10 calls of its own
    assert rejects["baseline"]["count"] == 0 and rejects["baseline"]["of"] > 0, rejects


def test_worse_on_both_sides_is_not_the_canarys_fault(start, traffic):
    canary, baseline = start("v1.1.1-fixture.webhook-errors"), start("v1.1.1-fixture.webhook-errors")
    traffic((canary, SECRET), (baseline, SECRET))
    result = analyse([canary], [baseline], confidence=0.999)  # both sides draw a quarter of their webhooks at random
    assert result["verdict"] == "pass", result  # judged against the baseline, not against 0 (at least 5 % > 1 %)
    assert signal(result, "5xx")["canary"]["at_least"] > 0.01
    assert signal(result, "5xx")["baseline"]["count"] > 0


def test_a_canary_that_stops_answering_fails_readiness(start, traffic):
    canary, baseline = start("v1.1.0"), start("v1.1.0")
    traffic((baseline, SECRET))
    threading.Timer(2, canary.stop).start()
    result = analyse([canary], [baseline], window=20)
    # ends at the readiness failure, well before the window (20 s); the margin is for make test's load
    assert result["verdict"] == "degraded" and result["seconds"] < 14, result
    assert "did not answer 2 times in a row" in result["readiness"][0]


def test_no_traffic_ends_at_once_inconclusive_with_a_warning(start):
    canary, baseline = start("v1.1.0"), start("v1.1.0")
    result = analyse([canary], [baseline], window=60)
    assert not result.get("failed") and result["verdict"] == "inconclusive", result
    # at once: long before the window (60 s); the margin is for make test's load
    assert result["seconds"] < 15 and any("inconclusive" in w for w in result.get("warnings", []))
    assert analyse([canary], [baseline], window=3, inconclusive="fail")["failed"]


def test_a_baseline_host_that_does_not_answer_is_left_out_with_a_warning(start, traffic):
    canary, baseline = start("v1.1.0"), start("v1.1.0")
    traffic((canary, SECRET), (baseline, SECRET))
    baseline.stop()
    result = analyse([canary], [baseline], window=4)
    assert f"127.0.0.1:{baseline.port}" in result["baseline_left_out"], result
    assert any("left out" in w for w in result.get("warnings", []))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"canary": []}, "canary is empty"),
        ({"url": "http://127.0.0.1/metrics"}, "has no {host}"),
        ({"window": 0}, "must be > 0"),
        ({"interval": 9, "window": 8}, "interval <= window"),
        ({"min_requests": 0}, "at least 1"),
        ({"confidence": 1}, "below 1"),
    ],
)
def test_bad_arguments_are_refused(extra, message):
    args = {"canary": ["a"], "baseline": ["b"], "url": "http://{host}/metrics", "window": 8, "interval": 1, **extra}
    result = run_module("canary_analysis", args)[0]
    assert result["failed"] and message in result["msg"], result
