"""HTTP endpoints: /live, /ready, /actuator/health, /metrics and the signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import socket
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
# Set by the load balancer's public front end (and removed from what clients send): answers there carry no internals.
EXPOSURE_HEADER = "X-AI-CS-Exposure"
MAX_BODY = 1 << 20
# The whole request (request line, headers and body) must arrive within this, however the bytes trickle: a socket
# timeout alone restarts at every recv, so a client sending a byte every few seconds held its thread (and, when the
# body was read inside a slot, one of the webhook slots) for ever.
REQUEST_DEADLINE_SECONDS = 10
WRITE_TIMEOUT_SECONDS = 10  # an answer the client does not read is dropped after this
MAX_IN_FLIGHT = 64  # webhook calls served at once; beyond it the service answers 503 at once instead of queueing
# /ready, /actuator/health and /metrics answered at once: a bound of their own, so they never wait behind webhook
# calls (nor webhooks behind them). /live takes none: it is the process's own sign of life and costs nothing.
MAX_PROBES_IN_FLIGHT = 32
REJECTS = {
    "CS_AUTH_4031": "missing webhook signature",
    "CS_AUTH_4032": "invalid webhook timestamp",
    "CS_AUTH_4033": "stale webhook request",
    "CS_AUTH_4034": "invalid webhook signature",
}
# Requests refused before authentication: status, code, message.
BAD_REQUESTS = {
    "CS_REQ_4002": (400, "invalid Content-Length"),
    "CS_REQ_4110": (411, "Content-Length required (chunked bodies are not accepted)"),
    "CS_REQ_4130": (413, "body too large"),
}
# ASCII digits only, and few of them: unicode digits ("²") and huge numbers are malformed, not errors.
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
# What a client that goes away mid-request causes: not the service's error.
CLIENT_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, TimeoutError, socket.timeout)


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """hex HMAC-SHA256(secret, "<timestamp>.<raw body>"), as the runbook's openssl line computes."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _quarter(message_id: str) -> bool:
    """A quarter of message ids, always the same ones (the webhook_errors fixture's share)."""
    return hashlib.sha256(message_id.encode()).digest()[0] < 64


class AuditLimit:
    """How many audit rows anonymous callers can make the service write: per caller address, at most burst rows per
    window, and at most fleet_burst rows per window from all of them; beyond it the calls are only counted
    (ai_cs_audit_suppressed_total), so a flood of unsigned calls cannot become a flood of database writes."""

    def __init__(self, burst: int = 10, fleet_burst: int = 100, window: float = 60.0) -> None:
        self.burst, self.fleet_burst, self.window = burst, fleet_burst, window
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._per_remote: dict[str, int] = {}
        self._total = 0

    def allow(self, remote: str) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._started >= self.window:
                self._started, self._per_remote, self._total = now, {}, 0
            used = self._per_remote.get(remote, 0)
            if used >= self.burst or self._total >= self.fleet_burst:
                return False
            self._per_remote[remote] = used + 1
            self._total += 1
            return True


class App:
    def __init__(self, config: Config, build: BuildInfo, store: Any, log: Logger) -> None:
        self.config = config
        self.build = build
        self.store = store
        self.log = log
        self.metrics = Metrics()
        self.started = time.time()
        self.draining = threading.Event()
        self.audit_limit = AuditLimit()
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

    def readiness(self, public: bool = False) -> tuple[int, dict[str, Any]]:
        """/ready: UP or DOWN with each component's state; the database's error text too, unless the request came
        through the public front end (its X-AI-CS-Exposure header), where a DOWN says only its code."""
        db, components, up = self.check()
        if public:
            return (200, {"status": "UP"}) if up else (503, {"status": "DOWN", "code": "CS_SYS_5031"})
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

    def reject(self, status: int, code: str, message: str, remote: str) -> tuple[int, dict[str, Any]]:
        """A webhook call refused before it was authenticated: counted, logged and audited (the audit bounded)."""
        self.metrics.inc("ai_cs_webhook_rejects_total", code=code)
        self.metrics.inc("ai_cs_webhook_requests_total", result="rejected")
        if self.audit_limit.allow(remote):
            self.log.warn("webhook rejected", code=code, reason=message, remote=remote)
            try:
                self.store.record_reject(code, remote)
                self.metrics.inc("ai_cs_audit_writes_total", result="ok")
            except StoreError as exc:
                self.metrics.inc("ai_cs_audit_writes_total", result="error")
                self.log.error("audit write failed", error=str(exc))
        else:
            self.metrics.inc("ai_cs_audit_suppressed_total", code=code)
        return status, {"code": code, "message": message}

    def webhook(self, headers: Any, body: bytes, remote: str) -> tuple[int, dict[str, Any]]:
        code = self._authenticate(headers, body)
        if code:
            return self.reject(403, code, REJECTS[code], remote)
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
        if self.build.fault == "webhook_errors" and msg.channel == "widget" and _quarter(msg.message_id):
            # a bug that verify's smoke webhook (its own channel) does not hit: _guarded answers 500 CS_SYS_5000
            raise RuntimeError("fixture fault: a quarter of the widget channel's webhooks fail")
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
        if self.build.fault == "any_signature":
            return None  # fixture: a release that takes any signature, at any time (verification must catch it)
        timestamp = (headers.get("X-CS-Timestamp") or "").strip()
        if not TIMESTAMP.fullmatch(timestamp):
            return "CS_AUTH_4032"
        if abs(int(time.time()) - int(timestamp)) > self.config.max_skew_seconds:
            return "CS_AUTH_4033"
        # the current secret, then (during a rotation window only) the one the upstream signed with before
        candidates = [("current", self.config.webhook_secret)]
        if time.time() < self.config.webhook_secret_previous_until:
            candidates.append(("previous", self.config.webhook_secret_previous))
        well_formed = SIGNATURE.fullmatch(signature) is not None
        for which, secret in candidates if well_formed else ():
            if secret and hmac.compare_digest(expected_signature(secret, timestamp, body), signature.lower()):
                self.metrics.inc("ai_cs_webhook_verified_total", secret=which)
                return None
        return "CS_AUTH_4034"


class DeadlineReader(io.RawIOBase):
    """The connection's reads, each given only the time left until the request's deadline (handler.deadline)."""

    def __init__(self, sock: socket.socket, handler: Handler) -> None:
        super().__init__()
        self._sock, self._handler = sock, handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._handler.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive within its deadline")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class Handler(BaseHTTPRequestHandler):
    server_version = "ai-customer-service"
    timeout = REQUEST_DEADLINE_SECONDS  # until the first read sets the deadline's own timeout
    app: App
    server: Server
    _began = 0.0  # when the request line was read (do_GET/do_POST), for the latency histogram
    deadline = 0.0  # when the request being read must have arrived whole (monotonic)

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the stock reader: its reads would each get the full timeout again
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, self))

    def handle_one_request(self) -> None:
        # waiting for the next request on a kept-alive connection counts too: an idle one is closed after it
        self.deadline = time.monotonic() + REQUEST_DEADLINE_SECONDS
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def _send(self, code: int, body: dict[str, Any] | str, content_type: str = "application/json") -> None:
        raw = (body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))).encode()
        self.connection.settimeout(WRITE_TIMEOUT_SECONDS)  # the reads left it at what remained of the deadline
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        # which release answered, for load probes and operators on the internal network (the public frontend drops it)
        self.send_header("X-AI-CS-Version", self.app.build.version)
        if self.app.draining.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(raw)
        route = self._route()
        self.app.metrics.inc("ai_cs_http_requests_total", route=route, code=str(code))
        self.app.metrics.observe("ai_cs_http_request_duration_seconds", time.monotonic() - self._began, route=route)
        if code >= 500:
            self.app.metrics.inc("ai_cs_http_5xx_total")
        self.app.log.debug("http request", method=self.command, path=self.path.split("?", 1)[0], status=code)

    def _route(self) -> str:
        """The route label: a known path, or "other" (a raw path would make a new series per random URL)."""
        path = self.path.split("?", 1)[0]
        return path if path in ROUTES else "other"

    def _guarded(self, serve: Any, slots: threading.BoundedSemaphore | None) -> None:
        """Serve one request within its in-flight bound (none for /live); an unexpected error is a JSON 500,
        logged once."""
        if slots is not None and not slots.acquire(blocking=False):
            self._send(503, {"code": "CS_SYS_5032", "message": "too many requests in flight"})
            return
        try:
            serve()
        except CLIENT_GONE:
            self.close_connection = True
        except Exception as exc:  # the last resort: never a traceback instead of an answer
            self.app.log.error("request failed", error=type(exc).__name__, path=self.path.split("?", 1)[0])
            self._send(500, {"code": "CS_SYS_5000", "message": "internal error"})
        finally:
            if slots is not None:
                slots.release()

    def do_GET(self) -> None:
        self._began = time.monotonic()
        path = self.path.split("?", 1)[0]
        self._guarded(self._get, None if path == "/live" else self.server.probe_slots)

    def do_POST(self) -> None:
        self._began = time.monotonic()
        remote = self.app.config.client(self.client_address[0], self.headers.get("X-Forwarded-For"))
        if self.path.split("?", 1)[0] != WEBHOOK_PATH:
            self.close_connection = True  # the body, if any, is not read
            self._guarded(lambda: self._send(404, {"code": "CS_REQ_4040", "message": "not found"}), None)
            return
        length, refused = self._content_length()
        if refused:
            status, message = BAD_REQUESTS[refused]
            self.close_connection = True  # the body, if any, is not read
            self._guarded(lambda: self._send(*self.app.reject(status, refused, message, remote)), self.server.slots)
            return
        # The body is read before a slot is taken, within the request's deadline: a client trickling it holds its own
        # thread for at most the deadline, never one of the slots that the calls which did arrive are served in.
        try:
            body = self.rfile.read(length)
        except CLIENT_GONE:
            body = b""
        if len(body) < length:  # the client went away (or ran out of time) before sending it all
            self.close_connection = True
            return
        self._guarded(lambda: self._send(*self.app.webhook(self.headers, body, remote)), self.server.slots)

    def _get(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/live":
            self._send(200, {"status": "UP"})
        elif path == "/ready":
            self._send(*self.app.readiness(public=self.headers.get(EXPOSURE_HEADER, "") == "public"))
        elif path == "/actuator/health":
            self._send(*self.app.health())
        elif path == "/metrics":
            self.app.check()  # refresh the db/ready gauges for this scrape
            self._send(200, self.app.metrics.render(), "text/plain; version=0.0.4")
        else:
            self._send(404, {"code": "CS_REQ_4040", "message": "not found"})

    def _content_length(self) -> tuple[int, str | None]:
        """The body's length, or the code refusing it: absent or chunked, not a plain number, or too large."""
        if self.headers.get("Transfer-Encoding"):
            return 0, "CS_REQ_4110"
        raw = self.headers.get("Content-Length")
        if raw is None:
            return 0, "CS_REQ_4110"
        raw = raw.strip()
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
            return 0, "CS_REQ_4130" if raw.isascii() and raw.isdigit() else "CS_REQ_4002"
        length = int(raw)
        return (0, "CS_REQ_4130") if length > MAX_BODY else (length, None)


ROUTES = frozenset({"/live", "/ready", "/actuator/health", "/metrics", WEBHOOK_PATH})


class Server(ThreadingHTTPServer):
    daemon_threads = True  # stop() waits for the requests in flight itself, with a bound
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog (socketserver's 5 drops connections under a burst)

    def __init__(self, address: tuple[str, int], handler: type[Handler], log: Logger) -> None:
        super().__init__(address, handler)
        self.log = log
        self.slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self.probe_slots = threading.BoundedSemaphore(MAX_PROBES_IN_FLIGHT)
        self._in_flight: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        self.stopped = threading.Event()  # set when stop() has finished waiting

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._threads_lock:
            self._in_flight.add(threading.current_thread())
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._threads_lock:
                self._in_flight.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that closed early (haproxy's health checks do) is not an error; anything else is one line."""
        import sys  # noqa: PLC0415 - only on this rare path

        exc = sys.exc_info()[1]
        if isinstance(exc, CLIENT_GONE):
            return
        self.log.error("connection failed", error=type(exc).__name__, client=client_address[0])

    def stop(self, timeout: float) -> int:
        """Stop accepting, close the listening socket, then wait up to timeout for the requests in flight.
        Returns how many were still in flight when the time was up."""
        self.shutdown()
        self.socket.close()
        deadline = time.monotonic() + timeout
        while True:
            with self._threads_lock:
                busy = [t for t in self._in_flight if t.is_alive()]
            if not busy or time.monotonic() >= deadline:
                self.stopped.set()
                return len(busy)
            busy[0].join(max(0.0, min(0.2, deadline - time.monotonic())))


def make_server(app: App) -> Server:
    handler = type("BoundHandler", (Handler,), {"app": app})
    return Server((app.config.host, app.config.port), handler, app.log)
