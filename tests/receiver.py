"""A webhook receiver on 127.0.0.1 for the notification tests: real HTTP, keeps each POST's path, headers
(lower-cased names) and body, and checks the project's HMAC signature (X-CS-Timestamp, X-CS-Signature)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.got: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.got.append({"path": self.path, "headers": headers, "body": body})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, path: str, secret: str | None = None) -> list[dict]:
        """The JSON bodies posted to this path, in order; with a secret, each signature checked first."""
        found = []
        for got in (g for g in self.got if g["path"] == path):
            if secret is not None:
                signed = f"{got['headers']['x-cs-timestamp']}.{got['body']}".encode()
                want = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
                assert hmac.compare_digest(got["headers"].get("x-cs-signature", ""), want), "bad signature"
            found.append(json.loads(got["body"]))
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (a receiver that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
