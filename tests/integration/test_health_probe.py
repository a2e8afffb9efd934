"""health_probe through Ansible against a real HTTP server with scripted behaviour."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from ansible_run import run_module


class Scripted(BaseHTTPRequestHandler):
    script: ClassVar[dict] = {}
    hits: ClassVar[dict] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        n = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        behaviour = self.script.get(self.path, lambda n: (404, {}))
        code, body, *delay = behaviour(n)
        if delay:
            time.sleep(delay[0])
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def server():
    handler = type("H", (Scripted,), {"script": {}, "hits": {}})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()


UP = {"status": "UP", "components": {"postgres": "UP"}, "version": "v1.1.0"}
DOWN = {"status": "DOWN", "components": {"postgres": "DOWN"}}


def probe(server, endpoints, **extra):
    return run_module("health_probe", {"base_url": server.base, "endpoints": endpoints, "interval": 0.2, **extra})[0]


def test_flaky_then_healthy(server):
    server.RequestHandlerClass.script["/ready"] = lambda n: (503, DOWN) if n <= 3 else (200, UP)
    result = probe(server, [{"path": "/ready", "json": {"status": "UP", "components.postgres": "UP"}}], timeout=20)
    assert not result.get("failed"), result
    ready = result["endpoints"]["/ready"]
    assert ready["healthy"] and ready["attempts"] == 4 and ready["status"] == 200
    assert ready["time_to_healthy"] > 0.5 and ready["latency_ms"] >= 0
    assert result["changed"] is False


def test_never_healthy_names_endpoint_expected_and_last_body(server):
    server.RequestHandlerClass.script["/ready"] = lambda n: (503, DOWN)
    result = probe(server, [{"path": "/ready"}], timeout=2)
    assert result["failed"]
    assert "/ready (" + server.base + "/ready): expected HTTP [200], got 503" in result["msg"]
    assert "'postgres': 'DOWN'" in result["msg"]
    assert result["endpoints"]["/ready"]["attempts"] >= 3


def test_wrong_version(server):
    server.RequestHandlerClass.script["/actuator/health"] = lambda n: (200, {**UP, "version": "v1.0.0"})
    result = probe(server, [{"path": "/actuator/health", "version": "v1.1.0"}], timeout=1)
    assert result["failed"] and "expected version 'v1.1.0' at version, got 'v1.0.0'" in result["msg"]


def test_slow_beyond_the_request_timeout(server):
    server.RequestHandlerClass.script["/live"] = lambda n: (200, UP, 3)
    started = time.monotonic()
    result = probe(server, [{"path": "/live"}], timeout=2, request_timeout=0.5)
    assert result["failed"] and "got no answer" in result["msg"]
    assert time.monotonic() - started < 15


def test_several_endpoints_all_checked(server):
    server.RequestHandlerClass.script.update(
        {"/live": lambda n: (200, {"status": "UP"}), "/ready": lambda n: (200, UP)}
    )
    result = probe(server, [{"path": "/live"}, {"path": "/ready", "json": {"status": "UP"}}], timeout=5)
    assert result["healthy"] and set(result["endpoints"]) == {"/live", "/ready"}


def test_nothing_listening(server):
    result = run_module("health_probe", {"endpoints": [{"url": "http://127.0.0.1:9/ready"}], "timeout": 0})[0]
    assert result["failed"] and "got no answer" in result["msg"]


def test_timeout_zero_is_one_attempt_with_the_whole_request_timeout(server):
    server.RequestHandlerClass.script["/ready"] = lambda n: (503, DOWN, 0.4)  # slower than any 0.1 s cut-off
    result = probe(server, [{"path": "/ready", "json": {"status": "UP"}}], timeout=0, request_timeout=3)
    ready = result["endpoints"]["/ready"]
    assert result["failed"] and ready["attempts"] == 1 and ready["status"] == 503 and ready["latency_ms"] >= 400


def test_server_clock_from_the_date_header(server):
    """A server whose clock is 10 minutes behind: server_time - probed_at shows it (what diagnose reads)."""
    server.RequestHandlerClass.date_time_string = lambda self, timestamp=None: BaseHTTPRequestHandler.date_time_string(
        self, time.time() - 600
    )
    server.RequestHandlerClass.script["/live"] = lambda n: (200, {"status": "UP"})
    live = probe(server, [{"path": "/live"}], timeout=0)["endpoints"]["/live"]
    assert -602 <= live["server_time"] - live["probed_at"] <= -598
    assert abs(live["probed_at"] - time.time()) < 30
