# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging a health answer against an expectation (status codes, JSON fields, version), and probing endpoints
until they meet theirs (health_probe, and the switch's verification)."""

from __future__ import annotations

import time
from typing import Any

from ansible.module_utils.ai_cs_http import exchange

MISSING = object()


def lookup(body: Any, dotted: str) -> Any:
    node = body
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def judge(spec: dict[str, Any], status: int | None, body: Any, error: str | None) -> str | None:
    """None when healthy, else 'expected X, got Y'."""
    if status is None:
        return f"expected HTTP {spec['status']}, got no answer ({error})"
    if status not in spec["status"]:
        return f"expected HTTP {spec['status']}, got {status}"
    for path, want in spec["json"].items():
        got = lookup(body, path)
        if got is MISSING:
            return f"expected {path} == {want!r}, field missing"
        if got != want:
            return f"expected {path} == {want!r}, got {got!r}"
    if spec.get("version") is not None:
        got = lookup(body, spec["version_field"])
        if got != spec["version"]:
            shown = "no version" if got is MISSING else repr(got)
            return f"expected version {spec['version']!r} at {spec['version_field']}, got {shown}"
    return None


def probe(
    specs: list[dict[str, Any]],
    *,
    timeout: float,
    interval: float = 1.0,
    request_timeout: float = 5.0,
    validate_certs: bool = True,
) -> tuple[bool, dict[str, dict[str, Any]], float]:
    """Probe each endpoint (a spec: name, url, status, json, version, version_field) until it meets its expectation,
    all within one overall timeout (0: one probe each). Returns (healthy, per-name observations, seconds)."""
    started = time.monotonic()
    deadline = started + timeout
    state = {
        s["name"]: {
            "url": s["url"],
            "healthy": False,
            "status": None,
            "latency_ms": None,
            "body": None,
            "attempts": 0,
            "time_to_healthy": None,
            "problem": "not probed",
            "server_time": None,
            "probed_at": None,
        }
        for s in specs
    }
    while True:
        for spec in specs:
            seen = state[spec["name"]]
            if seen["healthy"]:
                continue
            # timeout 0 is one attempt per endpoint, each given the whole request_timeout
            remaining = max(deadline - time.monotonic(), 0.1) if timeout > 0 else request_timeout
            answer = exchange(spec["url"], timeout=min(request_timeout, remaining), validate_certs=validate_certs)
            problem = judge(spec, answer.status, answer.body, answer.error)
            seen.update(status=answer.status, latency_ms=answer.latency_ms, body=answer.body, problem=problem)
            seen.update(server_time=answer.server_time, probed_at=round(answer.received_at, 3))
            seen["attempts"] += 1
            if problem is None:
                seen.update(healthy=True, time_to_healthy=round(time.monotonic() - started, 3))
        if all(s["healthy"] for s in state.values()) or time.monotonic() + interval > deadline:
            break
        time.sleep(interval)
    return all(s["healthy"] for s in state.values()), state, round(time.monotonic() - started, 3)


def unhealthy(state: dict[str, dict[str, Any]], timeout: float) -> str:
    """The failure message of a probe: each unhealthy endpoint, what it expected, what it last saw, its last body."""
    lines = [
        f"{name} ({s['url']}): {s['problem']} after {s['attempts']} attempt(s); last body: {str(s['body'])[:300]}"
        for name, s in state.items()
        if not s["healthy"]
    ]
    return f"not healthy within {timeout:g}s: " + " | ".join(lines)
