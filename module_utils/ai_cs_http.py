# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One HTTP exchange through Ansible's own URL helpers (nothing to install on targets)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url


@dataclass
class Answer:
    status: int | None  # None when no HTTP answer came (refused, timeout, DNS)
    body: Any  # parsed JSON, else text
    latency_ms: float
    error: str | None = None
    server_time: float | None = None  # the answer's HTTP Date header (the server's clock), epoch seconds
    received_at: float = 0.0  # this host's clock when the answer (or the error) came, epoch seconds


def _date(headers: Any) -> float | None:
    try:
        return parsedate_to_datetime(headers.get("Date")).timestamp()
    except (TypeError, ValueError, AttributeError):
        return None


def _parse(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def exchange(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
    validate_certs: bool = True,
    ca_path: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> Answer:
    """One request; with a username, HTTP basic auth is sent with it (not after a 401); ca_path: the CA file the
    server's certificate is checked against (else the system's)."""
    started = time.monotonic()
    try:
        resp = open_url(
            url,
            data=data,
            headers=headers or {},
            method=method,
            timeout=timeout,
            validate_certs=validate_certs,
            follow_redirects="none",
            ca_path=ca_path,
            url_username=username,
            url_password=password,
            force_basic_auth=username is not None,
        )
        raw, status, headers = resp.read(), resp.getcode(), resp.headers
    except HTTPError as err:
        raw, status, headers = err.read() or b"", err.code, err.headers
    except (TimeoutError, URLError, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        latency = round((time.monotonic() - started) * 1000, 1)
        return Answer(None, None, latency, f"{type(err).__name__}: {reason}", received_at=time.time())
    latency = round((time.monotonic() - started) * 1000, 1)
    return Answer(status, _parse(raw), latency, server_time=_date(headers), received_at=time.time())
