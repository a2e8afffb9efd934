from __future__ import annotations

from ansible.module_utils.ai_cs_health import judge

SPEC = {
    "status": [200],
    "json": {"status": "UP", "components.postgres": "UP"},
    "version": None,
    "version_field": "version",
}


def test_healthy():
    assert judge(SPEC, 200, {"status": "UP", "components": {"postgres": "UP"}}, None) is None


def test_no_answer_names_the_error():
    assert "no answer (URLError: refused)" in judge(SPEC, None, None, "URLError: refused")


def test_wrong_status():
    assert judge(SPEC, 503, {}, None) == "expected HTTP [200], got 503"


def test_nested_field_mismatch_and_missing():
    assert judge(SPEC, 200, {"status": "UP", "components": {"postgres": "DOWN"}}, None) == (
        "expected components.postgres == 'UP', got 'DOWN'"
    )
    assert "field missing" in judge(SPEC, 200, {"status": "UP"}, None)


def test_version():
    spec = {**SPEC, "json": {}, "version": "v1.1.0"}
    assert judge(spec, 200, {"version": "v1.1.0"}, None) is None
    assert judge(spec, 200, {"version": "v1.0.0"}, None) == "expected version 'v1.1.0' at version, got 'v1.0.0'"
    assert "got no version" in judge(spec, 200, "plain text", None)
