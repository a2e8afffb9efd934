#!/usr/bin/python3
"""A recording receiver for Alertmanager's webhooks: the lab's stand-in for a pager.

POST /<receiver>: one Alertmanager notification (webhook payload version 4), appended as one JSON line to
<dir>/notifications.jsonl with the receiver's path and the time it arrived. GET /notifications: all of them, as a
JSON list (GET /notifications?receiver=critical filters). Every request must carry HTTP basic auth as PAGER_USER with
the password given on standard input (anything else is answered 401, so no one on the network can page or read what
paged). Runs on the host's python3, standard library only.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = os.environ.get("PAGER_DIR", "/var/lib/ai-cs-pager")
PORT = int(os.environ.get("PAGER_PORT", "9095"))
MAX_BODY = 1 << 20
LOCK = threading.Lock()
LOG = os.path.join(DIR, "notifications.jsonl")
USER = os.environ.get("PAGER_USER", "ai-cs-pager")


def expected_authorization() -> bytes:
    """The one Authorization header accepted: Basic base64(user:password), the password read from standard input
    (systemd opens the root-only file for the unit: StandardInput=file:)."""
    password = sys.stdin.buffer.read()
    if not password:
        raise SystemExit("ai-cs-pager: no password on standard input")
    return b"Basic " + base64.b64encode(USER.encode() + b":" + password)


AUTHORIZATION = b""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return None

    def _answer(self, code: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _allowed(self) -> bool:
        given = (self.headers.get("Authorization") or "").encode("latin-1", "replace")
        if hmac.compare_digest(given, AUTHORIZATION):
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="ai-cs-pager"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_POST(self) -> None:
        if not self._allowed():
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._answer(400, {"error": "a JSON body of at most 1 MiB is required"})
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self._answer(400, {"error": "not JSON"})
            return
        receiver = urllib.parse.urlsplit(self.path).path.strip("/") or "default"
        record = {"received_at": time.time(), "receiver": receiver, "notification": payload}
        with LOCK, open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, separators=(",", ":")) + "\n")
        alerts = payload.get("alerts", []) if isinstance(payload, dict) else []
        names = ",".join(sorted({a.get("labels", {}).get("alertname", "?") for a in alerts}))
        print(f"{receiver}: {payload.get('status', '?')} {names}", flush=True)  # the journal's line
        self._answer(200, {"recorded": True})

    def do_GET(self) -> None:
        if not self._allowed():
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/notifications":
            self._answer(404, {"error": "GET /notifications"})
            return
        want = urllib.parse.parse_qs(url.query).get("receiver")
        lines: list[str] = []
        with LOCK:
            if os.path.exists(LOG):
                with open(LOG, encoding="utf-8") as log:
                    lines = log.read().splitlines()
        records = [json.loads(line) for line in lines if line]
        self._answer(200, [r for r in records if not want or r["receiver"] in want])


def main() -> int:
    global AUTHORIZATION  # noqa: PLW0603 - read once at start, before the first request
    AUTHORIZATION = expected_authorization()
    os.makedirs(DIR, exist_ok=True)
    ThreadingHTTPServer(("", PORT), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
