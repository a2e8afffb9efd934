"""Prometheus text exposition for the monitoring spec's 8 items and request latency, without a client library (the
release artifact runs on the host's bare python3). monitoring/metrics.yml is the spec; a test holds the two together."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict

HELP = {
    "ai_cs_http_requests_total": ("counter", "HTTP requests by route and status code."),
    "ai_cs_http_5xx_total": ("counter", "HTTP responses with a 5xx status."),
    "ai_cs_webhook_requests_total": ("counter", "Webhook calls by result (accepted, duplicate, rejected)."),
    "ai_cs_webhook_rejects_total": ("counter", "Webhook calls refused, by error code."),
    "ai_cs_webhook_verified_total": ("counter", "Webhook signatures verified, by secret (current, previous)."),
    "ai_cs_handoffs_total": ("counter", "Conversations handed off to a human."),
    "ai_cs_tickets_created_total": ("counter", "Tickets opened."),
    "ai_cs_audit_writes_total": ("counter", "Audit log writes by result (ok, error)."),
    "ai_cs_audit_suppressed_total": ("counter", "Rejected calls not audited: their caller passed the audit bound."),
    "ai_cs_db_up": ("gauge", "1 when PostgreSQL answered the last check."),
    "ai_cs_ready": ("gauge", "1 when /ready last answered UP."),
    "ai_cs_live": ("gauge", "1 while the process serves /live."),
    "ai_cs_build_info": ("gauge", "Build of the running process."),
    "ai_cs_http_request_duration_seconds": ("histogram", "Time to answer an HTTP request, by route."),
}
ROUTES = ("/live", "/ready", "/actuator/health", "/metrics", "/api/v1/customer-service/webhook", "other")
REJECT_CODES = (
    "CS_AUTH_4031",
    "CS_AUTH_4032",
    "CS_AUTH_4033",
    "CS_AUTH_4034",
    "CS_REQ_4002",
    "CS_REQ_4110",
    "CS_REQ_4130",
)
# Every labelled counter starts at 0 for each value its labels may take (monitoring/metrics.yml), as Prometheus
# advises: a series born at its first event, with that event already counted, is lost to increase() and rate() (seen:
# 60 refusals right after a restart, increase() 1, no alert). The status code is a pattern there; the 5xx this
# service answers (500 CS_SYS_5000, 503 CS_SYS_5031/5032) are the ones the error-ratio alert counts.
INITIAL = {
    "ai_cs_http_requests_total": {"route": ROUTES, "code": ("500", "503")},
    "ai_cs_webhook_requests_total": {"result": ("accepted", "duplicate", "rejected")},
    "ai_cs_webhook_rejects_total": {"code": REJECT_CODES},
    "ai_cs_webhook_verified_total": {"secret": ("current", "previous")},
    "ai_cs_audit_writes_total": {"result": ("ok", "error")},
    "ai_cs_audit_suppressed_total": {"code": REJECT_CODES},
}
# Latency buckets (seconds): the latency alert's 0.5 s threshold and the webhook's p99 target sit on bucket bounds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        for name, labels in INITIAL.items():
            for values in itertools.product(*labels.values()):
                self._values[name][tuple(sorted(zip(labels, values, strict=True)))] = 0.0

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        """One observation into histogram `name`: cumulative buckets, _sum and _count, as the exposition format has."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            for bound in BUCKETS:
                if value <= bound:
                    bucket = (*key, ("le", f"{bound:g}"))
                    series[bucket] = series.get(bucket, 0) + 1
            for suffix, amount in (("+Inf", 1.0), ("_sum", value), ("_count", 1.0)):
                series[(*key, ("le", suffix))] = series.get((*key, ("le", suffix)), 0) + amount

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, (kind, text) in HELP.items():
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                if kind == "histogram":
                    lines += self._histogram(name)
                    continue
                series = self._values.get(name) or ({(): 0.0} if not name.endswith("_info") else {})
                for labels, value in sorted(series.items()):
                    lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"

    def _histogram(self, name: str) -> list[str]:
        """Each label set's buckets in increasing `le`, then its _sum and _count (called with the lock held)."""
        by_key: dict[tuple[tuple[str, str], ...], dict[str, float]] = defaultdict(dict)
        for labels, value in self._values.get(name, {}).items():
            *key, (_, le) = labels
            by_key[tuple(key)][le] = value
        lines: list[str] = []
        for key, values in sorted(by_key.items()):
            for bound in (*(f"{b:g}" for b in BUCKETS), "+Inf"):
                lines.append(f"{name}_bucket{_labels((*key, ('le', bound)))} {values.get(bound, 0):g}")
            lines.append(f"{name}_sum{_labels(key)} {values.get('_sum', 0):.6g}")
            lines.append(f"{name}_count{_labels(key)} {values.get('_count', 0):g}")
        return lines
