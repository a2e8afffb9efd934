"""Start-up fails fast with the runbook's texts (section 二 and 三)."""

from __future__ import annotations

import socket

import pytest
from pgcluster import free_port
from svc import prod_env


def assert_fails_with(svc, text: str) -> None:
    assert svc.wait_exit() != 0
    error_lines = [line for line in svc.log.splitlines() if "\tERROR\t" in line]
    assert error_lines, svc.log
    assert text in error_lines[0], svc.log


def test_production_without_postgres_enabled_refuses_memory_fallback(start, pg, database):
    env = prod_env(pg, database, AI_CS_POSTGRES_ENABLED="false")
    assert_fails_with(start("v1.1.0", env, wait=False), "memory fallback is not allowed")


def test_production_without_dsn(start, pg, database):
    env = prod_env(pg, database)
    del env["AI_CS_POSTGRES_DSN"]
    assert_fails_with(start("v1.1.0", env, wait=False), "AI_CS_POSTGRES_DSN is required")


def test_port_taken_names_the_real_address(start, pg, migrated):
    db = migrated(2)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        svc = start("v1.1.0", prod_env(pg, db), wait=False, port=port)
        assert_fails_with(svc, f"listen tcp 127.0.0.1:{port}: bind: address already in use")


def test_postgres_down_is_connection_refused(start, pg, database):
    env = prod_env(pg, database)
    env["AI_CS_POSTGRES_DSN"] = env["AI_CS_POSTGRES_DSN"].replace(f":{pg.port}/", f":{free_port()}/")
    assert_fails_with(start("v1.1.0", env, wait=False), "pq: connection refused")


def test_wrong_password(start, pg, database):
    env = prod_env(pg, database, AI_CS_POSTGRES_DSN=pg.dsn(database, password="wrong"))
    svc = start("v1.1.0", env, wait=False)
    assert_fails_with(svc, "pq: password authentication failed")
    assert "wrong" not in svc.log  # the DSN's password is never logged


def test_tables_missing(start, pg, database):
    assert_fails_with(start("v1.1.0", prod_env(pg, database), wait=False), 'pq: relation "cs_sessions" does not exist')


def test_fixture_crash_at_start_exits_non_zero(start, pg, migrated):
    svc = start("v1.1.1-fixture.crash-at-start", prod_env(pg, migrated(2)), wait=False)
    assert_fails_with(svc, "fixture build: crash at start")


@pytest.mark.parametrize("env_name", ["test", "development"])
def test_memory_store_outside_production(start, env_name):
    svc = start("v1.1.0", {"AI_CS_ENV": env_name, "AI_CS_POSTGRES_ENABLED": "false", "AI_CS_WEBHOOK_SECRET": "s"})
    code, body = svc.get("/ready")
    assert code == 200
    assert body["components"] == {"store": "UP"}


def test_version_flag(releases):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, str(releases("v1.0.0") / "ai-customer-service"), "--version"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "ai-customer-service v1.0.0"
    assert (releases("v1.0.0") / "VERSION").read_text().strip() == "v1.0.0"


def test_a_previous_secret_without_the_end_of_its_window_is_refused(start, pg, database):
    env = prod_env(pg, database, AI_CS_WEBHOOK_SECRET_PREVIOUS="old/+=@%secret")
    assert_fails_with(start("v1.1.0", env, wait=False), "invalid AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL ''")
