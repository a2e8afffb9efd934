"""The signed webhook: the runbook's openssl signing, rejects by code, dedup, handoff, audit."""

from __future__ import annotations

import json
import time

import pytest
from runbook import openssl_signature
from svc import SECRET, count, prod_env

SEED_BODY = (
    '{"channel":"widget","message_id":"diag-001","open_id":"diag-open","content":"health check",'
    '"timestamp":"2026-05-04T00:00:00Z"}'
)


def signed_post(svc, payload: dict | str, secret: str = SECRET, ts: int | None = None):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    stamp = str(int(time.time()) if ts is None else ts)
    return svc.post_webhook(body, stamp, openssl_signature(secret, stamp, body))


def test_seed_diagnostic_payload_signed_like_the_seed_script(service, pg):
    code, body = signed_post(service, SEED_BODY)
    assert code == 200, body
    assert body["status"] == "accepted" and body["message_id"] == "diag-001"
    assert count(pg, service.db, "SELECT count(*) FROM cs_messages WHERE message_id = 'diag-001'") == 1
    assert count(pg, service.db, "SELECT count(*) FROM cs_sessions WHERE open_id = 'diag-open'") == 1


def test_runbook_example_payload_is_authenticated(service):
    """The runbook's example ({"test":"payload"}) passes authentication, then fails payload validation."""
    code, body = signed_post(service, '{"test":"payload"}')
    assert code == 400 and body["code"] == "CS_REQ_4001"


def test_replayed_message_id_is_stored_once(service, pg):
    payload = {"channel": "widget", "message_id": "m-replay", "open_id": "u-1", "content": "hello"}
    assert signed_post(service, payload)[1]["status"] == "accepted"
    code, body = signed_post(service, payload)
    assert code == 200 and body["status"] == "duplicate"
    assert count(pg, service.db, "SELECT count(*) FROM cs_messages WHERE message_id = 'm-replay'") == 1
    assert count(pg, service.db, "SELECT count(*) FROM cs_message_dedup WHERE message_id = 'm-replay'") == 1


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"timestamp": "now", "signature": None}, "CS_AUTH_4031"),
        ({"timestamp": "abc", "signature": "00"}, "CS_AUTH_4032"),
        ({"timestamp": "stale", "signature": "valid"}, "CS_AUTH_4033"),
        ({"timestamp": "now", "signature": "wrong-secret"}, "CS_AUTH_4034"),
    ],
)
def test_rejects_have_the_runbook_codes_and_are_audited(service, pg, headers, code):
    body = json.dumps({"channel": "widget", "message_id": f"r-{code}", "open_id": "u-r", "content": "x"})
    now = int(time.time())
    ts = {"now": str(now), "abc": "abc", "stale": str(now - 301)}[headers["timestamp"]]
    sig = {
        None: None,
        "00": "00",
        "valid": openssl_signature(SECRET, ts, body),
        "wrong-secret": openssl_signature("not-the-secret", ts, body),
    }[headers["signature"]]
    status, answer = service.post_webhook(body, ts, sig)
    assert status == 403
    assert answer["code"] == code
    assert (
        count(pg, service.db, "SELECT count(*) FROM cs_audit_logs WHERE event = 'webhook.rejected' AND code = %s", code)
        == 1
    )
    assert count(pg, service.db, "SELECT count(*) FROM cs_messages") == 0
    assert service.metric("ai_cs_webhook_rejects_total", code=code) == 1


def test_skew_within_tolerance_is_accepted(service):
    payload = {"channel": "widget", "message_id": "m-skew", "open_id": "u-2", "content": "hi"}
    assert signed_post(service, payload, ts=int(time.time()) - 250)[0] == 200


def test_handoff_opens_a_ticket_with_priority(service, pg):
    payload = {"channel": "widget", "message_id": "m-h", "open_id": "u-3", "content": "urgent: I want a human"}
    code, body = signed_post(service, payload)
    assert code == 200 and body["handoff"] is True and body["ticket_id"]
    assert count(pg, service.db, "SELECT count(*) FROM cs_tickets WHERE priority = 'high'") == 1
    assert service.metric("ai_cs_handoffs_total") == 1
    assert service.metric("ai_cs_tickets_created_total") == 1


def test_every_accepted_call_is_audited(service, pg):
    for i in range(3):
        signed_post(service, {"channel": "widget", "message_id": f"a-{i}", "open_id": "u-4", "content": "hi"})
    assert count(pg, service.db, "SELECT count(*) FROM cs_audit_logs WHERE event = 'webhook.accepted'") == 3
    assert service.metric("ai_cs_audit_writes_total", result="ok") == 3


def test_metrics_cover_the_monitoring_spec(service):
    _, text = service.get("/metrics")
    for name in (
        "ai_cs_http_5xx_total",
        "ai_cs_webhook_rejects_total",
        "ai_cs_handoffs_total",
        "ai_cs_tickets_created_total",
        "ai_cs_audit_writes_total",
        "ai_cs_db_up",
        "ai_cs_ready",
        "ai_cs_live",
    ):
        assert f"# TYPE {name} " in text, name
    assert 'ai_cs_build_info{version="v1.1.0"} 1' in text


def test_fixture_webhook_errors_fails_a_quarter_of_widget_messages_only(start, pg, migrated):
    """The canary fixture: 500 CS_SYS_5000 on the same quarter of widget-channel message ids, counted as 5xx; the
    smoke channel (verify's) never fails, so only a canary analysis under customer traffic can catch it."""
    svc = start("v1.1.1-fixture.webhook-errors", prod_env(pg, migrated(2)))
    codes = {}
    for n in range(40):
        code, body = signed_post(svc, {"channel": "widget", "message_id": f"q-{n}", "open_id": "u-q", "content": "x"})
        codes[n] = code
        if code != 200:
            assert code == 500 and body["code"] == "CS_SYS_5000", body
    failed = [n for n, code in codes.items() if code == 500]
    assert 4 <= len(failed) <= 18, failed
    again = {"channel": "widget", "message_id": f"q-{failed[0]}", "open_id": "u", "content": "x"}
    assert signed_post(svc, again)[0] == 500, "the same message fails again"
    assert svc.metric("ai_cs_http_5xx_total") == len(failed) + 1
    for n in range(20):
        smoke = {"channel": "ops-smoke", "message_id": f"q-{n}", "open_id": "ops-smoke", "content": "x"}
        assert signed_post(svc, smoke)[0] == 200


# A rotation window (issue 38 item 2): the secret the upstream signed with before is accepted until the window closes.
OLD_SECRET = "old/+=@%secret"


def rotated(start, pg, migrated, until: int):
    db = migrated(2)
    env = prod_env(pg, db, AI_CS_WEBHOOK_SECRET_PREVIOUS=OLD_SECRET, AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL=str(until))
    return start("v1.1.0", env)


def message(n: str) -> dict:
    return {"channel": "widget", "message_id": f"rot-{n}", "open_id": "u-rot", "content": "hello"}


def test_the_previous_secret_is_accepted_while_the_window_is_open_and_counted_as_previous(start, pg, migrated):
    svc = rotated(start, pg, migrated, int(time.time()) + 300)
    assert svc.metric("ai_cs_webhook_verified_total", secret="previous") == 0, "exposed at 0 before the first"
    code, body = signed_post(svc, message("old"), secret=OLD_SECRET)
    assert code == 200 and body["status"] == "accepted", body
    assert svc.metric("ai_cs_webhook_verified_total", secret="previous") == 1
    assert svc.metric("ai_cs_webhook_verified_total", secret="current") == 0


def test_the_current_secret_is_counted_as_current_during_the_window(start, pg, migrated):
    svc = rotated(start, pg, migrated, int(time.time()) + 300)
    assert signed_post(svc, message("new"))[0] == 200
    assert svc.metric("ai_cs_webhook_verified_total", secret="current") == 1
    assert svc.metric("ai_cs_webhook_verified_total", secret="previous") == 0


def test_the_previous_secret_is_refused_once_the_window_has_closed(start, pg, migrated):
    svc = rotated(start, pg, migrated, int(time.time()) - 1)
    code, body = signed_post(svc, message("late"), secret=OLD_SECRET)
    assert code == 403 and body["code"] == "CS_AUTH_4034", body
    assert svc.metric("ai_cs_webhook_verified_total", secret="previous") == 0
