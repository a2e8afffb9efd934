# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Webhook signing shared by webhook_sign, the switch's smoke test and the diagnostics: hex HMAC-SHA256(secret,
"<ts>.<body>")."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from ansible.module_utils.ai_cs_http import exchange

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


def smoke(
    url: str,
    secret: str,
    body: dict[str, str],
    *,
    max_skew_seconds: int = 300,
    timeout: float = 10.0,
) -> tuple[str | None, dict[str, dict[str, object]]]:
    """The verification's webhook calls, directly at one host: a signed call (accepted), its replay byte for byte
    (duplicate), an unsigned call (403 CS_AUTH_4031), a call signed with another secret (403 CS_AUTH_4034) and a
    signed call older than the skew allowed (403 CS_AUTH_4033). A release that stored nothing, stored twice or took
    a forged or stale call fails it. Returns (None or what failed, each call's status and code)."""
    now = int(time.time())

    def call(name: str, message_id: str, secret_: str | None, stamp: int, same_as: str | None = None) -> None:
        text = canonical_body({**body, "message_id": message_id})
        headers = signed_headers(secret_ or "x", text, stamp)
        if secret_ is None:
            del headers[SIGNATURE_HEADER]
        if same_as:
            text, headers = sent[same_as]
        sent[name] = (text, headers)
        answer = exchange(url, method="POST", data=text.encode(), headers=headers, timeout=timeout)
        answers[name] = {
            "status": answer.status,
            "status_text": answer.body.get("status") if isinstance(answer.body, dict) else None,
            "code": rejection_code(answer.body) or (answer.error and "no answer"),
        }

    sent: dict[str, tuple[str, dict[str, str]]] = {}
    answers: dict[str, dict[str, object]] = {}
    base = body["message_id"]
    call("signed", base, secret, now)
    call("replay", base, secret, now, same_as="signed")
    call("unsigned", f"{base}-unsigned", None, now)
    call("forged", f"{base}-forged", secret + "-not-the-secret", now)
    call("stale", f"{base}-stale", secret, now - max_skew_seconds - 600)
    expected = {
        "signed": (200, "accepted", None),
        "replay": (200, "duplicate", None),
        "unsigned": (403, None, "CS_AUTH_4031"),
        "forged": (403, None, "CS_AUTH_4034"),
        "stale": (403, None, "CS_AUTH_4033"),
    }
    wrong = [
        f"{name} call answered {a['status']} {a['status_text'] or a['code'] or ''} (expected {want[0]} "
        f"{want[1] or want[2]})".replace("  ", " ")
        for name, want in expected.items()
        if (a := answers[name])
        and (a["status"], a["status_text"] if want[1] else a["code"]) != (want[0], want[1] or want[2])
    ]
    if not wrong:
        return None, answers
    return (
        "webhook smoke test failed: "
        + "; ".join(wrong)
        + ". Cause: the release does not store, deduplicate or authenticate webhooks as the runbook requires (or the "
        "message id was used before)",
        answers,
    )
