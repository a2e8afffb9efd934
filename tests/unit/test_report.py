"""A run's report (module_utils/ai_cs_report.py): each host's outcome, the document, its Markdown; one rule a test."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.ai_cs_report import host_outcome, report_files, report_markdown, run_report

pytestmark = pytest.mark.unit

RUN = {"run_id": "20261206T130000Z-1", "operation": "rollback", "version": "v1.0.0", "who": "ops@ctl",
       "since": "2026-12-06T13:00:00Z", "check_mode": False}  # fmt: skip
REQUEST = {"operation": "rollback", "version": "v1.0.0", "confirm": "ai_customer_service", "batches": [1]}


def host(result=None, needed=True, **more):
    facts = {"pipeline_from": {"version": "v1.1.0"}, "pipeline_target": "v1.0.0", "pipeline_needed": needed, **more}
    if result:
        facts["pipeline_switch"] = {"result": result, "seconds": 2.5}
    return facts


@pytest.mark.parametrize(
    ("facts", "outcome"),
    [
        (host("success"), "switched"),
        (host("success", needed=False), "unchanged"),
        (host(None, needed=False), "unchanged"),
        (host("rolled_back"), "rolled_back"),
        (host("failed"), "failed"),
        (host(None), "not_reached"),
    ],
)
def test_each_host_has_one_outcome(facts, outcome):
    assert host_outcome(facts) == outcome


def test_a_run_that_stopped_is_failed_with_the_stops_message():
    report = run_report(RUN, REQUEST, {"app1": host("failed")}, {}, "", failure="rollback v1.0.0 failed on app1")
    assert report["result"] == "failed" and report["failure"] == "rollback v1.0.0 failed on app1"


def test_a_run_that_finished_is_a_success():
    assert run_report(RUN, REQUEST, {"app1": host("success")}, {}, "text")["result"] == "success"


def test_the_typed_confirmation_is_not_carried():
    assert "confirm" not in run_report(RUN, REQUEST, {}, {}, "")["options"]


def test_only_named_host_facts_are_carried_never_the_settings_a_host_was_staged_with():
    secret = "s3cr3t/+=@%"
    facts = host("success", release_env={"AI_CS_WEBHOOK_SECRET": secret}, ai_cs_webhook_secret=secret)
    assert secret not in json.dumps(run_report(RUN, REQUEST, {"app1": facts}, {}, "text"))


def test_the_database_part_names_the_backup_migrations_and_restore():
    database = {
        "pipeline_backup": {"host": "db", "file": "/b/x.pgc", "sha256": "ab", "size": 3, "extra": "no"},
        "pipeline_migration": {"applied": [{"file": "0002_add.sql", "statements": 3}]},
        "pipeline_restored": {"file": "/b/old.pgc"},
        "pipeline_schema_version": 2,
        "pipeline_marks": {"start": "100.5", "staged": 110},
    }
    report = run_report(RUN, REQUEST, {}, database, "")
    assert report["backup"] == {"host": "db", "file": "/b/x.pgc", "sha256": "ab", "size": 3}
    assert report["migrations"] == ["0002_add.sql"] and report["restored"] == "/b/old.pgc"
    assert report["schema_version"] == 2 and report["marks"] == {"start": 100.5, "staged": 110.0}


def test_the_markdown_has_a_headline_a_row_per_host_and_the_summary_as_printed():
    report = run_report(RUN, REQUEST, {"app1": host("success"), "app2": host("rolled_back")}, {}, "line one\nline 2")
    text = report_markdown(report)
    assert text.startswith("### ✅ rollback v1.0.0: success\n")
    assert "| app1 | v1.1.0 | v1.0.0 | switched | 2.5 |" in text
    assert "| app2 | v1.1.0 | v1.0.0 | rolled_back | 2.5 |" in text
    assert "```text\nline one\nline 2\n```" in text


def test_the_markdown_of_a_failed_run_quotes_the_failure():
    report = run_report(RUN, REQUEST, {}, {}, "", failure="it broke")
    assert report_markdown(report).startswith("### ❌ rollback v1.0.0: failed\n") and "> it broke" in report_markdown(
        report
    )


def test_under_check_mode_a_host_the_plan_would_change_says_so_not_that_the_run_missed_it():
    report = run_report({**RUN, "check_mode": True}, REQUEST, {"app1": host(None), "app2": host(None, needed=False)},
                        {}, "PLAN")  # fmt: skip
    assert {h: r["outcome"] for h, r in report["hosts"].items()} == {"app1": "would_change", "app2": "unchanged"}


def test_the_report_is_written_as_four_files_the_latest_the_same_text_as_the_runs():
    report = run_report(RUN, REQUEST, {"app1": host("success")}, {}, "moved → v1.0.0")
    files = {f["name"]: f["content"] for f in report_files(report)}
    assert list(files) == [f"{RUN['run_id']}.json", f"{RUN['run_id']}.md", "latest.json", "latest.md"]
    assert files["latest.json"] == files[f"{RUN['run_id']}.json"] and files["latest.md"] == report_markdown(report)
    assert json.loads(files["latest.json"]) == report and "moved → v1.0.0" in files["latest.json"]
    assert files["latest.json"].endswith("}\n")
