"""A real, throwaway PostgreSQL 15 cluster for tests: initdb into a temp dir, password auth over TCP."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

PG_BIN = Path(os.environ.get("AI_CS_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
APP_USER = "ai_cs"
APP_PASSWORD = "lab-test-password"  # test cluster only, never a deployed secret
APP_DB = "ai_customer_service"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgCluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ai-cs-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self.owner = "postgres" if os.geteuid() == 0 else None
        if self.owner:
            os.chown(self.root, pwd.getpwnam(self.owner).pw_uid, -1)
        self._run(
            PG_BIN / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        self.start()
        self.admin_sql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
        self.create_database(APP_DB)

    def _run(self, *args: object) -> None:
        cmd = [str(a) for a in args]
        if self.owner:
            cmd = ["runuser", "-u", self.owner, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def start(self) -> None:
        self._run(
            PG_BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.root / "server.log",
            "-w",
            "-t",
            "30",
            "start",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def admin_conn(self, dbname: str = "postgres") -> psycopg2.extensions.connection:
        conn = psycopg2.connect(host=str(self.root), port=self.port, user="postgres", dbname=dbname)
        conn.autocommit = True
        return conn

    def admin_sql(self, sql: str, dbname: str = "postgres") -> list[tuple]:
        conn = self.admin_conn(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        self.admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin_sql(f'CREATE DATABASE "{name}" OWNER {APP_USER}')
        return name

    def dsn(self, dbname: str = APP_DB, password: str = APP_PASSWORD) -> str:
        return f"postgres://{APP_USER}:{password}@127.0.0.1:{self.port}/{dbname}?sslmode=disable"

    def connect(self, dbname: str = APP_DB) -> psycopg2.extensions.connection:
        return psycopg2.connect(self.dsn(dbname))

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.connect().close()
                return
            except psycopg2.OperationalError:
                time.sleep(0.2)
        raise TimeoutError("PostgreSQL did not come back")
