# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging a health answer against an expectation (status codes, JSON fields, version)."""

from __future__ import annotations

from typing import Any

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
