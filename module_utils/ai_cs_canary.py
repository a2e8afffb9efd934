# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary analysis, the pure part: the service's Prometheus text read into counters, their increase over a window
(a counter that went down is a restarted process, as Prometheus' increase() takes it), and the judgement of the
switched hosts (canary) against the hosts not yet switched (baseline).

Signals, each a ratio over the window's increase, judged only once the canary saw min_requests of its denominator:
  5xx:     responses >= 500 / responses, every route but the probes' (ai_cs_http_requests_total{route,code});
  rejects: webhook calls refused / webhook calls (ai_cs_webhook_requests_total{result="rejected"} over the webhook
           route's ai_cs_http_requests_total), a release that no longer accepts signed calls;
  ready:   ai_cs_ready at every scrape, and every scrape answered (a canary that restarts or stops answering).
A ratio degrades when it exceeds the baseline's by more than its allowed increase (absolute, 0.01 = 1 point) with
the given confidence: the lower end of the difference's confidence interval, not the raw difference, is what must
exceed it (1 error in 50 requests is not a 1-point rise). Both sides are samples, so the interval is Newcombe's
hybrid score interval (each side's Wilson interval, combined): judging the canary's bound against the baseline's raw
ratio took a baseline that drew few errors by chance for the truth, and failed about one canary in twenty of the
very release the baseline serves when both sides had the same (non-zero) error rate. Looks before the window's end
(which stop early) need 99.9 % confidence, as Haybittle-Peto interim analyses do, so that looking often does not
multiply false alarms."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

WEBHOOK_ROUTE = "/api/v1/customer-service/webhook"
PROBE_ROUTES = ("/metrics", "/ready", "/live")  # scrapes, load balancer checks and liveness probes: not traffic

_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')

Series = tuple[str, tuple[tuple[str, str], ...]]


def parse(text: str) -> dict[Series, float]:
    """Prometheus text exposition (0.0.4) to {(name, sorted labels): value}; comments and malformed lines skipped."""
    samples: dict[Series, float] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        name, labels, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            continue
        samples[(name, tuple(sorted(_LABEL.findall(labels or ""))))] = value
    return samples


@dataclass
class Watch:
    """One host's counters over the window: the increase of each series, summed scrape to scrape."""

    last: dict[Series, float] | None = None
    increase: dict[Series, float] = field(default_factory=dict)
    scrapes: int = 0
    failed_scrapes: int = 0
    failed_in_a_row: int = 0
    restarts: int = 0
    not_ready: int = 0
    last_error: str | None = None

    def add(self, samples: dict[Series, float] | None, error: str | None = None) -> None:
        if samples is None:
            self.failed_scrapes += 1
            self.failed_in_a_row += 1
            self.last_error = error
            return
        self.failed_in_a_row = 0
        self.scrapes += 1
        if samples.get(("ai_cs_ready", ()), 1) < 1:
            self.not_ready += 1
        if self.last is not None:
            restarted = False
            for key, value in samples.items():
                if not key[0].endswith("_total"):
                    continue
                before = self.last.get(key, 0.0)
                if value < before:
                    restarted = True
                step = value if value < before else value - before
                self.increase[key] = self.increase.get(key, 0.0) + step
            self.restarts += restarted
        self.last = samples


@dataclass
class Counts:
    requests: float = 0
    errors: float = 0
    webhooks: float = 0
    rejects: float = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[float, float, float, float]:
        return (self.requests, self.errors, self.webhooks, self.rejects)


def counts(increase: dict[Series, float], exclude_routes: tuple[str, ...] | list[str] = PROBE_ROUTES) -> Counts:
    c = Counts()
    for (name, labels), value in increase.items():
        label = dict(labels)
        if name == "ai_cs_http_requests_total" and label.get("route") not in exclude_routes:
            c.requests += value
            if label.get("code", "").startswith("5"):
                c.errors += value
            if label.get("route") == WEBHOOK_ROUTE:
                c.webhooks += value
        elif name == "ai_cs_webhook_requests_total" and label.get("result") == "rejected":
            c.rejects += value
    return c


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _points(x: float) -> str:
    return f"{x * 100:.1f} point" + ("" if round(x * 100, 1) == 1 else "s")


@dataclass
class Limits:
    min_requests: int = 50
    max_5xx_increase: float = 0.01
    max_reject_increase: float = 0.05
    confidence: float = 0.95


INTERIM_CONFIDENCE = 0.999


def z_score(confidence: float) -> float:
    """One-sided: the standard normal quantile of the confidence (0.95 -> 1.645)."""
    from statistics import NormalDist  # noqa: PLC0415 - only the judgement needs it

    return NormalDist().inv_cdf(confidence)


def wilson(count: float, of: float, z: float) -> tuple[float, float]:
    """Wilson score interval (lower, upper) for count successes in `of` trials ((0, 1) when of is 0)."""
    if of <= 0:
        return 0.0, 1.0
    p = count / of
    centre = p + z * z / (2 * of)
    spread = z * math.sqrt(p * (1 - p) / of + z * z / (4 * of * of))
    scale = 1 + z * z / of
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def rise_lower_bound(c_num: float, c_den: float, b_num: float, b_den: float, z: float) -> float:
    """Lower end of (canary ratio - baseline ratio): Newcombe's hybrid score interval (1998, method 10), each side's
    Wilson interval combined. A baseline with no requests counts as exactly 0 (there is nothing else to go by)."""
    c_ratio, b_ratio = _ratio(c_num, c_den), _ratio(b_num, b_den)
    c_low = wilson(c_num, c_den, z)[0]
    b_high = wilson(b_num, b_den, z)[1] if b_den > 0 else b_ratio
    return c_ratio - b_ratio - math.sqrt((c_ratio - c_low) ** 2 + (b_high - b_ratio) ** 2)


def judge(canary: Counts, baseline: Counts | None, limits: Limits, final: bool = True) -> list[dict[str, Any]]:
    """One entry per ratio signal: the figures on both sides, whether it could be judged, whether it degraded.
    final is the window's end (limits.confidence); before it, a look needs INTERIM_CONFIDENCE."""
    confidence = limits.confidence if final else max(limits.confidence, INTERIM_CONFIDENCE)
    z = z_score(confidence)
    signals = []
    for name, what, num, den, allowed in (
        ("5xx", "5xx ratio", "errors", "requests", limits.max_5xx_increase),
        ("rejects", "webhook reject ratio", "rejects", "webhooks", limits.max_reject_increase),
    ):
        c_num, c_den = getattr(canary, num), getattr(canary, den)
        b_num, b_den = (getattr(baseline, num), getattr(baseline, den)) if baseline else (0.0, 0.0)
        c_ratio, b_ratio = _ratio(c_num, c_den), _ratio(b_num, b_den)
        judged = c_den >= limits.min_requests
        c_low = wilson(c_num, c_den, z)[0]
        rise = max(0.0, rise_lower_bound(c_num, c_den, b_num, b_den, z))
        degraded = judged and rise > allowed
        base = f"{_pct(b_ratio)} on the hosts not yet switched ({b_num:g} of {b_den:g})" if baseline else "no baseline"
        signals.append(
            {
                "signal": name,
                "canary": {"count": c_num, "of": c_den, "ratio": round(c_ratio, 4), "at_least": round(c_low, 4)},
                "baseline": {"count": b_num, "of": b_den, "ratio": round(b_ratio, 4)} if baseline else None,
                "rise_at_least": round(rise, 4),
                "allowed_increase": allowed,
                "judged": judged,
                "degraded": degraded,
                "confidence": confidence,
                "text": f"{what} {_pct(c_ratio)} on the canary ({c_num:g} of {c_den:g}) vs {base}: higher by at least "
                f"{_points(rise)} at {confidence * 100:g}% confidence; allowed: {_points(allowed)}",
            }
        )
    return signals


def readiness(name: str, watch: Watch, fail_after: int = 2) -> str | None:
    """Why a canary host fails readiness, or None: not ready at a scrape, restarted, or no answer fail_after times."""
    if watch.not_ready:
        return f"{name} reported ai_cs_ready 0 at {watch.not_ready} of {watch.scrapes} scrape(s)"
    if watch.restarts:
        return f"{name} restarted during the window (its counters went back to 0)"
    if watch.failed_in_a_row >= fail_after:
        return f"{name}'s /metrics did not answer {watch.failed_in_a_row} times in a row: {watch.last_error}"
    return None
