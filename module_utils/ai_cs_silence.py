# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run's silence on Alertmanager (API v2): asked for once the run knows which hosts it switches, lifted where it
ends, finish or stop. The rules are plain functions (unit-tested); Alertmanager is one small client over
ai_cs_http.exchange (TLS checked, basic auth sent with every request)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from ansible.module_utils.ai_cs_http import Answer, exchange

# The start of every silence comment this pipeline writes: how a later run recognises a dead run's silence.
MARKER = "ai-cs pipeline: "


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def silence_body(hosts: list[str], minutes: int, created_by: str, comment: str, now: float) -> dict[str, Any]:
    """A silence of every alert whose instance is one of hosts (with or without a port), for minutes from now:
    a run killed before it lifts its silence leaves no lasting blind spot."""
    if not hosts:
        raise ValueError("a silence needs at least one host")
    return {
        "matchers": [
            {
                "name": "instance",
                "value": "(" + "|".join(re.escape(h) for h in hosts) + ")(:[0-9]+)?",
                "isRegex": True,
                "isEqual": True,
            }
        ],
        "startsAt": _stamp(now),
        "endsAt": _stamp(now + minutes * 60),
        "createdBy": created_by,
        "comment": MARKER + comment,
    }


def stale(silences: Any, keep: str = "") -> list[dict[str, Any]]:
    """The active silences this pipeline made for runs that are gone. The run asking holds the deploy lock, so
    every other active silence whose comment starts with MARKER belongs to a dead run; keep is the asking run's
    own. Silences anyone else made are never touched."""
    if not isinstance(silences, list):
        return []
    return [
        s
        for s in silences
        if isinstance(s, dict)
        and (s.get("status") or {}).get("state") == "active"
        and str(s.get("comment", "")).startswith(MARKER)
        and s.get("id") != keep
    ]


def alerts_since(alerts: Any, since: str) -> list[dict[str, Any]]:
    """The labels of the alerts that started at or after since (RFC 3339 UTC, as the run records its start): what
    fired while the run ran, for its summary."""
    if not isinstance(alerts, list):
        return []
    return [a.get("labels", {}) for a in alerts if isinstance(a, dict) and str(a.get("startsAt", "")) >= since]


@dataclass
class Alertmanager:
    url: str  # base URL, no trailing slash
    username: str | None = None
    password: str | None = None
    ca_path: str | None = None
    timeout: float = 10.0

    def call(self, method: str, path: str, body: bytes | None = None) -> Answer:
        return exchange(
            self.url.rstrip("/") + "/api/v2" + path,
            method=method,
            data=body,
            headers={"Content-Type": "application/json"} if body else {},
            timeout=self.timeout,
            ca_path=self.ca_path,
            username=self.username or None,
            password=self.password,
        )


def problem(answer: Answer, what: str) -> str:
    """'' for an answer of 200, else one line saying what was refused and why (never a credential)."""
    if answer.status == 200:
        return ""
    if answer.status is None:
        return f"{what}: no answer ({answer.error})"
    if answer.status == 401:
        return f"{what}: HTTP 401, the pipeline's account (ai_cs_alertmanager_user/_password) was not accepted"
    detail = answer.body if isinstance(answer.body, str) else ""
    return f"{what}: HTTP {answer.status} {detail[:200]}".rstrip()
