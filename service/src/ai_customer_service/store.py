"""Storage: PostgreSQL (production) or an in-memory store (test and development only)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

REQUIRED_TABLES = ("cs_sessions", "cs_messages", "cs_tickets", "cs_audit_logs", "cs_message_dedup")
HANDOFF = re.compile(r"human|agent|person|转人工|人工|客服", re.IGNORECASE)
URGENT = re.compile(r"urgent|asap|紧急|投诉", re.IGNORECASE)


class StoreError(Exception):
    """A database failure, worded like the Go service's lib/pq errors (the runbook's texts)."""


@dataclass(frozen=True)
class Message:
    channel: str
    message_id: str
    open_id: str
    content: str
    sent_at: str | None


def pq_error(exc: BaseException) -> str:  # noqa: PLR0911 - one return per runbook error text
    """Map a psycopg2 error to the lib/pq text the runbook's tables list."""
    pgerror = getattr(exc, "pgerror", None)
    text = str(pgerror or exc).strip()
    lowered = text.lower()
    if "connection refused" in lowered:
        return "pq: connection refused"
    match = re.search(r'password authentication failed for user "([^"]+)"', text)
    if match:
        return f'pq: password authentication failed for user "{match.group(1)}"'
    match = re.search(r'relation "([^"]+)" does not exist', text)
    if match:
        return f'pq: relation "{match.group(1)}" does not exist'
    match = re.search(r'database "([^"]+)" does not exist', text)
    if match:
        return f'pq: database "{match.group(1)}" does not exist'
    if "could not translate host name" in lowered:
        return "pq: no such host"
    if "timeout expired" in lowered or "timed out" in lowered:
        return "pq: connection timed out"
    if "permission denied" in lowered:
        return "pq: permission denied"
    first = text.splitlines()[0] if text else type(exc).__name__
    return "pq: " + re.sub(r"^(FATAL|ERROR):\s+", "", first)


class MemoryStore:
    """Test/development store: same semantics as PostgreSQL, nothing persisted."""

    kind = "memory"

    def __init__(self, features: frozenset[str]) -> None:
        self.features = features
        self._lock = threading.Lock()
        self.sessions: dict[str, int] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.tickets: list[dict[str, Any]] = []
        self.audit: list[dict[str, Any]] = []

    def check_startup(self, required_schema: int) -> None:
        return None

    def health(self, required_schema: int) -> dict[str, Any]:
        return {"status": "UP", "store": "memory"}

    def accept(self, msg: Message, remote: str) -> dict[str, Any]:
        with self._lock:
            if msg.message_id in self.messages:
                self.audit.append({"event": "webhook.duplicate", "message_id": msg.message_id})
                existing = self.messages[msg.message_id]
                return {"duplicate": True, "session_id": existing["session_id"], "ticket_id": None}
            session_id = self.sessions.setdefault(msg.open_id, len(self.sessions) + 1)
            self.messages[msg.message_id] = {"session_id": session_id, "content": msg.content}
            ticket_id = None
            if HANDOFF.search(msg.content):
                ticket_id = len(self.tickets) + 1
                self.tickets.append({"id": ticket_id, "session_id": session_id, "message_id": msg.message_id})
            self.audit.append({"event": "webhook.accepted", "message_id": msg.message_id})
            return {"duplicate": False, "session_id": session_id, "ticket_id": ticket_id}

    def record_reject(self, code: str, remote: str) -> None:
        with self._lock:
            self.audit.append({"event": "webhook.rejected", "code": code, "remote_addr": remote})

    def ticket_count(self) -> int:
        return len(self.tickets)

    def close(self) -> None:
        return None


class PostgresStore:
    kind = "postgres"

    def __init__(self, dsn: str, features: frozenset[str], max_connections: int = 16) -> None:
        import psycopg2  # noqa: PLC0415 - only needed when PostgreSQL is enabled
        import psycopg2.pool  # noqa: PLC0415

        self._psycopg2 = psycopg2
        self.dsn = dsn
        self.features = features
        self._slots = threading.BoundedSemaphore(max_connections)
        self._pool = psycopg2.pool.ThreadedConnectionPool(
            0, max_connections, dsn, connect_timeout=3, application_name="ai-customer-service"
        )

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        """A pooled connection in a transaction; a broken one is dropped, never reused."""
        psycopg2 = self._psycopg2
        with self._slots:
            try:
                conn = self._pool.getconn()
            except psycopg2.Error as exc:
                raise StoreError(pq_error(exc)) from exc
            broken = False
            try:
                with conn, conn.cursor() as cur:  # commit on success, roll back on error
                    cur.execute("SET LOCAL statement_timeout = 5000")
                    yield cur
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                broken = True
                raise StoreError(pq_error(exc)) from exc
            except psycopg2.Error as exc:
                raise StoreError(pq_error(exc)) from exc
            finally:
                self._pool.putconn(conn, close=broken or bool(conn.closed))

    def check_startup(self, required_schema: int) -> None:
        """Fail fast like the Go service: unreachable, bad credentials or tables missing."""
        with self._conn() as cur:
            for table in REQUIRED_TABLES:
                cur.execute(f"SELECT 1 FROM {table} LIMIT 0")  # noqa: S608 - fixed table names

    def schema_state(self, cur: Any) -> tuple[int | None, bool]:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None, False
        cur.execute("SELECT version, dirty FROM schema_migrations LIMIT 1")
        row = cur.fetchone()
        return (int(row[0]), bool(row[1])) if row else (None, False)

    def health(self, required_schema: int) -> dict[str, Any]:
        try:
            with self._conn() as cur:
                cur.execute("SELECT 1")
                version, dirty = self.schema_state(cur)
        except StoreError as exc:
            return {"status": "DOWN", "error": str(exc)}
        detail: dict[str, Any] = {"status": "UP", "schema_version": version, "required_schema_version": required_schema}
        if dirty:
            detail.update(status="DOWN", error=f"schema version {version} is dirty")
        elif version is None or version < required_schema:
            detail.update(status="DOWN", error=f"schema version {version} is older than required {required_schema}")
        return detail

    def accept(self, msg: Message, remote: str) -> dict[str, Any]:
        with self._conn() as cur:
            cur.execute(
                "INSERT INTO cs_message_dedup (message_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING message_id",
                (msg.message_id,),
            )
            if cur.fetchone() is None:
                cur.execute("SELECT session_id FROM cs_messages WHERE message_id = %s", (msg.message_id,))
                row = cur.fetchone()
                self._audit(cur, "webhook.duplicate", None, msg.message_id, remote)
                return {"duplicate": True, "session_id": row[0] if row else None, "ticket_id": None}
            cur.execute(
                "INSERT INTO cs_sessions (open_id, channel) VALUES (%s, %s) "
                "ON CONFLICT (open_id) DO UPDATE SET updated_at = now() RETURNING id",
                (msg.open_id, msg.channel),
            )
            session_id = cur.fetchone()[0]
            if "ticket_priority" in self.features:
                cur.execute(
                    "INSERT INTO cs_messages (session_id, message_id, channel, content, sent_at, content_length) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (session_id, msg.message_id, msg.channel, msg.content, msg.sent_at, len(msg.content)),
                )
            else:
                cur.execute(
                    "INSERT INTO cs_messages (session_id, message_id, channel, content, sent_at) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    (session_id, msg.message_id, msg.channel, msg.content, msg.sent_at),
                )
            ticket_id = None
            if HANDOFF.search(msg.content):
                if "ticket_priority" in self.features:
                    priority = "high" if URGENT.search(msg.content) else "normal"
                    cur.execute(
                        "INSERT INTO cs_tickets (session_id, message_id, reason, priority) "
                        "VALUES (%s, %s, 'handoff', %s) RETURNING id",
                        (session_id, msg.message_id, priority),
                    )
                else:
                    cur.execute(
                        "INSERT INTO cs_tickets (session_id, message_id, reason) "
                        "VALUES (%s, %s, 'handoff') RETURNING id",
                        (session_id, msg.message_id),
                    )
                ticket_id = cur.fetchone()[0]
            self._audit(cur, "webhook.accepted", None, msg.message_id, remote)
            return {"duplicate": False, "session_id": session_id, "ticket_id": ticket_id}

    def record_reject(self, code: str, remote: str) -> None:
        with self._conn() as cur:
            self._audit(cur, "webhook.rejected", code, None, remote)

    @staticmethod
    def _audit(cur: Any, event: str, code: str | None, message_id: str | None, remote: str) -> None:
        cur.execute(
            "INSERT INTO cs_audit_logs (event, code, message_id, remote_addr) VALUES (%s, %s, %s, %s)",
            (event, code, message_id, remote),
        )

    def ticket_count(self) -> int:
        with self._conn() as cur:
            cur.execute("SELECT count(*) FROM cs_tickets")
            return int(cur.fetchone()[0])

    def close(self) -> None:
        self._pool.closeall()
