"""ai_cs_restore through Ansible against a real PostgreSQL: a sealed dump restored over the service's own objects in one
transaction, another role's table left alone, and every refusal or failure leaving the database as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from ansible_run import run_module
from pgcluster import APP_PASSWORD, APP_USER
from svc import apply_migrations, unpack


@pytest.fixture
def db(pg, artifacts, tmp_path):
    """A migrated database with one session, one message and a DBA's own table (the superuser's), dumped the way the
    backup role dumps it (what the service's role owns) and sealed; then a message and a table made after the dump."""
    name = f"restore_{tmp_path.name[-8:]}".replace("-", "_")
    pg.create_database(name)
    conn = pg.connect(name)
    apply_migrations(conn, unpack(artifacts, "v1.1.0", tmp_path), 2)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO cs_sessions (id, channel, open_id) VALUES (1, 'c', 'o')")
        cur.execute(
            "INSERT INTO cs_messages (session_id, message_id, channel, content) VALUES (1, 'in-dump', 'c', 'x')"
        )
    conn.close()
    pg.admin_sql("CREATE TABLE public.dba_notes (note text); INSERT INTO public.dba_notes VALUES ('keep me')", name)
    dump = tmp_path / f"{name}-v1.0.0-to-v1.1.0-20261206T000000Z.pgc"
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(pg.port), "PGUSER": APP_USER,
           "PGPASSWORD": APP_PASSWORD, "PGDATABASE": name, "PGSSLMODE": "disable"}  # fmt: skip
    subprocess.run(["pg_dump", "--format=custom", '--exclude-table="public"."dba_notes"', f"--file={dump}"], env=env,
                   check=True)  # fmt: skip
    dump.with_name(dump.name + ".sha256").write_text(f"{hashlib.sha256(dump.read_bytes()).hexdigest()}  {dump.name}\n")
    conn = pg.connect(name)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO cs_messages (session_id, message_id, channel, content) VALUES (1, 'later', 'c', 'x')")
        cur.execute("CREATE TABLE cs_later (id int)")
    conn.close()
    return {"name": name, "dump": dump}


def restore(pg, db, **extra):
    args = {"file": str(db["dump"]), "host": "127.0.0.1", "port": pg.port, "db": db["name"], "user": APP_USER,
            "password": APP_PASSWORD, "ssl_mode": "disable", "confirm_data_loss": db["name"], **extra}  # fmt: skip
    return run_module("ai_cs_restore", args, verbosity=3)


def looks(pg, db) -> dict:
    rows = lambda sql: [r[0] for r in pg.admin_sql(sql, db["name"])]  # noqa: E731 - a local shorthand
    return {
        "messages": sorted(rows("SELECT message_id FROM cs_messages")),
        "later": rows("SELECT to_regclass('cs_later') IS NOT NULL")[0],
        "dba": rows("SELECT note FROM dba_notes"),
    }


def test_a_restore_brings_the_dump_back_drops_what_came_after_and_leaves_another_roles_table(pg, db):
    result, output = restore(pg, db)
    assert not result.get("failed"), result.get("msg")
    assert APP_PASSWORD not in output, "the password never shows, at -vvv either"
    assert result["dropped_tables"] == ["cs_later"] and result["schema_version"] == 2
    assert looks(pg, db) == {"messages": ["in-dump"], "later": False, "dba": ["keep me"]}


@pytest.mark.parametrize("confirm", ["", "yes", "other_db"])
def test_without_the_databases_name_nothing_is_restored(pg, db, confirm):
    before = looks(pg, db)
    result, _ = restore(pg, db, confirm_data_loss=confirm)
    assert result.get("failed") and "everything written since the dump is LOST" in result["msg"]
    assert f"confirm_data_loss={db['name']}" in result["msg"] and looks(pg, db) == before


def test_a_dump_that_does_not_match_its_checksum_is_refused(pg, db):
    before = looks(pg, db)
    with db["dump"].open("ab") as dump:
        dump.write(b"\0")
    result, _ = restore(pg, db)
    assert result.get("failed") and "does not match its .sha256" in result["msg"] and looks(pg, db) == before


def test_a_restore_failing_half_way_leaves_the_database_as_it_was(pg, db):
    """Another role's view on one of the service's tables: the restore's DROP of it fails after other objects were
    dropped and recreated in the same transaction, which is rolled back whole."""
    pg.admin_sql("CREATE VIEW public.dba_recent AS SELECT message_id FROM public.cs_messages", db["name"])
    before = looks(pg, db)
    result, _ = restore(pg, db)
    assert result.get("failed") and "because other objects depend on it" in result["msg"]
    assert "nothing was committed" in result["msg"] and "The database is as it was" in result["msg"]
    assert looks(pg, db) == before


def test_check_mode_says_what_it_would_drop_and_changes_nothing(pg, db):
    before = looks(pg, db)
    result, _ = run_module("ai_cs_restore", {"file": str(db["dump"]), "host": "127.0.0.1", "port": pg.port,
                           "db": db["name"], "user": APP_USER, "password": APP_PASSWORD, "ssl_mode": "disable",
                           "confirm_data_loss": db["name"]}, check=True)  # fmt: skip
    assert result["dropped_tables"] == ["cs_later"] and looks(pg, db) == before
    assert Path(db["dump"]).exists()


def lock_table(pg, db) -> None:
    pg.admin_sql(
        "CREATE SCHEMA IF NOT EXISTS ai_cs_ops; CREATE TABLE IF NOT EXISTS ai_cs_ops.deploy_lock (id boolean PRIMARY "
        "KEY DEFAULT true, run_id text NOT NULL, expires_at timestamptz NOT NULL)",
        db["name"],
    )
    pg.admin_sql("GRANT USAGE ON SCHEMA ai_cs_ops TO ai_cs; GRANT ALL ON ai_cs_ops.deploy_lock TO ai_cs", db["name"])


@pytest.mark.parametrize("lease", ["now() - interval '1 s'", None])
def test_a_run_that_no_longer_holds_the_deploy_lock_restores_nothing(pg, db, lease):
    """issue 36 item 3: the lease is a fencing token, checked in the restore's own transaction."""
    lock_table(pg, db)
    if lease:
        pg.admin_sql(f"INSERT INTO ai_cs_ops.deploy_lock (run_id, expires_at) VALUES ('r-1', {lease})", db["name"])  # noqa: S608
    before = looks(pg, db)
    result, _ = restore(pg, db, fence_run_id="r-1")
    assert result.get("failed") and "this run (r-1) no longer holds the deploy lock" in result["msg"], result
    assert looks(pg, db) == before


def test_a_run_that_holds_the_deploy_lock_restores(pg, db):
    lock_table(pg, db)
    pg.admin_sql("INSERT INTO ai_cs_ops.deploy_lock (run_id, expires_at) VALUES ('r-1', now() + interval '60 s')",
                 db["name"])  # fmt: skip
    result, _ = restore(pg, db, fence_run_id="r-1")
    assert not result.get("failed"), result.get("msg")
    assert looks(pg, db)["messages"] == ["in-dump"]
