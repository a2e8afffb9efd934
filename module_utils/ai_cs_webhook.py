# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Webhook signing shared by webhook_sign and the diagnostics: hex HMAC-SHA256(secret, "<ts>.<body>")."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

TIMESTAMP_HEADER = "X-CS-Timestamp"
SIGNATURE_HEADER = "X-CS-Signature"


def canonical_body(body: object) -> str:
    """The exact string to send: strings as given, mappings as compact JSON with sorted keys.

    Non-ASCII text stays as UTF-8 (not \\u escapes), as a shell `echo -n` of the same body would.
    """
    if isinstance(body, str):
        return body
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(secret: str, timestamp: int | str, body: str) -> str:
    """Byte-for-byte `echo -n "${TS}.${BODY}" | openssl dgst -sha256 -hmac "$SECRET"`."""
    message = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(secret, stamp, body),
    }


def rejection_code(body: object) -> str | None:
    """The CS_AUTH_40xx (or other CS_*) code of a refused call, if the answer carries one."""
    if isinstance(body, dict):
        code = body.get("code")
        if isinstance(code, str) and code.startswith("CS_"):
            return code
    return None
