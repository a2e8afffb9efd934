"""The run's silence rules (module_utils/ai_cs_silence.py), one rule per test, with no Alertmanager."""

from __future__ import annotations

import re

import pytest
from ansible.module_utils.ai_cs_http import Answer
from ansible.module_utils.ai_cs_silence import MARKER, alerts_since, problem, silence_body, stale

NOW = 1_796_000_000.0  # 2026-11-30T00:53:20Z


def silence(sid: str, state: str = "active", comment: str = MARKER + "deploy v1.1.0 run x") -> dict:
    return {"id": sid, "status": {"state": state}, "comment": comment}


def test_the_silence_matches_each_host_with_or_without_a_port_and_nothing_else():
    matcher = silence_body(["ai-cs-app1", "app.2"], 60, "op", "c", NOW)["matchers"][0]
    pattern = re.compile(matcher["value"])
    assert matcher["name"] == "instance" and matcher["isRegex"] and matcher["isEqual"]
    assert all(pattern.fullmatch(i) for i in ("ai-cs-app1", "ai-cs-app1:8080", "app.2:9100"))
    assert not any(pattern.fullmatch(i) for i in ("ai-cs-app10", "appX2", "ai-cs-app1:x"))


def test_the_silence_ends_by_itself_after_its_minutes():
    body = silence_body(["h"], 60, "op", "c", NOW)
    assert (body["startsAt"], body["endsAt"]) == ("2026-11-30T00:53:20Z", "2026-11-30T01:53:20Z")


def test_the_comment_carries_the_marker_a_later_run_recognises():
    assert silence_body(["h"], 5, "op", "deploy v1 run r", NOW)["comment"] == MARKER + "deploy v1 run r"


def test_a_silence_without_hosts_is_refused():
    with pytest.raises(ValueError, match="at least one host"):
        silence_body([], 5, "op", "c", NOW)


def test_stale_are_the_pipelines_active_silences_but_the_runs_own():
    listed = [
        silence("dead"),
        silence("mine"),
        silence("expired", state="expired"),
        silence("someone", comment="maintenance of the database"),
        silence("pending", state="pending"),
    ]
    assert [s["id"] for s in stale(listed, keep="mine")] == ["dead"]


def test_stale_of_an_answer_that_is_not_a_list_is_nothing():
    assert stale("<html>proxy error</html>") == [] and stale(None) == []


def test_alerts_since_lists_the_labels_of_those_started_since_the_run_began():
    alerts = [
        {"startsAt": "2026-12-06T04:00:00Z", "labels": {"alertname": "Before"}},
        {"startsAt": "2026-12-06T04:10:00.123Z", "labels": {"alertname": "During"}},
    ]
    assert alerts_since(alerts, "2026-12-06T04:05:00Z") == [{"alertname": "During"}]


def test_a_refused_account_is_named_without_its_password():
    said = problem(Answer(401, "Unauthorized", 1.0), "asking for the silence")
    assert "HTTP 401" in said and "ai_cs_alertmanager_user" in said


def test_no_answer_says_why():
    said = problem(Answer(None, None, 1.0, "URLError: [SSL: CERTIFICATE_VERIFY_FAILED]"), "reading the silences")
    assert said == "reading the silences: no answer (URLError: [SSL: CERTIFICATE_VERIFY_FAILED])"
