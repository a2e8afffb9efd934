# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AI_CS_POSTGRES_DSN, the service's postgres:// URL: built with every component percent-encoded (a password full
of / + = : @ % stays one password), parsed back the same way, and shown with the password redacted."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

REDACTED = "[REDACTED]"


def build(user: str, password: str, host: str, port: int | str, db: str, **params: Any) -> str:
    """postgres://user:password@host:port/db?params, each component encoded (quote with no safe characters)."""
    query = urlencode({k: v for k, v in sorted(params.items()) if v not in (None, "")})
    auth = (
        f"{quote(str(user), safe='')}:{quote(str(password), safe='')}@" if password else f"{quote(str(user), safe='')}@"
    )
    return f"postgres://{auth}{host}:{int(port)}/{quote(str(db), safe='')}" + (f"?{query}" if query else "")


def parse(dsn: str) -> dict[str, Any]:
    """{user, password, host, port, db, params} of a postgres:// URL ({} when it is not one)."""
    if not dsn:
        return {}
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        return {}
    try:
        port = parts.port or 5432
    except ValueError:
        return {}
    return {
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "host": parts.hostname,
        "port": port,
        "db": unquote(parts.path.lstrip("/")),
        "params": dict(parse_qsl(parts.query)),
    }


def redact(dsn: str) -> str:
    """The DSN with its password replaced (by parsing, so any encoding of it is gone)."""
    found = parse(dsn)
    if not found:
        return REDACTED if dsn else dsn
    return build(
        found["user"],
        REDACTED if found["password"] else "",
        found["host"],
        found["port"],
        found["db"],
        **found["params"],
    ).replace(quote(REDACTED, safe=""), REDACTED)
