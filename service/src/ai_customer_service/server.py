"""HTTP endpoints: /live, /ready, /actuator/health, /metrics and the signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .buildinfo import BuildInfo
from .config import Config
from .logs import Logger
from .metrics import Metrics
from .store import Message, StoreError

WEBHOOK_PATH = "/api/v1/customer-service/webhook"
MAX_BODY = 1 << 20
REJECTS = {
    "CS_AUTH_4031": "missing webhook signature",
    "CS_AUTH_4032": "invalid webhook timestamp",
    "CS_AUTH_4033": "stale webhook request",
    "CS_AUTH_4034": "invalid webhook signature",
}


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """hex HMAC-SHA256(secret, "<timestamp>.<raw body>"), as the runbook's openssl line computes."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class App:
    def __init__(self, config: Config, build: BuildInfo, store: Any, log: Logger) -> None:
        self.config = config
        self.build = build
        self.store = store
        self.log = log
        self.metrics = Metrics()
        self.started = time.time()
        self.draining = threading.Event()
        self.metrics.set("ai_cs_live", 1)
        self.metrics.set("ai_cs_build_info", 1, version=build.version)

    def check(self) -> tuple[dict[str, Any], dict[str, str], bool]:
        """One database round trip; updates the db/ready gauges."""
        db = self.store.health(self.build.schema_version)
        components = {"postgres" if self.store.kind == "postgres" else "store": db["status"]}
        if self.build.fault == "never_ready":
            components["startup"] = "DOWN"
        if self.draining.is_set():
            components["shutdown"] = "DOWN"
        up = all(v == "UP" for v in components.values())
        self.metrics.set("ai_cs_db_up", 1 if db["status"] == "UP" else 0)
        self.metrics.set("ai_cs_ready", 1 if up else 0)
        return db, components, up

    def readiness(self) -> tuple[int, dict[str, Any]]:
        db, components, up = self.check()
        body: dict[str, Any] = {"status": "UP" if up else "DOWN", "components": components}
        if not up and db.get("error"):
            body["error"] = db["error"]
        return (200 if up else 503), body

    def health(self) -> tuple[int, dict[str, Any]]:
        db, _components, up = self.check()
        status = "UP" if up else "DOWN"
        details = {k: v for k, v in db.items() if k != "status"}
        return (200 if up else 503), {
            "status": status,
            "version": self.build.version,
            "components": {
                "db": {"status": db["status"], "details": {"database": self.store.kind, **details}},
                "livenessState": {"status": "UP"},
                "readinessState": {"status": status},
            },
            "uptime_seconds": int(time.time() - self.started),
        }

    def webhook(self, headers: Any, body: bytes, remote: str) -> tuple[int, dict[str, Any]]:
        code = self._authenticate(headers, body)
        if code:
            self.metrics.inc("ai_cs_webhook_rejects_total", code=code)
            self.metrics.inc("ai_cs_webhook_requests_total", result="rejected")
            self.log.warn("webhook rejected", code=code, reason=REJECTS[code], remote=remote)
            try:
                self.store.record_reject(code, remote)
                self.metrics.inc("ai_cs_audit_writes_total", result="ok")
            except StoreError as exc:
                self.metrics.inc("ai_cs_audit_writes_total", result="error")
                self.log.error("audit write failed", error=str(exc))
            return 403, {"code": code, "message": REJECTS[code]}
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
            msg = Message(
                channel=str(payload["channel"]),
                message_id=str(payload["message_id"]),
                open_id=str(payload["open_id"]),
                content=str(payload["content"]),
                sent_at=None if payload.get("timestamp") is None else str(payload["timestamp"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            field = f": missing {exc}" if isinstance(exc, KeyError) else ""
            return 400, {"code": "CS_REQ_4001", "message": f"invalid webhook payload{field}"}
        try:
            result = self.store.accept(msg, remote)
        except StoreError as exc:
            self.metrics.inc("ai_cs_audit_writes_total", result="error")
            self.log.error("webhook store failed", error=str(exc), message_id=msg.message_id)
            return 503, {"code": "CS_SYS_5031", "message": "database unavailable"}
        self.metrics.inc("ai_cs_audit_writes_total", result="ok")
        if result["duplicate"]:
            self.metrics.inc("ai_cs_webhook_requests_total", result="duplicate")
            self.log.info("webhook duplicate", message_id=msg.message_id)
            return 200, {"status": "duplicate", "message_id": msg.message_id, "session_id": result["session_id"]}
        self.metrics.inc("ai_cs_webhook_requests_total", result="accepted")
        if result["ticket_id"] is not None:
            self.metrics.inc("ai_cs_handoffs_total")
            self.metrics.inc("ai_cs_tickets_created_total")
        self.log.info("webhook accepted", message_id=msg.message_id, handoff=result["ticket_id"] is not None)
        return 200, {
            "status": "accepted",
            "message_id": msg.message_id,
            "session_id": result["session_id"],
            "handoff": result["ticket_id"] is not None,
            "ticket_id": result["ticket_id"],
        }

    def _authenticate(self, headers: Any, body: bytes) -> str | None:
        signature = (headers.get("X-CS-Signature") or "").strip()
        if not signature:
            return "CS_AUTH_4031"
        timestamp = (headers.get("X-CS-Timestamp") or "").strip()
        if not timestamp.isdigit():
            return "CS_AUTH_4032"
        if abs(time.time() - int(timestamp)) > self.config.max_skew_seconds:
            return "CS_AUTH_4033"
        secret = self.config.webhook_secret or ""
        if not secret or not hmac.compare_digest(expected_signature(secret, timestamp, body), signature.lower()):
            return "CS_AUTH_4034"
        return None


class Handler(BaseHTTPRequestHandler):
    server_version = "ai-customer-service"
    app: App

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def _send(self, code: int, body: dict[str, Any] | str, content_type: str = "application/json") -> None:
        raw = (body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        route = self.path.split("?", 1)[0]
        self.app.metrics.inc("ai_cs_http_requests_total", route=route, code=str(code))
        if code >= 500:
            self.app.metrics.inc("ai_cs_http_5xx_total")
        self.app.log.debug("http request", method=self.command, path=route, status=code)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/live":
            self._send(200, {"status": "UP"})
        elif path == "/ready":
            self._send(*self.app.readiness())
        elif path == "/actuator/health":
            self._send(*self.app.health())
        elif path == "/metrics":
            self.app.check()  # refresh the db/ready gauges for this scrape
            self._send(200, self.app.metrics.render(), "text/plain; version=0.0.4")
        else:
            self._send(404, {"code": "CS_REQ_4040", "message": "not found"})

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != WEBHOOK_PATH:
            self._send(404, {"code": "CS_REQ_4040", "message": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, {"code": "CS_REQ_4130", "message": "body too large"})
            return
        body = self.rfile.read(length)
        self._send(*self.app.webhook(self.headers, body, self.client_address[0]))


class Server(ThreadingHTTPServer):
    daemon_threads = False  # shutdown waits for requests in flight
    allow_reuse_address = True


def make_server(app: App) -> Server:
    handler = type("BoundHandler", (Handler,), {"app": app})
    return Server((app.config.host, app.config.port), handler)
