"""What the diagnose runs left: read-only but for the signed test webhook, each stored once on the diagnostic
channel; reports on the controller, the last (a refused test secret) never reaching the service."""

import json
import os
from pathlib import Path

testinfra_hosts = ["molecule-diagnose"]
PSQL = "PGPASSWORD=molecule-only-db-password psql -h 127.0.0.1 -p 5434 -U ai_cs -d ai_customer_service -tAc {!r}"


def q(host, sql):
    return host.check_output(PSQL.format(sql)).strip()


def test_each_passing_run_stored_one_diagnostic_message_on_its_own_channel(host):
    # converge, idempotence and the test instance signed with its test secret passed: three messages; the PostgreSQL
    # fault's webhook was refused (not stored), the stopped service's was not answered, and the test secret against
    # production was refused before any request
    rows = q(host, "SELECT count(*), count(DISTINCT message_id) FROM cs_messages WHERE channel = 'ops-diagnostic'")
    assert rows == "3|3"
    assert q(host, "SELECT count(*) FROM cs_messages WHERE channel <> 'ops-diagnostic'") == "0"


def test_the_reports_are_kept_on_the_controller_and_latest_is_the_last_run_that_checked():
    """converge, idempotence, the two faults and the test instance wrote a report each; the refused test secret
    checked nothing."""
    reports = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "diagnose"
    runs = sorted(reports.glob("diagnose-*.json"), key=lambda r: r.stat().st_mtime)
    assert len(runs) == 5, [r.name for r in runs]
    latest = json.loads((reports / "latest.json").read_text())
    assert latest == json.loads(runs[-1].read_text())
    checks = {c["name"]: c["status"] for c in latest["hosts"]["molecule-diagnose"]["checks"]}
    assert checks["service"] == checks["port"] == "FAIL" and checks["database"] == "OK", checks
    textfile = (reports / "ai_cs_diagnose.prom").read_text()
    assert 'ai_cs_diagnose_check_ok{host="molecule-diagnose",check="port"} 0' in textfile
    assert f"ai_cs_diagnose_failed_checks {latest['failed']}" in textfile
