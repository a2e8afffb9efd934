"""Prometheus text exposition for the monitoring spec's 8 items, without a client library."""

from __future__ import annotations

import threading
from collections import defaultdict

HELP = {
    "ai_cs_http_requests_total": ("counter", "HTTP requests by route and status code."),
    "ai_cs_http_5xx_total": ("counter", "HTTP responses with a 5xx status."),
    "ai_cs_webhook_requests_total": ("counter", "Webhook calls by result (accepted, duplicate, rejected)."),
    "ai_cs_webhook_rejects_total": ("counter", "Webhook calls refused, by error code."),
    "ai_cs_handoffs_total": ("counter", "Conversations handed off to a human."),
    "ai_cs_tickets_created_total": ("counter", "Tickets opened."),
    "ai_cs_audit_writes_total": ("counter", "Audit log writes by result (ok, error)."),
    "ai_cs_audit_suppressed_total": ("counter", "Rejected calls not audited: their caller passed the audit bound."),
    "ai_cs_db_up": ("gauge", "1 when PostgreSQL answered the last check."),
    "ai_cs_ready": ("gauge", "1 when /ready last answered UP."),
    "ai_cs_live": ("gauge", "1 while the process serves /live."),
    "ai_cs_build_info": ("gauge", "Build of the running process."),
}


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] = value

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, (kind, text) in HELP.items():
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                series = self._values.get(name) or ({(): 0.0} if not name.endswith("_info") else {})
                for labels, value in sorted(series.items()):
                    lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"
