"""ai_cs_backup through Ansible against a real PostgreSQL: what the service's role owns dumped, verified and sealed;
another role's table left out; nothing left by a failure; the run's lease renewed while a slow pg_dump runs."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from pathlib import Path

import pytest
from ansible_run import run_module
from pgcluster import APP_PASSWORD, APP_USER
from svc import apply_migrations, unpack

LOCK = (
    "CREATE SCHEMA IF NOT EXISTS ai_cs_ops AUTHORIZATION ai_cs; CREATE TABLE IF NOT EXISTS ai_cs_ops.deploy_lock "
    "(id boolean PRIMARY KEY DEFAULT true, run_id text NOT NULL, renewed_at timestamptz NOT NULL DEFAULT now(), "
    "expires_at timestamptz NOT NULL); ALTER TABLE ai_cs_ops.deploy_lock OWNER TO ai_cs"
)


@pytest.fixture
def db(pg, artifacts, tmp_path):
    name = f"backup_{tmp_path.name[-8:]}".replace("-", "_")
    pg.create_database(name)
    conn = pg.connect(name)
    apply_migrations(conn, unpack(artifacts, "v1.1.0", tmp_path), 2)
    conn.close()
    pg.admin_sql("CREATE TABLE public.dba_notes (note text); INSERT INTO public.dba_notes VALUES ('keep me')", name)
    pg.admin_sql(LOCK, name)
    return name


def backup(pg, db, tmp_path, **extra):
    args = {"file": str(tmp_path / "dumps" / f"{db}-v1.0.0-to-v1.1.0-20261206T000000Z.pgc"), "host": "127.0.0.1",
            "port": pg.port, "db": db, "user": APP_USER, "password": APP_PASSWORD, "ssl_mode": "disable",
            "exclude_schemas": ["ai_cs_ops"], **extra}  # fmt: skip
    return run_module("ai_cs_backup", args, verbosity=3)


def test_what_the_service_owns_is_dumped_verified_and_sealed_and_not_taken_twice(pg, db, tmp_path):
    result, output = backup(pg, db, tmp_path)
    assert not result.get("failed"), result.get("msg")
    assert APP_PASSWORD not in output, "the password never shows, at -vvv either"
    dump = Path(result["file"])
    assert (
        dump.with_name(dump.name + ".sha256").read_text()
        == f"{hashlib.sha256(dump.read_bytes()).hexdigest()}  {dump.name}\n"
    )
    assert result["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest() and dump.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "dumps").stat().st_mode & 0o777 == 0o700
    again, _ = backup(pg, db, tmp_path)
    assert again["changed"] is False and again["sha256"] == result["sha256"], "a sealed dump is not taken again"


def test_another_roles_table_and_the_bookkeeping_stay_out(pg, db, tmp_path):
    result, _ = backup(pg, db, tmp_path)
    listing = subprocess.run(["pg_restore", "--list", result["file"]], capture_output=True, text=True, check=True)
    assert "TABLE public cs_messages" in listing.stdout
    assert "dba_notes" not in listing.stdout and "ai_cs_ops" not in listing.stdout


def test_a_failed_dump_leaves_nothing_and_says_why(pg, db, tmp_path):
    result, output = backup(pg, db, tmp_path, password="wrong/+=@%")
    assert result.get("failed") and "password authentication failed" in result["msg"]
    assert "fix: compare the password" in result["msg"] and "Nothing was left behind" in result["msg"]
    assert "wrong/+=@%" not in output
    assert not list((tmp_path / "dumps").glob("*")), "nothing left behind"


def test_a_slow_dump_renews_the_runs_lease_while_it_runs(pg, db, tmp_path):
    """issue 36 item 3: the lease was renewed before the dump and not during it; a dump longer than the lease let
    another run take the lock while the first went on."""
    pg.admin_sql("INSERT INTO ai_cs_ops.deploy_lock (run_id, expires_at) VALUES ('r-1', now() + interval '3 s')", db)
    held = threading.Event()

    def renewed_at():
        return pg.admin_sql("SELECT renewed_at FROM ai_cs_ops.deploy_lock WHERE run_id = 'r-1'", db)

    def hold_a_table() -> None:
        """pg_dump waits for its lock on cs_messages until the lease has been renewed three times (at least 3 s at
        one renewal a second, longer than the 3 s lease) whatever the machine's load; 60 s at most."""
        conn = pg.admin_conn(db)
        with conn.cursor() as cur:
            cur.execute("BEGIN; LOCK TABLE cs_messages IN ACCESS EXCLUSIVE MODE")
            held.set()
            seen, deadline = {str(renewed_at())}, time.monotonic() + 60
            while len(seen) < 4 and time.monotonic() < deadline:
                time.sleep(0.2)
                seen.add(str(renewed_at()))
        conn.rollback()
        conn.close()

    holder = threading.Thread(target=hold_a_table)
    holder.start()
    held.wait(10)
    result, _ = backup(pg, db, tmp_path, fence_run_id="r-1", lease_seconds=3)
    holder.join()
    assert not result.get("failed"), result.get("msg")
    assert result["renewals"] >= 2, result
    alive = pg.admin_sql("SELECT expires_at > now() FROM ai_cs_ops.deploy_lock WHERE run_id = 'r-1'", db)
    assert alive == [(True,)], "the lease outlived a dump longer than itself"


def test_a_lease_taken_over_during_the_dump_fails_the_backup_leaving_nothing(pg, db, tmp_path):
    pg.admin_sql("INSERT INTO ai_cs_ops.deploy_lock (run_id, expires_at) VALUES ('r-1', now() + interval '3 s')", db)
    held = threading.Event()

    def hold_then_take_over() -> None:
        """Another run takes the lock over; pg_dump then waits for its table 3 s more (three renewals' time) once it
        is seen waiting, however long the module took to start."""
        conn = pg.admin_conn(db)
        with conn.cursor() as cur:
            cur.execute("BEGIN; LOCK TABLE cs_messages IN ACCESS EXCLUSIVE MODE")
            held.set()
            pg.admin_sql("UPDATE ai_cs_ops.deploy_lock SET run_id = 'taker'", db)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not pg.admin_sql(
                "SELECT 1 FROM pg_locks WHERE relation = 'cs_messages'::regclass AND NOT granted", db
            ):
                time.sleep(0.2)
            time.sleep(3)
        conn.rollback()
        conn.close()

    holder = threading.Thread(target=hold_then_take_over)
    holder.start()
    held.wait(10)
    result, _ = backup(pg, db, tmp_path, fence_run_id="r-1", lease_seconds=3)
    holder.join()
    assert result.get("failed") and "this run (r-1) no longer holds the deploy lock" in result["msg"], result
    assert not list((tmp_path / "dumps").glob("*"))
