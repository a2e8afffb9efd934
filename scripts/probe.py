#!/usr/bin/env python3
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load prober: a fixed request rate against ai-customer-service, every request logged, outages measured.

    scripts/probe.py --url http://127.0.0.1:18081 --rate 50 --duration 60 --webhook-share 0.25 \\
        --secret-file secret.txt --log build/probe.jsonl --summary build/probe.json

Requests start on a fixed schedule (request i at start + i/rate), each on its own connection, whatever the earlier
ones are doing: a stalled server shows as failed or slow requests, never as a client that quietly slowed down.
At most --max-in-flight wait at once; one due beyond that is counted failed ("client: N requests in flight").
The mix: GET --get-path (default /actuator/health) and signed POSTs to the webhook (each with its own
message_id, signed as the runbook's openssl line does), --webhook-share of them, spread without a period (not
every n-th request, which a round robin would send to one server).

Every request is logged (JSON lines): when it started (seconds from the start and UTC), what it was, the HTTP
status or the error, the latency, and the version that answered (the X-AI-CS-Version header, or "version" in a
health body). The summary: counts, failed requests by cause, p50/p99 latency, the versions seen, and the outage
windows (runs of failed requests with no success between them). It stops at --duration or --count, or on SIGINT /
SIGTERM (the summary is still written). Only loopback and private (lab) addresses are probed. The webhook secret
is read from --secret-file or AI_CS_WEBHOOK_SECRET and never printed. Exit: 0 no failed request, 1 some, 2 refused.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import ipaddress
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Any

MAX_RATE = 1000
MAX_DURATION = 3600
WEBHOOK_PATH = "/api/v1/customer-service/webhook"
GOLDEN = (5**0.5 - 1) / 2  # the webhook spread (is_webhook)


def refuse(message: str) -> None:
    print(f"probe.py: refused: {message}", file=sys.stderr)
    sys.exit(2)


def lab_address(host: str) -> str | None:
    """Why `host` may not be probed (None when every address it resolves to is loopback or private)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"{host} does not resolve ({exc})"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not (address.is_loopback or address.is_private):
            return f"{host} is {address}, neither loopback nor a private (lab) address"
    return None


def sign(secret: str, timestamp: str, body: str) -> str:
    """The runbook's `echo -n "${TS}.${BODY}" | openssl dgst -sha256 -hmac "$SECRET"` (module_utils/ai_cs_webhook)."""
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (no interpolation: a value some request really had)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Probe:
    def __init__(self, args: argparse.Namespace, secret: str) -> None:
        url = urllib.parse.urlsplit(args.url)
        self.scheme, self.host, self.port = url.scheme, url.hostname or "", url.port or 80
        self.args, self.secret = args, secret
        self.run_id = uuid.uuid4().hex[:12]
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(args.max_in_flight)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.log = open(args.log, "w", encoding="utf-8") if args.log else None  # noqa: SIM115 - closed in run()

    def is_webhook(self, index: int) -> bool:
        """Request i is a webhook when frac((i+1) * golden ratio) < share: the share holds over any stretch (the
        sequence has low discrepancy) and has no period, so every server behind a round robin gets its part. (An
        even spread, every 4th request, sent every webhook to one server of two.)"""
        return ((index + 1) * GOLDEN) % 1 < self.args.webhook_share

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.records.append(entry)
            if self.log:
                self.log.write(json.dumps(entry, sort_keys=True) + "\n")
                self.log.flush()

    def request(self, index: int, offset: float, webhook: bool) -> None:
        entry: dict[str, Any] = {
            "i": index,
            "t": round(offset, 4),
            "utc": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "kind": "webhook" if webhook else "get",
            "status": None,
            "error": None,
            "version": None,
        }
        started = time.monotonic()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)
        try:
            if webhook:
                body = json.dumps(
                    {
                        "channel": "widget",
                        "message_id": f"probe-{self.run_id}-{index}",
                        "open_id": f"probe-{self.run_id}",
                        "content": "load probe",
                    },
                    separators=(",", ":"),
                )
                stamp = str(int(time.time()))
                headers = {
                    "Content-Type": "application/json",
                    "X-CS-Timestamp": stamp,
                    "X-CS-Signature": sign(self.secret, stamp, body),
                }
                conn.request("POST", WEBHOOK_PATH, body=body.encode(), headers=headers)
            else:
                conn.request("GET", self.args.get_path)
            response = conn.getresponse()
            raw = response.read(65536)
            entry["status"] = response.status
            entry["version"] = response.getheader("X-AI-CS-Version")
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = None
            if isinstance(answer, dict):
                entry["version"] = entry["version"] or answer.get("version")
                if webhook and response.status == 200 and answer.get("status") not in ("accepted", "duplicate"):
                    entry["error"] = f"webhook answered status {answer.get('status')!r}"
                elif isinstance(answer.get("code"), str) and response.status >= 400:
                    entry["error"] = f"HTTP {response.status} {answer['code']}"
            if entry["error"] is None and response.status != 200:
                entry["error"] = f"HTTP {response.status}"
        except TimeoutError:
            entry["error"] = f"timeout after {self.args.timeout:g} s"
        except OSError as exc:
            entry["error"] = {
                ConnectionRefusedError: "connection refused",
                ConnectionResetError: "connection reset",
            }.get(type(exc), f"{type(exc).__name__}: {exc}")
        except http.client.HTTPException as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            conn.close()
            entry["latency_ms"] = round((time.monotonic() - started) * 1000, 2)
            entry["ok"] = entry["error"] is None
            self.record(entry)
            self.slots.release()

    def run(self) -> dict[str, Any]:
        args = self.args
        total = args.count or int(args.rate * args.duration)
        start = time.monotonic()
        started_utc = datetime.now(UTC).isoformat(timespec="seconds")
        index, sent_for = 0, 0.0
        while index < total and not self.stop.is_set():
            due = start + index / args.rate
            if self.stop.wait(max(0.0, due - time.monotonic())):
                break
            webhook = self.is_webhook(index)
            offset = sent_for = time.monotonic() - start
            if self.slots.acquire(blocking=False):
                thread = threading.Thread(target=self.request, args=(index, offset, webhook), daemon=True)
                thread.start()
                self.threads.append(thread)
            else:
                self.record(
                    {
                        "i": index,
                        "t": round(offset, 4),
                        "utc": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        "kind": "webhook" if webhook else "get",
                        "status": None,
                        "error": f"client: {args.max_in_flight} requests in flight",
                        "version": None,
                        "latency_ms": 0.0,
                        "ok": False,
                    }
                )
            index += 1
        # sent_for: when the last request was sent (the last record is the last to finish, not always the last sent)
        for thread in self.threads:
            thread.join(args.timeout + 1)
        if self.log:
            self.log.close()
        return summarise(self.records, args, started_utc, sent_for)


def summarise(records: list[dict[str, Any]], args: argparse.Namespace, started: str, sent_for: float) -> dict[str, Any]:
    ordered = sorted(records, key=lambda r: r["i"])
    failed: dict[str, int] = {}
    versions: dict[str, int] = {}
    windows: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for entry in ordered:
        if entry["ok"]:
            versions[entry["version"] or "?"] = versions.get(entry["version"] or "?", 0) + 1
            current = None
            continue
        failed[entry["error"]] = failed.get(entry["error"], 0) + 1
        if current is None:
            current = {"start": entry["t"], "end": entry["t"], "failed": 0, "causes": {}}
            windows.append(current)
        current["end"] = entry["t"]
        current["failed"] += 1
        current["causes"][entry["error"]] = current["causes"].get(entry["error"], 0) + 1
    for window in windows:
        window["seconds"] = round(window["end"] - window["start"], 3)
    latencies = [r["latency_ms"] for r in ordered if r["status"] is not None]
    return {
        "url": args.url,
        "started": started,
        "seconds": round(sent_for, 3),
        "rate_asked": args.rate,
        # n requests span n - 1 intervals
        "rate_sent": round((len(ordered) - 1) / sent_for, 2) if len(ordered) > 1 and sent_for > 0 else None,
        "requests": len(ordered),
        "ok": sum(1 for r in ordered if r["ok"]),
        "failed": sum(1 for r in ordered if not r["ok"]),
        "webhooks": sum(1 for r in ordered if r["kind"] == "webhook"),
        "failed_by_cause": dict(sorted(failed.items(), key=lambda kv: -kv[1])),
        "latency_ms": {
            "p50": percentile(latencies, 0.50),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies) if latencies else None,
        },
        "versions": versions,
        "outage_windows": windows,
    }


def text(summary: dict[str, Any]) -> str:
    lat = summary["latency_ms"]
    lines = [
        f"probe {summary['url']}: {summary['requests']} requests in {summary['seconds']} s "
        f"({summary['rate_sent']}/s sent, {summary['rate_asked']}/s asked; {summary['webhooks']} signed webhooks)",
        f"  ok {summary['ok']}, failed {summary['failed']}; latency p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
        f"max {lat['max']} ms",
        "  versions that answered: " + (", ".join(f"{v} {n}" for v, n in summary["versions"].items()) or "none"),
    ]
    lines += [f"  failed: {n} x {cause}" for cause, n in summary["failed_by_cause"].items()]
    for window in summary["outage_windows"]:
        causes = ", ".join(f"{n} x {c}" for c, n in window["causes"].items())
        lines.append(f"  outage {window['start']:.2f}-{window['end']:.2f} s ({window['seconds']} s): {causes}")
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:18081", help="base URL (loopback or a lab address)")
    parser.add_argument("--rate", type=float, default=50, help=f"requests per second (<= {MAX_RATE})")
    parser.add_argument("--duration", type=float, default=60, help=f"seconds to run (<= {MAX_DURATION})")
    parser.add_argument("--count", type=int, default=0, help="stop after this many requests instead")
    parser.add_argument("--webhook-share", type=float, default=0.25, help="share of signed webhook POSTs (0..1)")
    parser.add_argument("--get-path", default="/actuator/health", help="path of the GET requests")
    parser.add_argument("--secret-file", help="file holding the webhook secret (else AI_CS_WEBHOOK_SECRET)")
    parser.add_argument("--timeout", type=float, default=5, help="seconds a request may take")
    parser.add_argument("--max-in-flight", type=int, default=200, help="requests waiting at once, at most")
    parser.add_argument("--log", help="write every request here (JSON lines)")
    parser.add_argument("--summary", help="write the summary here (JSON)")
    args = parser.parse_args(argv)
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "http" or not url.hostname or url.path not in ("", "/"):
        refuse(f"--url must be http://HOST[:PORT] (got {args.url!r})")
    if not 0 < args.rate <= MAX_RATE:
        refuse(f"--rate must be above 0 and at most {MAX_RATE} (got {args.rate:g})")
    if not 0 < args.duration <= MAX_DURATION or not 0 <= args.count <= args.rate * MAX_DURATION:
        refuse(f"--duration must be above 0 and at most {MAX_DURATION} s, --count at most rate x {MAX_DURATION}")
    if not 0 <= args.webhook_share <= 1 or args.timeout <= 0 or args.max_in_flight < 1:
        refuse("--webhook-share must be within 0..1, --timeout above 0, --max-in-flight at least 1")
    if not args.get_path.startswith("/"):
        refuse(f"--get-path must start with / (got {args.get_path!r})")
    why = lab_address(url.hostname)
    if why:
        refuse(f"{why}: the prober sends load only to loopback or the lab's own networks")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    secret = ""
    if args.webhook_share > 0:
        if args.secret_file:
            try:
                with open(args.secret_file, encoding="utf-8") as handle:
                    secret = handle.read().rstrip("\n")
            except OSError as exc:
                refuse(f"cannot read --secret-file: {exc.strerror}")
        else:
            secret = os.environ.get("AI_CS_WEBHOOK_SECRET", "")
        if not secret:
            refuse("webhooks need the secret: --secret-file FILE or AI_CS_WEBHOOK_SECRET (or --webhook-share 0)")
    probe = Probe(args, secret)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: probe.stop.set())
    summary = probe.run()
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2, sort_keys=True)
    print(text(summary), flush=True)
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
