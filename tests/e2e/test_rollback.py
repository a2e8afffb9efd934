"""rollback.yml on the lab: refusals, config-only, restore with and without confirmation, a contract
migration refused then migrated down, and a partly broken host. Real containers, PostgreSQL, systemd, haproxy.

Runs after test_deploy.py (same lab: v1.1.0 serving after a v1.0.0 -> v1.1.0 upgrade with its backup, and a
config change behind it); run alone, the module fixture builds that state first.
"""

from __future__ import annotations

import calendar
import json
import re
import time

import pytest
from labutil import (
    APP_HOSTS,
    ROOT,
    as_superuser,
    current,
    exists,
    failures,
    history,
    in_host,
    leaked,
    playbook,
    print_times,
    recap,
    secret,
    sql,
    under_load,
    webhook,
)
from receiver import Receiver

pytestmark = pytest.mark.lab
RELEASES = "/opt/ai-customer-service/releases"
BACKUPS = "/var/backups/ai-customer-service"
LOCK = "/var/lib/ai-customer-service/deploy.lock"
DB = "ai_customer_service"


def rollback(*extra: str, check: bool = True, **variables: object):
    return playbook("rollback", *extra, check=check, **variables)


def said(proc) -> str:
    """The output with whitespace folded, so a message the callback wrapped over lines reads as one line."""
    return " ".join(proc.stdout.split())


def env_of(host: str, version: str) -> str:
    return in_host(host, "cat", f"{RELEASES}/{version}/ai-customer-service.env")


def active(host: str) -> str:
    return in_host(host, "systemctl", "is-active", "ai-customer-service", check=False).strip()


def stored(message_id: str) -> str:
    return sql(f"SELECT count(*) FROM cs_messages WHERE message_id = '{message_id}'")  # noqa: S608 - test's own id


def state() -> dict:
    return {
        "current": [current(h) for h in APP_HOSTS],
        "active": [active(h) for h in APP_HOSTS],
        "history": [len(history(h)) for h in APP_HOSTS],
        "schema": sql("SELECT version, dirty FROM schema_migrations"),
        "messages": sql("SELECT count(*) FROM cs_messages"),
        "lock": exists(APP_HOSTS[0], LOCK),
        "backups": in_host("ai-cs-db", "ls", BACKUPS),
    }


@pytest.fixture(scope="module", autouse=True)
def upgraded(fresh_lab):
    """v1.1.0 serving, upgraded from v1.0.0 (so its backup exists), with an earlier config kept."""
    backup = in_host("ai-cs-db", "bash", "-c", f"ls {BACKUPS}/{DB}-v1.0.0-to-v1.1.0-*.pgc", check=False)
    if not backup.strip() or current(APP_HOSTS[0]) != "releases/v1.1.0":
        playbook("deploy", version="v1.0.0")
        playbook("deploy", version="v1.1.0")
    if not exists(APP_HOSTS[0], f"{RELEASES}/v1.1.0/ai-customer-service.env.previous"):
        playbook("deploy", version="v1.1.0", ai_cs_log_level="debug")
        playbook("deploy", version="v1.1.0")
    yield
    print_times("rollback wall times in the lab")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"version": "v1.0.0;touch /tmp/pwned"}, "refused: it must look like v1.2.3"),
        ({"version": "v9.9.9"}, "rollback target v9.9.9 is neither on disk on ai-cs-app1"),
        ({"version": "v1.0.0", "restore_backup": "auto; rm -rf /"}, "restore_backup must be auto or the absolute"),
        ({"version": "v1.0.0", "restore_backup": "auto", "migrate_down": True}, "choose one"),
    ],
)
def test_bad_requests_are_refused_with_nothing_changed(variables, expected):
    before = state()
    proc = rollback(check=False, **variables)
    assert proc.returncode != 0 and expected in said(proc) and "Nothing was changed" in said(proc)
    if variables["version"] == "v9.9.9":
        assert "unknown version v9.9.9: ai-customer-service-v9.9.9-linux-amd64.tar.gz is not in" in said(proc)
    assert state() == before
    assert not exists(APP_HOSTS[0], "/tmp/pwned")


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [("verify_timeout", "abc", "verify_timeout must be a whole number from 1 to 3600"),
     ("verify_timeout", "-5", "verify_timeout must be a whole number from 1 to 3600"),
     ("loadbalancer_drain_timeout", "soon", "loadbalancer_drain_timeout must be a whole number from 1 to 3600")],
)  # fmt: skip
def test_a_bad_setting_of_a_later_step_is_refused_before_any_host_is_contacted(setting, value, problem):
    """The switch's settings are checked with the request, on the controller, with nothing changed yet.

    Checked where the step ran instead, a bad verify setting failed on the first host after it was drained, switched
    and restarted, then failed its go-back's verification too, leaving it out of rotation; -e verify_timeout=-5 was
    accepted and the deploy changed the hosts (issue 36 item 15).
    """
    before = state()
    runs = [in_host(h, "systemctl", "show", "-P", "InvocationID", "ai-customer-service") for h in APP_HOSTS]
    proc = rollback(check=False, version="v1.0.0", **{setting: value})
    assert proc.returncode != 0, said(proc)
    assert f"rollback refused: {problem}" in said(proc) and f'got "{value}"' in said(proc)
    assert "Nothing was changed" in said(proc)
    assert state() == before
    assert [in_host(h, "systemctl", "show", "-P", "InvocationID", "ai-customer-service") for h in APP_HOSTS] == runs


def test_check_mode_says_what_it_would_do_and_changes_nothing():
    before = state()
    envs = [env_of(h, "v1.1.0") for h in APP_HOSTS]
    proc = rollback("--check", version="v1.0.0", restore_backup="auto", confirm_data_loss=DB)
    assert "point current at v1.0.0 (now v1.1.0), restart and verify it" in said(proc)
    assert f"would stop the service on {', '.join(APP_HOSTS)}, dump {DB} as a safety backup, then restore" in said(proc)
    assert state() == before and [env_of(h, "v1.1.0") for h in APP_HOSTS] == envs


def test_target_listed_but_without_its_artifact_is_refused():
    """Neither on disk nor downloadable: listed in SHA256SUMS, but the file is not on the artifact server.

    A directory of build/artifacts (the server's, mounted read-only) with only the SHA256SUMS line, so the real
    artifacts stay untouched for whatever else runs beside this test.
    """
    name = "ai-customer-service-v1.1.1-fixture.contract-migration-linux-amd64.tar.gz"
    listed_only = ROOT / "build/artifacts/listed-only"
    listed_only.mkdir(exist_ok=True)
    sums = (ROOT / "build/artifacts/SHA256SUMS").read_text().splitlines()
    (listed_only / "SHA256SUMS").write_text("".join(f"{line}\n" for line in sums if line.endswith(name)))
    for host in APP_HOSTS:  # an earlier suite may have deployed it: not on disk, for this test
        in_host(host, "rm", "-rf", f"{RELEASES}/v1.1.1-fixture.contract-migration")
    before = state()
    proc = rollback(
        "-e",
        "ai_cs_artifact_base_url=http://ai-cs-artifacts:8000/listed-only",
        check=False,
        version="v1.1.1-fixture.contract-migration",
    )
    assert proc.returncode != 0
    assert "is neither on disk on ai-cs-app1" in proc.stdout
    assert "is in SHA256SUMS but the file answered 404" in proc.stdout
    assert state() == before


def test_config_only_rollback_brings_back_the_earlier_config_then_changes_nothing(tmp_path):
    previous = in_host(APP_HOSTS[0], "cat", f"{RELEASES}/v1.1.0/ai-customer-service.env.previous")
    serving = env_of(APP_HOSTS[0], "v1.1.0")
    assert previous != serving, "the fixture left an earlier config behind"
    receiver = Receiver()
    try:
        with under_load("config-only rollback", tmp_path) as load:
            proc = rollback(config_only=True, ai_cs_notify=[{"url": f"{receiver.url}/ops", "secret": "rb/+=@%"}])
        (event,) = receiver.events("/ops", secret="rb/+=@%")  # the signature checked
    finally:
        receiver.close()
    assert event["event"] == "rollback" and event["version"] == "v1.1.0" and event["result"] == "success"
    assert event["switched"] == APP_HOSTS and "rollback v1.1.0 done" in event["text"]
    assert load["failed"] == 0, f"each host is drained before it restarts: {failures(load)}"
    assert "the earlier config of v1.1.0" in proc.stdout
    for host in APP_HOSTS:
        assert env_of(host, "v1.1.0") == previous
        assert in_host(host, "cat", f"{RELEASES}/v1.1.0/ai-customer-service.env.before-rollback") == serving
        assert current(host) == "releases/v1.1.0" and active(host) == "active"
        assert history(host)[-1]["operation"] == "rollback-config" and history(host)[-1]["result"] == "success"
    again = rollback(config_only=True)
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in recap(again.stdout).values())


def test_a_code_rollback_dumps_the_database_beside_its_switch_under_load(tmp_path):
    """issue 38 item 1, runbook 6.1 step 3 ("optional, recommended"): a plain code rollback takes a safety backup by
    default, dumped while the batches switch (the rollback keeps the schema), sealed before the lock is released,
    recorded and named in the summary; -e rollback_backup=false takes none."""
    with under_load("code rollback with its safety backup", tmp_path) as load:
        proc = rollback(version="v1.0.0")
    assert load["failed"] == 0, failures(load)
    named = rf"safety backup: ai-cs-db:(\S+/{DB}-v1\.1\.0-to-v1\.0\.0-\S+\.pgc) \([^)]*\), dumped beside the switch"
    taken = re.search(named, said(proc))
    assert taken, said(proc)[-3000:]
    out = proc.stdout
    started = out.index("TASK [backup : start | Dump, verify and seal")
    switched = out.index("TASK [pipeline : switch | Swap, restart, verify and record")
    waited = out.index("TASK [backup : wait | Wait for pg_dump (started before the switch)")
    released = out.rindex("TASK [deploy_lock : release")
    assert started < switched < waited < released, "dumped beside the switch, sealed before the lock went"
    assert "| safety backup wait + seal " in said(proc)
    checked = in_host("ai-cs-db", "bash", "-c", f"cd {BACKUPS} && sha256sum -c {taken[1]}.sha256")
    assert checked.strip().endswith(": OK")
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.0.0" and active(host) == "active"
        assert history(host)[-1]["backup"] == taken[1]
    assert not exists(APP_HOSTS[0], LOCK)
    report = json.loads((ROOT / "build/runs/latest.json").read_text())  # issue 37 item 4: the run's report
    assert (report["operation"], report["version"], report["result"]) == ("rollback", "v1.0.0", "success")
    assert report["backup"]["file"] == taken[1] and report["options"]["rollback_backup"] is True
    assert {h: r["outcome"] for h, r in report["hosts"].items()} == dict.fromkeys(APP_HOSTS, "switched")
    assert "safety backup: ai-cs-db:" in report["summary"]
    dumps = in_host("ai-cs-db", "ls", BACKUPS)
    back = rollback(version="v1.1.0", rollback_backup=False)
    assert "safety backup: none (rollback_backup=false)" in said(back)
    assert in_host("ai-cs-db", "ls", BACKUPS) == dumps, "no dump with rollback_backup=false"
    assert [current(h) for h in APP_HOSTS] == ["releases/v1.1.0"] * len(APP_HOSTS)


def test_restore_needs_the_confirmation_and_loses_only_what_came_after_the_backup_and_shows_no_secret():
    # auto: the newest backup taken when v1.0.0 was left
    backup = in_host("ai-cs-db", "bash", "-c", f"ls -t {BACKUPS}/{DB}-v1.0.0-to-*.pgc | head -1").strip()
    # the schema version inside the dump (1 after test_deploy's v1.0.0 -> v1.1.0 upgrade)
    copy = in_host("ai-cs-db", "pg_restore", "--data-only", "--table=schema_migrations", "--file=-", backup)
    dumped_schema = int(copy.split("FROM stdin;\n", 1)[1].split("\t", 1)[0])
    in_dump = in_host("ai-cs-db", "pg_restore", "--data-only", "--table=cs_messages", "--file=-", backup)
    rows = in_dump.split("FROM stdin;\n", 1)[1].split("\\.\n", 1)[0].splitlines()
    dumped_ids = {row.split("\t")[2] for row in rows}  # id, session_id, message_id, ...
    message_id = f"after-backup-{time.time_ns()}"
    assert webhook(message_id)["status"] == "accepted"

    before = state()
    refused = rollback(check=False, version="v1.0.0", restore_backup="auto")
    assert refused.returncode != 0
    assert f"restoring {backup}" in refused.stdout and "is LOST (" in refused.stdout
    assert f"confirm_data_loss={DB}" in refused.stdout and "Nothing was changed" in refused.stdout
    assert state() == before and stored(message_id) == "1"

    wrong = rollback(check=False, version="v1.0.0", restore_backup="auto", confirm_data_loss="yes")
    assert wrong.returncode != 0 and state() == before

    # at -vvv: the widest path (snapshot config, safety backup, restore, switch, verify) shows no secret
    proc = rollback("-vvv", version="v1.0.0", restore_backup="auto", confirm_data_loss=DB)
    assert not leaked(proc.stdout, proc.stderr), "leaked at -vvv"
    assert f"database RESTORED from {backup}" in proc.stdout
    assert stored(message_id) == "0"
    now_ids = set(sql("SELECT message_id FROM cs_messages").split())
    assert dumped_ids <= now_ids, "every message the dump holds is back"
    assert all(i.startswith("smoke-") for i in now_ids - dumped_ids), "besides them only the rollback's smoke test"
    assert sql("SELECT version, dirty FROM schema_migrations") == f"{dumped_schema}|f"
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.0.0" and active(host) == "active"
        last = history(host)[-1]
        assert last["restored"] == backup and last["schema_version"] == dumped_schema
    safety = last["backup"]
    assert "-v1.1.0-to-v1.0.0-" in safety, "a fresh safety backup was taken before the restore"
    checked = in_host("ai-cs-db", "bash", "-c", f"cd {BACKUPS} && sha256sum -c {safety}.sha256")
    assert checked.strip().endswith(": OK")
    assert webhook(f"after-restore-{time.time_ns()}")["status"] == "accepted"


def serving() -> dict:
    return {"current": [current(h) for h in APP_HOSTS], "active": [active(h) for h in APP_HOSTS]}


def test_a_dba_table_is_left_alone_and_a_failed_restore_leaves_the_fleet_serving_and_the_database_as_it_was():
    """issue 36 item 7. On main at 44cd21b: with public.dba_notes (the superuser's) in the database, the rollback with
    a restore stopped the service on every app host, its safety dump failed with 'permission denied for table
    dba_notes', and the run ended with both app hosts stopped and a fix text about free disk space."""
    as_superuser("CREATE TABLE public.dba_notes (note text); INSERT INTO public.dba_notes VALUES ('keep me')")
    try:
        playbook("deploy", version="v1.1.0")  # its backup holds what the service owns, without dba_notes
        message_id = f"before-failed-restore-{time.time_ns()}"
        assert webhook(message_id)["status"] == "accepted"

        # another role's view on a service table: the restore's DROP of cs_messages fails half-way through
        as_superuser("CREATE VIEW public.dba_recent AS SELECT message_id FROM public.cs_messages")
        before = {
            **serving(),
            "schema": sql("SELECT version, dirty FROM schema_migrations"),
            "messages": sql("SELECT count(*) FROM cs_messages"),
        }
        failed = rollback(check=False, version="v1.0.0", restore_backup="auto", confirm_data_loss=DB)
        assert failed.returncode != 0
        assert "because other objects depend on it" in said(failed)
        assert "neither finished, so the database is as it was" in said(failed)
        assert f"The service was started again on {', '.join(APP_HOSTS)}, on the release it served (v1.1.0)" in said(
            failed
        )
        assert "check free space in" not in said(failed), "the fix names the real cause, not the disk"
        after = {
            **serving(),
            "schema": sql("SELECT version, dirty FROM schema_migrations"),
            "messages": sql("SELECT count(*) FROM cs_messages"),
        }
        assert after == before and stored(message_id) == "1"
        assert webhook(f"after-failed-restore-{time.time_ns()}")["status"] == "accepted", "the fleet serves"

        # a failure before the restore (the safety dump cannot be written) also leaves the fleet serving
        early = rollback(
            check=False,
            version="v1.0.0",
            restore_backup="auto",
            confirm_data_loss=DB,
            backup_dir="/proc/ai-cs-no-such-dir",
        )
        assert early.returncode != 0 and "The service was started again on" in said(early)
        assert serving() == {k: before[k] for k in ("current", "active")}

        as_superuser("DROP VIEW public.dba_recent")
        proc = rollback(version="v1.0.0", restore_backup="auto", confirm_data_loss=DB)
        assert "database RESTORED from" in proc.stdout
        assert as_superuser("SELECT note FROM public.dba_notes") == "keep me", "another role's table is left alone"
        assert as_superuser("SELECT tableowner FROM pg_tables WHERE tablename = 'dba_notes'") == "postgres"
        assert serving() == {"current": ["releases/v1.0.0"] * 2, "active": ["active"] * 2}
    finally:
        as_superuser("DROP VIEW IF EXISTS public.dba_recent; DROP TABLE IF EXISTS public.dba_notes")


def test_contract_migration_is_refused_then_migrated_down():
    playbook("deploy", version="v1.1.1-fixture.contract-migration")
    assert sql("SELECT version FROM schema_migrations") == "3"
    before = state()
    refused = rollback(check=False, version="previous")  # previous = v1.0.0, the release it replaced
    assert refused.returncode != 0
    assert "v1.0.0 needs schema 1 and the database is at 3" in refused.stdout
    assert "-e migrate_down=true" in refused.stdout and "-e restore_backup=auto" in refused.stdout
    assert {k: v for k, v in state().items() if k != "history"} == {k: v for k, v in before.items() if k != "history"}

    # issue 36 item 8: the down files drop data, so they ask for the restore's typed confirmation, naming what is lost
    unconfirmed = rollback(check=False, version="v1.1.0", migrate_down=True)
    assert unconfirmed.returncode != 0
    assert "runs 0003_fixture_contract.down.sql, which drop table cs_fixture_contract (" in said(unconfirmed)
    assert f"-e confirm_data_loss={DB}" in said(unconfirmed) and "Nothing was changed" in said(unconfirmed)
    assert {k: v for k, v in state().items() if k != "history"} == {k: v for k, v in before.items() if k != "history"}

    proc = rollback(version="v1.1.0", migrate_down=True, confirm_data_loss=DB)
    assert "migrated down: 0003_fixture_contract.down.sql (schema 3 -> 2)" in proc.stdout
    assert sql("SELECT version, dirty FROM schema_migrations") == "2|f"
    assert sql("SELECT to_regclass('cs_fixture_contract') IS NULL") == "t"
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.1.0" and active(host) == "active"


def test_partly_broken_host_is_repaired_and_the_healthy_one_left_alone():
    broken = APP_HOSTS[1]
    in_host(broken, "systemctl", "stop", "ai-customer-service")
    in_host(broken, "ln", "-sfn", "releases/v0.0.1-gone", "/opt/ai-customer-service/current")
    proc = rollback(version="v1.1.0")
    assert "ai-cs-app1: serving v1.1.0 (no change)" in proc.stdout
    assert recap(proc.stdout)["ai-cs-app1"]["failed"] == 0
    assert current(broken) == "releases/v1.1.0" and active(broken) == "active"
    assert webhook(f"after-repair-{time.time_ns()}")["status"] == "accepted"


def mark_database(comment: str | None) -> None:
    """Set the database's environment marker as its owner would: COMMENT ON DATABASE."""
    as_superuser(
        f"COMMENT ON DATABASE {DB} IS " + ("NULL" if comment is None else "'" + comment.replace("'", "''") + "'")
    )


def rows() -> str:
    return sql(
        "SELECT (SELECT count(*) FROM cs_messages) + (SELECT count(*) FROM cs_sessions)"
        " + (SELECT count(*) FROM cs_audit_logs) + (SELECT count(*) FROM cs_message_dedup)"
    )


def test_dev_reset_is_refused_unless_development_and_confirmed():
    before = state()
    refused = playbook("reset-dev-data", check=False, confirm_reset=DB)
    assert refused.returncode != 0 and "The inventory says ai_cs_env=production" in said(refused)
    # -e ai_cs_env=development does not talk it round: the serving release still says production
    overridden = playbook("reset-dev-data", check=False, confirm_reset=DB, ai_cs_env="development")
    assert overridden.returncode != 0 and "the serving release runs AI_CS_ENV=production" in said(overridden)
    assert "Nothing was changed" in said(overridden) and state() == before


# Every input the guards before the database's own check read, as -e can give them (extra vars outrank facts and
# registered results): the inventory's environment, the serving release's (a fact of the prepare step), the list the
# guard builds, the request the confirmation is compared with, and the marker read before the backup.
GUARD_INPUTS = {
    "ai_cs_env": "development",
    "pipeline_serving_env": "development",
    "__pipeline_envs": ["development", "development"],
    "__pipeline_request": {"confirm": DB, "restore_backup": "", "batches": 1},
    "__pipeline_reset_marker": {"query_result": [{"db": DB, "marker": "ai_cs_env=development"}]},
}


def test_dev_reset_of_a_production_database_truncates_nothing_whatever_extra_vars_say():
    """issue 36 item 1: on main at 44cd21b the first run below exited 0 and truncated every row (2,238 -> 0)."""
    assert int(rows()) > 0 and sql(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
    ) in {"", "ai_cs_env=production"}
    attempts = [
        {"ai_cs_env": "development", "pipeline_serving_env": "development"},  # the command
        *({name: value} for name, value in GUARD_INPUTS.items()),  # each input alone
        GUARD_INPUTS,  # all of them at once: every check before the database's own passes
    ]
    for extra in attempts:
        before = rows()
        proc = playbook("reset-dev-data", check=False, confirm_reset=DB, **extra)
        assert proc.returncode != 0, f"-e {extra}: the reset ran"
        assert rows() == before, f"-e {extra}: rows were truncated"
    # with every other guard talked round, the database's own marker is what refused, and it said so
    assert f"database {DB} is not marked as a development database" in said(proc)
    assert "Nothing was changed" in said(proc)


def test_dev_reset_truncates_after_a_backup_when_development_and_confirmed():
    env = "/opt/ai-customer-service/current/ai-customer-service.env"
    for host in APP_HOSTS:  # the serving config says development (the guard reads it; no restart needed)
        in_host(host, "sed", "-i", 's/^AI_CS_ENV=.*/AI_CS_ENV="development"/', env)
    mark_database("ai_cs_env=development")  # as role postgresql marks a database it creates for development
    try:
        unconfirmed = playbook("reset-dev-data", check=False, ai_cs_env="development")
        assert unconfirmed.returncode != 0 and f"-e confirm_reset={DB}" in said(unconfirmed)
        assert sql("SELECT count(*) > 0 FROM cs_messages") == "t"
        proc = playbook("reset-dev-data", confirm_reset=DB, ai_cs_env="development")
    finally:
        mark_database("ai_cs_env=production")
        for host in APP_HOSTS:
            in_host(host, "sed", "-i", 's/^AI_CS_ENV=.*/AI_CS_ENV="production"/', env)
    assert "truncated; backup first" in proc.stdout
    assert rows() == "0" and sql("SELECT version, dirty FROM schema_migrations") == "2|f"
    assert in_host("ai-cs-db", "bash", "-c", f"ls {BACKUPS}/{DB}-development-to-reset-*.pgc").strip()
    assert not exists(APP_HOSTS[0], LOCK)


def verified(host: str, which: str) -> float:
    """ai_cs_webhook_verified_total{secret=which} on one app host's /metrics."""
    text = in_host(host, "curl", "-sf", "http://127.0.0.1:8080/metrics")
    found = re.search(rf'^ai_cs_webhook_verified_total{{secret="{which}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else -1.0


def test_a_rotated_webhook_secret_keeps_the_old_one_for_its_window_under_load(tmp_path):
    """issue 38 item 2 (runbook 6.2's secret, made safe to rotate): a deploy that changes the webhook secret keeps the
    one it replaces for ai_cs_webhook_rotation_window_seconds. Under load from an upstream still signing with the old
    secret (scripts/probe.py reads the lab's secret file, which the rotation does not touch): no CS_AUTH_4034 while the
    window is open, each host counts those calls as verified by the previous secret, the new secret works at once,
    and once the window closes the old secret is refused. Then -e include_secrets=true with config_only puts the old
    secret back (runbook 6.2) and says the vault differs. A window of 0 closes it (the lab's secret back)."""
    old, new, window = secret("webhook_secret"), "rotated/+=@%" + secret("webhook_secret")[::-1], 120
    try:
        with under_load("webhook secret rotation", tmp_path, webhook_share=0.5) as load:
            # a config change too (the log level), so the config rollback below has an earlier config to put back
            proc = playbook("deploy", version="v1.1.0", ai_cs_webhook_secret=new, ai_cs_log_level="debug",
                            ai_cs_webhook_rotation_window_seconds=window)  # fmt: skip
            assert webhook(f"new-secret-{time.time_ns()}", key=new)["status"] == "accepted"
            # haproxy takes turns: both hosts, switched, answer the old secret within the window
            assert all(webhook(f"old-{n}-{time.time_ns()}", key=old)["status"] == "accepted" for n in range(8))
        assert proc.returncode == 0, said(proc)[-2000:]
        until = re.search(r"signing with the previous one are accepted until (\S+Z)", said(proc))
        assert until, said(proc)[-2000:]  # the summary says when the window closes: stage time + window
        closes = calendar.timegm(time.strptime(until.group(1), "%Y-%m-%dT%H:%M:%SZ"))
        assert 0 < closes - time.time() <= window
        assert load["failed"] == 0, f"the old secret was refused inside its window: {failures(load)}"
        assert load["webhooks"] >= 50, load
        for host in APP_HOSTS:
            assert verified(host, "previous") > 0, f"{host} counted no call verified by the previous secret"
        assert not leaked(proc.stdout, proc.stderr)
        time.sleep(max(0.0, closes - time.time()) + 2)
        late = [webhook(f"old-secret-late-{n}-{time.time_ns()}", key=old) for n in range(6)]
        assert all(r.get("code") == "CS_AUTH_4034" for r in late), late
        # runbook 6.2's move: the config rollback with the secrets it served before (the vault still says new)
        back = playbook("rollback", config_only=True, include_secrets=True, ai_cs_webhook_secret=new)
        assert back.returncode == 0, said(back)[-2000:]
        assert "the earlier secrets (secrets.env.previous) serve now, NOT the vault's" in said(back)
        assert not leaked(back.stdout, back.stderr)
        assert webhook(f"old-secret-back-{time.time_ns()}", key=old)["status"] == "accepted"
        assert webhook(f"new-secret-gone-{time.time_ns()}", key=new).get("code") == "CS_AUTH_4034"
    finally:
        playbook("deploy", version="v1.1.0", ai_cs_webhook_rotation_window_seconds=0)
    for host in APP_HOSTS:
        held = in_host(host, "grep", "-c", "AI_CS_WEBHOOK_SECRET_PREVIOUS", "/etc/ai-customer-service/secrets.env",
                       check=False)  # fmt: skip
        assert held.strip() == "0", "a window of 0 leaves no previous secret on the host"
    assert webhook(f"lab-secret-back-{time.time_ns()}")["status"] == "accepted"
