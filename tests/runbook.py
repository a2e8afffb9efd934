"""The runbook's own procedures, run exactly as written, for tests to compare against."""

from __future__ import annotations

import os
import subprocess


def openssl_signature(secret: str, timestamp: str, body: str) -> str:
    """Section 五's line: echo -n "${TS}.${BODY}" | openssl dgst -sha256 -hmac "$SECRET" | awk '{print $2}'."""
    out = subprocess.run(
        ["bash", "-c", 'echo -n "${TS}.${BODY}" | openssl dgst -sha256 -hmac "$SECRET" | awk \'{print $2}\''],
        env={**os.environ, "TS": timestamp, "BODY": body, "SECRET": secret},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()
