"""The diagnose judge (module_utils/ai_cs_diagnose.py) on readings shaped as the diagnose role gathers them."""

from __future__ import annotations

import json
from copy import deepcopy

from ansible.module_utils.ai_cs_diagnose import judge, webhook_secret_problem
from ansible.module_utils.ai_cs_runbook import row

NOW = 1_800_000_000.0
SETTINGS = {
    "service_name": "ai-customer-service",
    "install_dir": "/opt/ai-customer-service",
    "app_port": 8080,
    "slow_ms": 1000,
    "max_skew": 300,
    "journal_since": "-5min",
    "disk_min_free_mb": 500,
    "disk_max_used_pct": 90,
    "message_id": "diag-run-ai-cs-app1",
    "channel": "ops-diagnostic",
}
UP = {"status": "UP", "components": {"postgres": "UP"}}


def endpoint(status=200, body=None, healthy=True, latency=3.0, problem=None):
    return {
        "status": status,
        "body": UP if body is None else body,
        "healthy": healthy,
        "latency_ms": latency,
        "problem": problem,
        "probed_at": NOW,
        "server_time": NOW,
    }


HEALTHY = {
    "unit": {"ActiveState": "active", "SubState": "running", "MainPID": "42", "NRestarts": "0", "InvocationID": "run1"},
    "link": "releases/v1.1.0",
    "env": {
        "AI_CS_ENV": "production",
        "AI_CS_POSTGRES_ENABLED": "true",
        "AI_CS_POSTGRES_DSN": "postgres://ai_cs:secret@db:5434/ai_customer_service",
        "AI_CS_WEBHOOK_SECRET": "s3cret",
        "AI_CS_LOG_LEVEL": "info",
        "AI_CS_ADDR": ":8080",
    },
    "http": {
        "/live": endpoint(body={"status": "UP"}),
        "/ready": endpoint(),
        "/actuator/health": endpoint(body={**UP, "version": "v1.1.0", "uptime_seconds": 12}),
    },
    "ss": ["LISTEN 0 5 0.0.0.0:8080 0.0.0.0:*"],
    "db": {"row": {"missing_tables": None, "tickets": 3, "schema_version": 2, "dirty": False}},
    "journal": [],
    "webhook": {"status": 200, "response": {"status": "accepted"}, "code": None},
    "df": ["Filesystem 1024-blocks Used Available Capacity Mounted", "/dev/vda 100000000 1000 90000000 1% /"],
    "controller_time": NOW,
}


def readings(**changes):
    new = deepcopy(HEALTHY)
    new.update(changes)
    return new


def checks(result):
    return {c["name"]: c for c in result["checks"]}


def test_healthy_host_every_check_ok_and_no_secret_in_the_result():
    result = judge(HEALTHY, SETTINGS)
    assert {c["status"] for c in result["checks"]} == {"OK"}, result
    assert [c["name"] for c in result["checks"]] == [
        "service", "config", "port", "database", "/live", "/ready", "/actuator/health", "journal", "webhook",
        "disk", "clock",
    ]  # fmt: skip
    assert result["facts"]["version"] == "v1.1.0" and result["facts"]["uptime_seconds"] == 12
    assert "secret" not in json.dumps(result) and "s3cret" not in json.dumps(result)


def test_database_down_names_the_runbook_row_on_database_and_ready():
    down = endpoint(status=503, body={"status": "DOWN", "components": {"postgres": "DOWN"}}, healthy=False)
    result = checks(
        judge(
            readings(
                db={"error": 'connection to server at "db" (10.0.0.2), port 5434 failed: Connection refused'},
                http={**HEALTHY["http"], "/ready": down},
            ),
            SETTINGS,
        )
    )
    refused = row("connection-refused")
    assert result["database"]["status"] == "FAIL" and result["database"]["cause"] == refused.cause
    assert result["/ready"]["status"] == "FAIL" and result["/ready"]["fix"] == refused.fix
    assert result["/live"]["status"] == "OK"


def test_missing_tables_and_a_dirty_schema():
    missing = checks(judge(readings(db={"row": {"missing_tables": "cs_sessions", "schema_version": 2}}), SETTINGS))
    assert missing["database"]["cause"] == row("relation-missing").cause
    assert "missing tables: cs_sessions" in missing["database"]["detail"]
    dirty = checks(judge(readings(db={"row": {"schema_version": 3, "dirty": True}}), SETTINGS))
    assert dirty["database"]["cause"] == row("schema-dirty").cause and "DIRTY" in dirty["database"]["detail"]


def test_no_dsn_and_memory_fallback_in_production():
    env = {**HEALTHY["env"], "AI_CS_POSTGRES_ENABLED": "false"}
    del env["AI_CS_POSTGRES_DSN"]
    result = checks(judge(readings(env=env, db=None), SETTINGS))
    assert result["config"]["cause"] == row("memory-fallback").cause
    assert result["database"]["detail"] == "no AI_CS_POSTGRES_DSN to connect with"


def listening(name: str, pid: int) -> str:
    """A line of `ss -Htlnp` for port 8080 held by this process."""
    return f'LISTEN 0 5 0.0.0.0:8080 0.0.0.0:* users:(("{name}",pid={pid},fd=3))'


def test_port_held_by_another_process_is_named():
    stopped = {"ActiveState": "failed", "SubState": "failed", "MainPID": "0", "NRestarts": "5"}
    result = checks(judge(readings(unit=stopped, ss=[listening("python3", 77)]), SETTINGS))
    assert result["port"]["status"] == "FAIL" and "is held by python3 (pid 77)" in result["port"]["detail"]
    assert result["port"]["cause"] == row("port-in-use").cause
    assert result["service"]["status"] == "FAIL"


def test_journal_judges_the_current_run_and_its_automatic_restarts_only():
    def line(run, message):
        return json.dumps({"_SYSTEMD_INVOCATION_ID": run, "MESSAGE": f"2026-01-01T00:00:00Z\tERROR\t{message}"})

    journal = [  # newest first, as journalctl --reverse gives them
        line("run3", 'pq: password authentication failed for user "ai_cs"'),
        line("run2", "pq: connection refused"),
        line("run1", "memory fallback is not allowed"),  # before the last start by a person: not judged
    ]
    unit = {**HEALTHY["unit"], "ActiveState": "activating", "NRestarts": "1", "InvocationID": "run3"}
    result = checks(judge(readings(unit=unit, journal=journal), SETTINGS))
    assert result["journal"]["status"] == "FAIL"
    assert "password authentication failed" in result["journal"]["detail"]
    assert "memory fallback" not in result["journal"]["detail"]
    assert row("password-failed").cause in result["journal"]["cause"]
    assert result["service"]["cause"] == row("connection-refused").cause  # the first of the judged lines' rows


def test_a_harmless_line_does_not_fail_the_journal():
    harmless = json.dumps(
        {
            "_SYSTEMD_INVOCATION_ID": "run1",
            "MESSAGE": 't\tERROR\tpq: duplicate key value violates unique constraint "k"',
        }
    )
    assert checks(judge(readings(journal=[harmless]), SETTINGS))["journal"]["status"] == "OK"


def test_webhook_refused_and_skipped_under_check_mode():
    refused = {"status": 403, "response": {"code": "CS_AUTH_4034"}, "code": "CS_AUTH_4034"}
    result = checks(judge(readings(webhook=refused), SETTINGS))
    assert (
        result["webhook"]["cause"] == row("auth-4034").cause and "HTTP 403 CS_AUTH_4034" in result["webhook"]["detail"]
    )
    assert checks(judge(readings(webhook=None), SETTINGS))["webhook"]["status"] == "SKIP"


def test_clock_skew_of_the_service_beyond_tolerance():
    live = {**HEALTHY["http"]["/live"], "server_time": NOW - 600}
    result = judge(readings(http={**HEALTHY["http"], "/live": live}), SETTINGS)
    clock = checks(result)["clock"]
    assert clock["status"] == "FAIL" and clock["cause"] == row("clock-drift").cause
    assert result["facts"]["clock_skew_seconds"] == {"host": 0.0, "service": -600.0}


def test_clock_skew_is_measured_against_the_window_around_the_probe_not_a_slow_controller():
    # The controller noted its clock 1 s before the probe and, loaded, 8.5 s after the host's answer: no skew.
    live = {**HEALTHY["http"]["/live"], "probed_at": NOW, "server_time": NOW - 600}
    slow = readings(http={**HEALTHY["http"], "/live": live}, controller_time_before=NOW - 1, controller_time=NOW + 8.5)
    assert judge(slow, SETTINGS)["facts"]["clock_skew_seconds"] == {"host": 0.0, "service": -600.0}
    # A host whose clock reads 400 s ahead of the window is off by that much, and its service with it.
    ahead = {**live, "probed_at": NOW + 408.5, "server_time": NOW + 408}
    result = judge(
        readings(http={**HEALTHY["http"], "/live": ahead}, controller_time_before=NOW - 1, controller_time=NOW + 8.5),
        SETTINGS,
    )
    assert result["facts"]["clock_skew_seconds"] == {"host": 400.0, "service": 399.5}
    assert checks(result)["clock"]["status"] == "FAIL"


def test_slow_endpoint_and_low_disk():
    slow = endpoint(latency=2500.0)
    full = ["header", "/dev/vda 1000 990 10 99% /"]
    result = checks(judge(readings(http={**HEALTHY["http"], "/ready": slow}, df=full), SETTINGS))
    assert result["/ready"]["status"] == "FAIL" and "slower than 1000 ms" in result["/ready"]["cause"]
    assert result["disk"]["status"] == "FAIL" and "/ 0 MiB free (99% used)" in result["disk"]["detail"]


def test_image_mode_the_container_listens_and_its_state_and_image_are_reported():
    image = "ai-cs-artifacts:5000/ai-customer-service@sha256:" + "a" * 64
    running = {"state": "running", "pid": 4242, "image": image}
    container_listens = [listening("python3", 4242)]
    result = judge(readings(container=running, ss=container_listens), SETTINGS)
    by_name = checks(result)
    assert by_name["port"]["status"] == "OK" and "held by the service (pid 4242)" in by_name["port"]["detail"]
    assert (
        by_name["service"]["status"] == "OK"
        and f"container running (pid 4242) from {image}" in by_name["service"]["detail"]
    )
    assert (result["facts"]["mode"], result["facts"]["image"]) == ("image", image)
    # the container gone while conmon's unit still says active: the service check fails and says so
    gone = checks(judge(readings(container={"state": "missing", "pid": 0, "image": None}), SETTINGS))
    assert gone["service"]["status"] == "FAIL" and "container missing" in gone["service"]["detail"]
    # binary mode: another process on the port is still named
    binary = checks(judge(readings(ss=container_listens), SETTINGS))
    assert binary["port"]["status"] == "FAIL" and "held by python3 (pid 4242)" in binary["port"]["detail"]


# A test webhook secret (-e diagnose_webhook_secret), as the runbook's script signs with, against a test instance only;
# what the host is comes from its own serving settings.
def test_the_inventorys_secret_signs_for_any_host():
    assert webhook_secret_problem("app1", "production", inventorys=True) == ""


def test_a_test_secret_signs_for_a_test_or_development_host():
    assert webhook_secret_problem("app1", "test", inventorys=False) == ""
    assert webhook_secret_problem("app1", "development", inventorys=False) == ""


def test_a_test_secret_is_refused_for_a_production_host_with_cause_and_fix():
    problem = webhook_secret_problem("app1", "production", inventorys=False)
    assert "the host's serving settings say AI_CS_ENV=production" in problem
    assert "Cause:" in problem and "Fix: drop -e diagnose_webhook_secret for production hosts" in problem


def test_a_test_secret_is_refused_when_the_host_says_nothing():
    assert "no AI_CS_ENV" in webhook_secret_problem("app1", "", inventorys=False)
