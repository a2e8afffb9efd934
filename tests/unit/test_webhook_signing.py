from __future__ import annotations

import pytest
from ansible.module_utils.ai_cs_webhook import canonical_body, rejection_code, sign, signed_headers
from runbook import openssl_signature


@pytest.mark.parametrize(
    ("secret", "body"),
    [
        ("test-secret-123", '{"test":"payload"}'),  # the runbook's example
        ("test-secret-123", '{"content":"我要转人工 — ça marche","open_id":"用户"}'),
        ("s3cr3t with spaces & $", '{"a":1}'),
    ],
)
def test_signature_equals_openssl(secret, body):
    assert sign(secret, 1714780800, body) == openssl_signature(secret, "1714780800", body)


def test_mapping_body_is_compact_sorted_utf8():
    assert canonical_body({"b": 1, "a": "转人工"}) == '{"a":"转人工","b":1}'
    assert canonical_body('{"z":1, "a":2}') == '{"z":1, "a":2}'  # strings are sent as given


def test_signed_headers_carry_timestamp_and_signature():
    headers = signed_headers("k", "{}", 100)
    assert headers["X-CS-Timestamp"] == "100"
    assert headers["X-CS-Signature"] == sign("k", 100, "{}")


def test_rejection_code():
    assert rejection_code({"code": "CS_AUTH_4034", "message": "invalid webhook signature"}) == "CS_AUTH_4034"
    assert rejection_code({"status": "accepted"}) is None
    assert rejection_code("not json") is None
