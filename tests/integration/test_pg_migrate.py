"""pg_migrate through Ansible against a real PostgreSQL."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from pathlib import Path

import pytest
from ansible_run import run_module
from pgcluster import APP_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "service" / "db" / "migration"
FAILING = ROOT / "service" / "fixtures" / "migration" / "0003_fixture_fails_partway.up.sql"
_names = itertools.count(1)


@pytest.fixture
def db(pg):
    return pg.create_database(f"mig_test_{next(_names)}")


@pytest.fixture
def release(tmp_path):
    """A copy of the service's migrations that a test may extend or edit."""
    target = tmp_path / "migration"
    shutil.copytree(MIGRATIONS, target)
    return target


def query(pg, db, sql, *args):
    conn = pg.connect(db)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def state(pg, db):
    if query(pg, db, "SELECT to_regclass('schema_migrations')") == [(None,)]:
        return None
    rows = query(pg, db, "SELECT version, dirty FROM schema_migrations")
    return rows[0] if rows else None


def migrate(pg, db, path, **extra):
    check = extra.pop("check", False)
    return run_module("pg_migrate", {"path": str(path), "dsn": pg.dsn(db), **extra}, check=check)[0]


def test_fresh_database_then_idempotent(pg, db, release):
    result = migrate(pg, db, release)
    assert not result.get("failed"), result
    assert result["changed"] and result["version_before"] is None and result["version_after"] == 2
    assert [a["file"] for a in result["applied"]] == ["0001_init.up.sql", "0002_ticket_priority.up.sql"]
    assert state(pg, db) == (2, False)
    assert query(pg, db, "SELECT version FROM schema_migrations_checksums ORDER BY 1") == [(1,), (2,)]
    again = migrate(pg, db, release)
    assert not again["changed"] and again["applied"] == [] and again["direction"] == "none"


def test_partly_migrated_applies_only_the_rest(pg, db, release):
    assert migrate(pg, db, release, target_version=1, confirm_data_loss=db)["version_after"] == 1
    result = migrate(pg, db, release)
    assert [a["version"] for a in result["applied"]] == [2]
    assert state(pg, db) == (2, False)


def test_failing_migration_leaves_version_and_data_unchanged(pg, db, release):
    migrate(pg, db, release)
    query(pg, db, "INSERT INTO cs_sessions (open_id, channel) VALUES ('u', 'widget')")
    query(pg, db, "INSERT INTO cs_tickets (session_id, message_id, reason) SELECT id, 'm', 'handoff' FROM cs_sessions")
    shutil.copy(FAILING, release)
    result = migrate(pg, db, release)
    assert result["failed"]
    assert "0003_fixture_fails_partway.up.sql failed: ERROR:  division by zero" in result["msg"]
    assert "schema version stays 2 and is not dirty" in result["msg"]
    assert state(pg, db) == (2, False)
    assert query(pg, db, "SELECT to_regclass('cs_fixture_partial')") == [(None,)]
    assert query(pg, db, "SELECT status FROM cs_tickets") == [("open",)]
    assert query(pg, db, "SELECT version FROM schema_migrations_checksums WHERE version = 3") == []


def test_a_create_the_schemas_owner_refuses_fails_with_the_runbooks_row_and_changes_nothing(pg, db, release):
    """issue 38 item 3: another role owns the schema, so the service's role may not create tables in it. A run with
    nothing to do still passes (the bookkeeping tables exist); a migration that creates a table fails with the
    runbook's permission row (section 三), and the version and data stay as they were."""
    migrate(pg, db, release)
    pg.admin_sql("ALTER SCHEMA public OWNER TO CURRENT_USER; REVOKE CREATE ON SCHEMA public FROM PUBLIC", db)
    nothing = migrate(pg, db, release)
    assert not nothing.get("failed") and not nothing["changed"], nothing
    shutil.copy(FAILING, release)
    result = migrate(pg, db, release)
    assert result["failed"] and "permission denied for schema public" in result["msg"], result
    assert "cause: the database user may not create tables (runbook: pq: permission denied)" in result["msg"]
    assert "fix: make ai_cs own the ai_customer_service database (or a superuser), then deploy again" in result["msg"]
    assert "schema version stays 2 and is not dirty" in result["msg"]
    assert state(pg, db) == (2, False)
    assert query(pg, db, "SELECT to_regclass('cs_fixture_partial')") == [(None,)]


@pytest.mark.parametrize(("atomic", "kept"), [(False, 2), (True, 1)])
def test_several_pending_and_the_last_fails(pg, db, release, atomic, kept):
    """Per-file transactions keep what succeeded; atomic keeps the database exactly as before the run."""
    migrate(pg, db, release, target_version=1, confirm_data_loss=db)
    shutil.copy(FAILING, release)
    result = migrate(pg, db, release, atomic=atomic)
    assert result["failed"] and f"schema version stays {kept} and is not dirty" in result["msg"]
    assert state(pg, db) == (kept, False)
    has_priority = query(pg, db, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'priority'")
    assert has_priority == [(1 if kept == 2 else 0,)]


def test_changed_applied_file_is_refused(pg, db, release):
    migrate(pg, db, release)
    (release / "0001_init.up.sql").write_text("-- edited after it was applied\nSELECT 1;")
    (release / "0003_next.up.sql").write_text("CREATE TABLE cs_next (id int);")
    result = migrate(pg, db, release)
    assert result["failed"] and "0001_init.up.sql has changed since it was applied" in result["msg"]
    assert query(pg, db, "SELECT to_regclass('cs_next')") == [(None,)]
    assert state(pg, db) == (2, False)


def test_check_mode_lists_pending_and_changes_nothing(pg, db, release):
    result = migrate(pg, db, release, check=True)
    assert result["changed"] and result["pending"] == ["0001_init.up.sql", "0002_ticket_priority.up.sql"]
    assert query(pg, db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    migrate(pg, db, release, target_version=1, confirm_data_loss=db)
    result = migrate(pg, db, release, check=True)
    assert result["pending"] == ["0002_ticket_priority.up.sql"] and result["version_after"] == 2
    assert state(pg, db) == (1, False)


def test_down_to_a_target(pg, db, release):
    migrate(pg, db, release)
    result = migrate(pg, db, release, target_version=1, confirm_data_loss=db)
    assert result["direction"] == "down"
    assert [a["file"] for a in result["applied"]] == ["0002_ticket_priority.down.sql"]
    assert state(pg, db) == (1, False)
    assert query(pg, db, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'priority'") == [(0,)]
    assert query(pg, db, "SELECT version FROM schema_migrations_checksums") == [(1,)]
    assert migrate(pg, db, release)["applied"][0]["version"] == 2  # and up again


@pytest.mark.parametrize("check", [False, True])
def test_down_without_the_typed_confirmation_is_refused_naming_what_it_would_drop(pg, db, release, check):
    """issue 36 item 8: the .down.sql files dropped data without the confirmation a restore asks for."""
    migrate(pg, db, release)
    query(pg, db, "INSERT INTO cs_sessions (id, channel, open_id) VALUES (1, 'c', 'o')")
    query(pg, db, "INSERT INTO cs_tickets (session_id, message_id, reason, priority) VALUES (1, 'm', 'r', 'high')")
    for confirm in ("", "yes", "other_db"):
        result = migrate(pg, db, release, target_version=1, confirm_data_loss=confirm, check=check)
        assert result["failed"], result
        assert f"migrating {db} down to schema 1 runs 0002_ticket_priority.down.sql" in result["msg"]
        assert "column cs_tickets.priority (1 rows with a value)" in result["msg"]
        assert "column cs_messages.content_length (0 rows with a value)" in result["msg"]
        assert f"-e confirm_data_loss={db}" in result["msg"] and "Nothing was changed" in result["msg"]
    assert state(pg, db) == (2, False)
    assert query(pg, db, "SELECT priority FROM cs_tickets") == [("high",)]


def test_down_without_down_files_is_refused_before_anything(pg, db, release):
    migrate(pg, db, release)
    (release / "0002_ticket_priority.down.sql").unlink()
    result = migrate(pg, db, release, target_version=1, confirm_data_loss=db)
    assert result["failed"] and "no .down.sql for versions [2]" in result["msg"]
    assert state(pg, db) == (2, False)


def test_dirty_database_is_refused_with_the_fix(pg, db, release):
    migrate(pg, db, release, target_version=1, confirm_data_loss=db)
    query(pg, db, "UPDATE schema_migrations SET dirty = true")
    result = migrate(pg, db, release)
    assert result["failed"] and "is dirty at version 1" in result["msg"] and "migrate force" in result["msg"]
    assert state(pg, db) == (1, True)


def test_a_held_lock_makes_the_second_runner_wait_then_fail_naming_it(pg, db, release):
    from ansible.module_utils.ai_cs_migrate import advisory_lock_id

    holder = pg.connect(db)
    holder.set_session(autocommit=True)
    with holder.cursor() as cur:
        cur.execute("SET application_name = 'other-migrator'")
        cur.execute("SELECT pg_advisory_lock(%s), pg_backend_pid()", (advisory_lock_id(db),))
        pid = cur.fetchone()[1]
    try:
        result = migrate(pg, db, release, lock_timeout=2)
        assert result["failed"]
        assert f"advisory lock {advisory_lock_id(db)}" in result["msg"]
        assert f"pid {pid} (other-migrator" in result["msg"] and "waited 2s" in result["msg"]
        assert state(pg, db) is None
    finally:
        holder.close()
    assert migrate(pg, db, release)["version_after"] == 2


def test_two_concurrent_runners_do_not_interleave(pg, db, release):
    """Runner A is held inside its last migration (by a gate lock this test holds) while runner B starts: B must
    wait on the migration lock, then find nothing left. Ordered by what PostgreSQL shows, not by sleeps that a
    loaded machine stretches."""
    gate = 424242
    (release / "0003_slow.up.sql").write_text(f"SELECT pg_advisory_xact_lock({gate});\nCREATE TABLE cs_slow (id int);")
    holder, watcher = pg.connect(db), pg.connect(db)
    holder.set_session(autocommit=True)
    watcher.set_session(autocommit=True)

    def one(sql: str, *args):
        with watcher.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()

    def until(sql: str, *args, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while not (row := one(sql, *args)) or row[0] is None:
            assert time.monotonic() < deadline, f"timed out waiting for: {sql} {args}"
            time.sleep(0.05)
        return row[0]

    results: dict[str, dict] = {}
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (gate,))
    try:
        # the statement lock timeout off: A waits on the gate as long as the test holds it (this is about the
        # migration lock; a loaded machine can take longer than the 5 s default to start B)
        first = threading.Thread(
            target=lambda: results.update(first=migrate(pg, db, release, statement_lock_timeout=0))
        )
        first.start()
        first_pid = until(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted", gate
        )  # A holds the migration lock and sits in 0003
        known = (first_pid, holder.get_backend_pid(), watcher.get_backend_pid())
        second = threading.Thread(target=lambda: results.update(second=migrate(pg, db, release)))
        second.start()
        until("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> ALL(%s)", list(known))
        time.sleep(2)  # B is connected; let it try the migration lock a few times (every 0.5 s) while A holds it
    finally:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (gate,))
        holder.close()
        watcher.close()
    first.join()
    second.join()
    assert not results["first"].get("failed") and not results["second"].get("failed"), results
    assert len(results["first"]["applied"]) == 3, "A applies all three"
    assert results["second"]["applied"] == [], "B finds nothing left"
    assert results["second"]["lock_wait_seconds"] >= 0.5, "B waited on the lock (at least one refused try)"
    assert state(pg, db) == (3, False)


def test_no_secret_in_output_at_vvv(pg, db, release):
    result, output = run_module("pg_migrate", {"path": str(release), "dsn": pg.dsn(db)}, verbosity=3)
    assert not result.get("failed"), result
    assert APP_PASSWORD not in output
    bad, output = run_module(
        "pg_migrate", {"path": str(release), "dsn": pg.dsn(db, password="Wr0ng-Pa55")}, verbosity=3
    )
    assert bad["failed"] and "password authentication failed" in bad["msg"]
    assert "Wr0ng-Pa55" not in output


def test_login_options_instead_of_dsn(pg, db, release):
    result = run_module(
        "pg_migrate",
        {
            "path": str(release),
            "login_host": "127.0.0.1",
            "login_port": pg.port,
            "login_user": "ai_cs",
            "login_password": APP_PASSWORD,
            "db": db,
        },
    )[0]
    assert result["version_after"] == 2, result


def hold_a_table(pg, db, table: str):
    """Another session in a transaction that read the table: an ALTER TABLE must wait for it to end."""
    holder = pg.connect(db)
    with holder.cursor() as cur:
        cur.execute("SET application_name = 'long-report'")
        cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - the test's own table name
    return holder  # its transaction stays open until rollback() or close()


def test_a_migration_behind_a_long_transaction_gives_up_instead_of_blocking(pg, db, release):
    migrate(pg, db, release, target_version=1, confirm_data_loss=db)
    holder = hold_a_table(pg, db, "cs_tickets")
    # Not a timed assertion (a starved machine took 10.2 s for the 0.5 s + 2 s + 0.5 s): a migration that blocked
    # instead of giving up would get the table once the holder ends, 60 s on, and succeed.
    ends = threading.Timer(60, holder.close)
    ends.start()
    try:
        result = migrate(pg, db, release, statement_lock_timeout=0.5, lock_retries=1, atomic=True)
        assert result.get("failed") and "waited 0.5 s for a table lock and gave up" in result["msg"], result
        assert "pg_stat_activity" in result["msg"] and "schema version stays 1 and is not dirty" in result["msg"]
        assert state(pg, db) == (1, False)
        # while the migration waited, other sessions' queries on the table were not blocked for longer than the bound
        reader = pg.connect(db)
        with reader.cursor() as cur:
            cur.execute("SET statement_timeout = '2s'")
            cur.execute("SELECT count(*) FROM cs_tickets")
        reader.close()
    finally:
        ends.cancel()
        holder.close()
    retried = migrate(pg, db, release, statement_lock_timeout=0.5)
    assert not retried.get("failed") and retried["attempts"] == 1 and state(pg, db) == (2, False)


def test_a_lock_freed_while_retrying_lets_the_migration_through(pg, db, release):
    migrate(pg, db, release, target_version=1, confirm_data_loss=db)
    holder = hold_a_table(pg, db, "cs_tickets")
    watcher = pg.connect(db)
    watcher.set_session(autocommit=True)

    def waiting() -> int:
        with watcher.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE c.relname = 'cs_tickets' AND NOT l.granted"
            )
            return cur.fetchone()[0]

    def free_after_the_first_refusal():
        """Ordered by what PostgreSQL shows, not by a timer a loaded machine outruns: the table is freed once the
        first attempt has waited on it and given up."""
        deadline = time.monotonic() + 120
        for wanted in (True, False):  # the first attempt waits, then gives up
            while (waiting() > 0) != wanted and time.monotonic() < deadline:
                time.sleep(0.02)
        holder.close()
        watcher.close()

    freer = threading.Thread(target=free_after_the_first_refusal)
    freer.start()
    result = migrate(pg, db, release, statement_lock_timeout=0.5, lock_retries=3)
    freer.join()
    assert not result.get("failed"), result
    assert result["attempts"] >= 2 and state(pg, db) == (2, False)


def test_a_file_with_its_own_commit_is_refused_before_anything(pg, db, release):
    migrate(pg, db, release)
    (release / "0003_own_tx.up.sql").write_text("BEGIN;\nCREATE TABLE cs_own (id int);\nCOMMIT;\n")
    result = migrate(pg, db, release, atomic=True)
    assert result["failed"] and "0003_own_tx.up.sql has its own transaction control (BEGIN)" in result["msg"]
    assert query(pg, db, "SELECT to_regclass('cs_own')") == [(None,)] and state(pg, db) == (2, False)


def test_expand_then_contract_phases(pg, db, release):
    migrate(pg, db, release, target_version=1, confirm_data_loss=db)
    (release / "0003_contract.up.sql").write_text("-- ai-cs: contract\nALTER TABLE cs_tickets DROP COLUMN reason;\n")
    planned = migrate(pg, db, release, phase="expand", check=True)
    assert planned["pending"] == ["0002_ticket_priority.up.sql"]
    assert planned["contract_pending"] == ["0003_contract.up.sql"]
    expanded = migrate(pg, db, release, phase="expand")
    assert [a["version"] for a in expanded["applied"]] == [2] and expanded["contract_pending"] == [
        "0003_contract.up.sql"
    ]
    assert state(pg, db) == (2, False)
    contracted = migrate(pg, db, release, phase="contract")
    assert [a["version"] for a in contracted["applied"]] == [3] and contracted["contract_pending"] == []
    assert state(pg, db) == (3, False)


LOCK = """CREATE SCHEMA IF NOT EXISTS ai_cs_ops;
CREATE TABLE IF NOT EXISTS ai_cs_ops.deploy_lock (id boolean PRIMARY KEY DEFAULT true, run_id text NOT NULL,
    owner jsonb NOT NULL DEFAULT '{}', taken_at timestamptz NOT NULL DEFAULT now(),
    renewed_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL);"""


@pytest.mark.parametrize(("holder", "expires"), [("this-run", "now() - interval '1 s'"),
                                                 ("other-run", "now() + interval '900 s'")])  # fmt: skip
def test_a_run_that_no_longer_holds_the_deploy_lock_migrates_nothing(pg, db, release, holder, expires):
    """issue 36 item 3: a run whose lease expired (a step outlasted it), or was taken over by another run, went on to
    migrate. The lease is a fencing token, checked in the migration's own transaction."""
    migrate(pg, db, release, target_version=1)
    query(pg, db, LOCK)
    query(pg, db, f"INSERT INTO ai_cs_ops.deploy_lock (run_id, expires_at) VALUES ('{holder}', {expires})")  # noqa: S608
    result = migrate(pg, db, release, fence_run_id="this-run")
    assert result["failed"] and "this run (this-run) no longer holds the deploy lock" in result["msg"], result
    assert "Nothing was migrated" in result["msg"] and state(pg, db) == (1, False)


def test_a_run_that_holds_the_deploy_lock_migrates(pg, db, release):
    migrate(pg, db, release, target_version=1)
    query(pg, db, LOCK)
    query(pg, db, "INSERT INTO ai_cs_ops.deploy_lock (run_id, expires_at) VALUES ('this-run', now() + interval '60 s')")
    assert not migrate(pg, db, release, fence_run_id="this-run").get("failed")
    assert state(pg, db) == (2, False)
