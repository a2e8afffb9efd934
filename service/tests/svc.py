"""Run a built release of the service as a real process for tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from pgcluster import PgCluster, free_port

SECRET = "test-secret-123"  # the runbook's example secret


def unpack(artifacts: Path, version: str, dest: Path) -> Path:
    target = dest / version
    if not target.exists():
        with tarfile.open(artifacts / f"ai-customer-service-{version}-linux-amd64.tar.gz") as tar:
            tar.extractall(target, filter="data")
    return target


def apply_migrations(conn, release_dir: Path, upto: int) -> None:
    """Plain golang-migrate-style apply for test set-up (the pg_migrate module has its own tests)."""
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)")
        for path in sorted((release_dir / "db" / "migration").glob("*.up.sql")):
            number = int(path.name.split("_", 1)[0])
            if number <= upto:
                cur.execute(path.read_text())
        cur.execute("DELETE FROM schema_migrations")
        cur.execute("INSERT INTO schema_migrations VALUES (%s, false)", (upto,))


class Service:
    def __init__(self, release_dir: Path, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = release_dir.parent / f"service-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AI_CS_")}
        full_env.update({"AI_CS_ADDR": f"127.0.0.1:{self.port}", **env})
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(release_dir / "ai-customer-service")],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_exit(self, timeout: float = 15) -> int:
        return self.proc.wait(timeout)

    def wait_live(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited {self.proc.returncode}:\n{self.log}")
            try:
                if self.get("/live")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"service not live after {timeout}s:\n{self.log}")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw, code = resp.read(), resp.status
        except urllib.error.HTTPError as err:
            raw, code = err.read(), err.code
        try:
            return code, json.loads(raw)
        except ValueError:
            return code, raw.decode()

    def get(self, path: str):
        return self.request("GET", path)

    def post_webhook(self, body: str, timestamp: str | None, signature: str | None):
        headers = {"Content-Type": "application/json"}
        if timestamp is not None:
            headers["X-CS-Timestamp"] = timestamp
        if signature is not None:
            headers["X-CS-Signature"] = signature
        return self.request("POST", "/api/v1/customer-service/webhook", body.encode(), headers)

    def metric(self, name: str, **labels: str) -> float:
        _, text = self.get("/metrics")
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        pattern = "^" + re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)$"
        match = re.search(pattern, text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def prod_env(pg: PgCluster, database: str, **extra: str) -> dict[str, str]:
    return {
        "AI_CS_ENV": "production",
        "AI_CS_POSTGRES_ENABLED": "true",
        "AI_CS_POSTGRES_DSN": pg.dsn(database),
        "AI_CS_WEBHOOK_SECRET": SECRET,
        "AI_CS_LOG_LEVEL": "info",
        **extra,
    }


def count(pg: PgCluster, db: str, sql: str, *args: object) -> int:
    """The first column of the first row of a query on the test database."""
    conn = pg.connect(db)
    with conn, conn.cursor() as cur:
        cur.execute(sql, args)
        value = cur.fetchone()[0]
    conn.close()
    return value
