"""The project's load prober (scripts/probe.py) against the real service: counts, versions, outages, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pgcluster import free_port
from svc import SECRET, count, prod_env

PROBE = Path(__file__).resolve().parents[2] / "scripts" / "probe.py"


def probe(*args: str, secret: str = SECRET, wait: bool = True, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [sys.executable, str(PROBE), *args]
    env = {"AI_CS_WEBHOOK_SECRET": secret, "PATH": "/usr/bin:/bin"}
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False, **kw)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def at(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["utc"])


def test_every_request_is_logged_and_a_healthy_service_fails_none(service, pg, tmp_path):
    log, summary = tmp_path / "probe.jsonl", tmp_path / "probe.json"
    done = probe("--url", service.base, "--rate", "40", "--count", "80", "--webhook-share", "0.25",
                 "--log", str(log), "--summary", str(summary))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(summary.read_text())
    assert (result["requests"], result["ok"], result["failed"], result["webhooks"]) == (80, 80, 0, 20)
    assert result["versions"] == {"v1.1.0": 80}, "every answer names its release, webhooks too"
    assert result["outage_windows"] == [] and result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert 1.5 <= result["seconds"] <= 4, "80 requests at 40/s are sent over 2 s, not as fast as possible"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 80 and {e["kind"] for e in lines} == {"get", "webhook"}
    assert all(e["status"] == 200 and e["latency_ms"] > 0 and e["utc"] for e in lines)
    stored = count(pg, service.db, "SELECT count(*) FROM cs_messages WHERE message_id LIKE %s", "probe-%")
    assert stored == 20, "each signed webhook was accepted and stored once"
    assert "ok 80, failed 0" in done.stdout


def test_an_outage_is_measured_as_one_window_with_its_cause(start, pg, migrated, tmp_path):
    port = free_port()
    summary, log = tmp_path / "probe.json", tmp_path / "probe.jsonl"
    running = probe("--url", f"http://127.0.0.1:{port}", "--rate", "40", "--duration", "4",
                    "--summary", str(summary), "--log", str(log), wait=False)  # fmt: skip
    time.sleep(1.5)  # nothing listens yet: every request is refused
    began = datetime.now(UTC)
    start("v1.1.0", prod_env(pg, migrated(2)), port=port)
    ready = datetime.now(UTC)
    out, err = running.communicate(timeout=30)
    assert running.returncode == 1, out + err
    result = json.loads(summary.read_text())
    assert len(result["outage_windows"]) == 1, result["outage_windows"]
    window = result["outage_windows"][0]
    # the window is the real outage, measured on the prober's own clock (it may take a while to start under load)
    sent = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda e: e["i"])
    refused, served = [e for e in sent if not e["ok"]], [e for e in sent if e["ok"]]
    assert window["start"] == sent[0]["t"] < 0.1 and window["end"] == refused[-1]["t"]
    assert at(refused[-1]) <= ready and at(served[0]) >= began - timedelta(milliseconds=1)
    assert window["end"] >= (began - at(sent[0])).total_seconds() - 0.5, "refused until the service was started"
    assert set(window["causes"]) == {"connection refused"} and window["failed"] == result["failed"]
    assert result["ok"] > 0 and result["ok"] + result["failed"] == result["requests"] == 160
    # the window as printed starts where the JSON's does (the first request, 0.00 s or, under load, a little later)
    assert f"failed: {result['failed']} x connection refused" in out and f"outage {window['start']:.2f}-" in out


def test_a_stop_signal_ends_the_run_with_its_summary(service, tmp_path):
    summary = tmp_path / "probe.json"
    running = probe("--url", service.base, "--rate", "20", "--duration", "60", "--webhook-share", "0",
                    "--summary", str(summary), wait=False)  # fmt: skip
    time.sleep(1.5)
    running.terminate()
    out, _ = running.communicate(timeout=15)
    result = json.loads(summary.read_text())
    assert running.returncode == 0 and 10 <= result["requests"] <= 60 and result["failed"] == 0, out


def test_what_it_refuses_and_that_the_secret_never_shows(service, tmp_path):
    nasty = "p/a+s=s:w@o%rd"
    for args, said in [
        (["--url", "http://8.8.8.8:80"], "neither loopback nor a private (lab) address"),
        (["--url", "https://127.0.0.1"], "--url must be http://HOST[:PORT]"),
        (["--rate", "0"], "--rate must be above 0"),
        (["--duration", "7200"], "--duration must be above 0 and at most 3600"),
    ]:
        refused = probe(*args, secret=nasty)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
    no_secret = probe("--url", service.base, "--count", "2", secret="")
    assert no_secret.returncode == 2 and "webhooks need the secret" in no_secret.stderr
    log = tmp_path / "probe.jsonl"
    wrong = probe("--url", service.base, "--count", "4", "--webhook-share", "1", "--log", str(log), secret=nasty)
    assert wrong.returncode == 1 and "4 x HTTP 403 CS_AUTH_4034" in wrong.stdout, wrong.stdout
    for shown in (wrong.stdout, wrong.stderr, log.read_text()):
        assert nasty not in shown and "p%2Fa" not in shown
