"""webhook_sign through Ansible: byte-for-byte openssl, and against the real service."""

from __future__ import annotations

import json

import pytest
from ansible_run import run_module
from runbook import openssl_signature
from svc import Service, unpack

SECRET = "test-secret-123"


def test_runbook_example_matches_openssl():
    result, _output = run_module(
        "webhook_sign", {"secret": SECRET, "body": '{"test":"payload"}', "timestamp": 1714780800}
    )
    assert result["signature"] == openssl_signature(SECRET, "1714780800", '{"test":"payload"}')
    assert result["headers"]["X-CS-Timestamp"] == "1714780800"
    assert result["changed"] is False


def test_non_ascii_mapping_body_matches_openssl_of_the_returned_string():
    body = {
        "open_id": "用户-1",
        "content": "我要转人工，谢谢 ✓",  # noqa: RUF001 - full-width punctuation is the point
        "channel": "widget",
        "message_id": "m-1",
    }
    result, _ = run_module("webhook_sign", {"secret": SECRET, "body": body, "timestamp": 1714780800})
    assert result["body"] == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert result["signature"] == openssl_signature(SECRET, "1714780800", result["body"])


@pytest.fixture(scope="module")
def service(artifacts, tmp_path_factory):
    release = unpack(artifacts, "v1.1.0", tmp_path_factory.mktemp("wh"))
    svc = Service(
        release, {"AI_CS_ENV": "development", "AI_CS_POSTGRES_ENABLED": "false", "AI_CS_WEBHOOK_SECRET": SECRET}
    )
    svc.wait_live()
    yield svc
    svc.stop()


def send(service, **args):
    url = service.base + "/api/v1/customer-service/webhook"
    body = {"channel": "widget", "message_id": "m-send", "open_id": "u", "content": "hello"}
    return run_module("webhook_sign", {"secret": SECRET, "url": url, "body": body, **args}, verbosity=3)


def test_signed_call_accepted_then_duplicate(service):
    first, _ = send(service, expected_status=[200])
    assert first["status"] == 200 and first["response"]["status"] == "accepted" and first["code"] is None
    second, _ = send(service)
    assert second["response"]["status"] == "duplicate"


def test_replay_sends_the_same_call_again_and_returns_its_answer(service):
    body = {"channel": "widget", "message_id": "m-replay", "open_id": "u", "content": "hello"}
    first, _ = send(service, body=body, replay=True, expected_status=[200])
    assert first["status"] == 200 and first["response"]["status"] == "accepted"
    assert first["replay"]["status"] == 200 and first["replay"]["response"]["status"] == "duplicate"
    assert first["replay"]["code"] is None and first["replay"]["latency_ms"] > 0
    third, _ = send(service, body=body, timestamp=first["timestamp"])  # the same bytes once more
    assert third["signature"] == first["signature"] and third["response"]["status"] == "duplicate"


def test_with_replay_each_answer_must_have_an_expected_status(service):
    body = {"channel": "widget", "message_id": "m-replay-unsigned", "open_id": "u", "content": "x"}
    both, _ = send(service, body=body, replay=True, omit_signature=True, expected_status=[403])
    assert both["code"] == "CS_AUTH_4031" and both["replay"]["code"] == "CS_AUTH_4031"
    failed, _ = send(service, body=body, replay=True, omit_signature=True, expected_status=[200])
    assert failed["failed"] and failed["msg"].startswith("webhook POST ") and "replay" not in failed
    assert failed["status"] == 403 and failed["body"]  # what was sent, and the answer, come with the failure


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"omit_signature": True}, "CS_AUTH_4031"),
        ({"signature": "00" * 32}, "CS_AUTH_4034"),
        ({"timestamp": 1000}, "CS_AUTH_4033"),
    ],
)
def test_refusals_return_the_code(service, args, code):
    result, _ = send(service, **args)
    assert result["status"] == 403 and result["code"] == code


def test_unexpected_status_fails_with_the_answer(service):
    result, _ = send(service, omit_signature=True, expected_status=[200])
    assert result["failed"] and "answered 403 (CS_AUTH_4031)" in result["msg"]


def test_secret_never_in_output_at_vvv(service):
    result, output = send(service, expected_status=[200])
    assert SECRET not in output
    assert SECRET not in json.dumps(result)


def test_check_mode_signs_but_sends_nothing(service):
    url = service.base + "/api/v1/customer-service/webhook"
    result, _ = run_module(
        "webhook_sign", {"secret": SECRET, "url": url, "body": {"message_id": "never-sent"}}, check=True
    )
    assert result["signature"] and "status" not in result
