# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migrations in golang-migrate's layout, applied safely.

Pure parts (discovery, checksums, planning, the advisory lock id) are separate from the database
runner so they can be unit-tested. The runner keeps golang-migrate's schema_migrations table
(version bigint, dirty boolean) so the service's own migrator agrees with it, and adds: one
transaction per migration together with its version update, an advisory lock with a timeout,
refusal of a dirty database, and a checksum per applied file.
"""

from __future__ import annotations

import hashlib
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible.module_utils.ai_cs_runbook import match as runbook_match

FILE_RE = re.compile(r"^(?P<version>\d+)_(?P<name>[A-Za-z0-9_.-]+?)\.(?P<direction>up|down)\.sql$")
ADVISORY_LOCK_SALT = 1486364155  # golang-migrate's advisoryLockIDSalt
# A migration that changes or drops what older releases read says so on a line of its own; expand/contract:
# deploy applies it only after every app host runs the new release, and rollback refuses to cross it.
CONTRACT_MARKER = "-- ai-cs: contract"
PHASES = ("all", "expand", "contract")
# What the SQL text is cut into to find top-level statements: comments, quoted strings and identifiers,
# dollar-quoted bodies (a function's BEGIN ... END is not transaction control), and everything else.
_SQL_TOKENS = re.compile(
    r"(?P<comment>--[^\n]*|/\*.*?\*/)|(?P<quoted>'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")"
    r"|(?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)|(?P<code>[^-/'\"$]+|.)",
    re.DOTALL,
)
_TRANSACTION_CONTROL = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|END|ABORT|START\s+TRANSACTION|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b",
    re.IGNORECASE,
)


def failure_advice(error: str) -> str:
    """'cause: ...; fix: ...' for a migration that failed with error (PostgreSQL's words), by the same judge as
    preflight and diagnose: the runbook's row when one matches (permission denied, relation missing, duplicate key,
    a table of another role's...), else an error in the SQL itself. The migration was rolled back, so even the
    runbook's harmless duplicate key stopped this one."""
    row = runbook_match(error)
    if row is None:
        return (
            "cause: an error in the migration's SQL against this database; fix: correct it in a new release (the "
            "database is as it was before)"
        )
    if row.id == "relation-missing":  # the runbook's fix (apply the migrations) is what just failed
        return (
            f"cause: {row.cause}: a table this migration needs is missing although schema_migrations says the earlier "
            f"migrations ran (dropped by hand, or a restore from another schema) (runbook: {row.symptom}); fix: "
            "compare the database with the release's db/migration and bring the missing table back (ai_cs_restore "
            "from the backup this deploy took), then deploy again"
        )
    if row.severity == "info":
        return (
            f"cause: {row.cause}, but this statement was not (runbook: {row.symptom}); fix: make the migration "
            "idempotent (IF NOT EXISTS, ON CONFLICT DO NOTHING) in a new release (the database is as it was before)"
        )
    return f"cause: {row.cause} (runbook: {row.symptom}); fix: {row.fix}, then deploy again"


class MigrationError(Exception):
    """What failed, the likely cause and the fix, in that order. retryable: nothing was applied and running again
    later may succeed (a lock another transaction held)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout expired
QUERY_CANCELED = "57014"  # statement_timeout expired


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: Path
    down: Path | None
    checksum: str
    contract: bool = False  # marked CONTRACT_MARKER: applied only after every host runs the new release

    @property
    def filename(self) -> str:
        return self.up.name


@dataclass
class Plan:
    direction: str  # "up", "down" or "none"
    current: int | None
    target: int | None
    steps: list[Migration] = field(default_factory=list)
    ahead: bool = False  # the database is newer than this release's files


def file_checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def transaction_control(sql: str) -> str | None:
    """The first top-level BEGIN/COMMIT/ROLLBACK... statement in sql (outside comments, strings and function
    bodies), or None. pg_migrate wraps every migration in a transaction (all pending ones in one when atomic): a
    COMMIT inside would commit half a run that can then no longer be rolled back."""
    code = "".join(m["code"] or " " for m in _SQL_TOKENS.finditer(sql))
    for statement in code.split(";"):
        found = _TRANSACTION_CONTROL.match(statement)
        if found:
            return " ".join(found.group(1).upper().split())
    return None


_DROP_TABLE = re.compile(
    r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<names>.+?)(?:\s+(?:CASCADE|RESTRICT))?\s*$", re.IGNORECASE | re.DOTALL
)
_ALTER_TABLE = re.compile(
    r"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>\"(?:[^\"]|\"\")+\"|[\w.]+)\s+(?P<actions>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_DROP_COLUMN = re.compile(
    r"\bDROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(?P<column>\"(?:[^\"]|\"\")+\"|\w+)", re.IGNORECASE
)


def at_stake(sql: str) -> list[dict[str, str | None]]:
    """What a migration's statements drop, in order: {table, column} (column None for a whole table). Comments,
    strings and function bodies are not statements of the file; identifiers keep their quotes."""
    code = "".join(
        (m["quoted"] if m["quoted"] and m["quoted"].startswith('"') else None) or m["code"] or " "
        for m in _SQL_TOKENS.finditer(sql)
    )
    found: list[dict[str, str | None]] = []
    for statement in code.split(";"):
        if dropped := _DROP_TABLE.match(statement):
            found += [{"table": name.strip(), "column": None} for name in dropped["names"].split(",")]
        elif altered := _ALTER_TABLE.match(statement):
            for action in altered["actions"].split(","):
                if (column := _DROP_COLUMN.search(action)) and not re.match(r"\s*DROP\s+CONSTRAINT", action, re.I):
                    found.append({"table": altered["table"], "column": column["column"]})
    return found


def is_contract(path: Path) -> bool:
    return any(line.strip() == CONTRACT_MARKER for line in path.read_text(encoding="utf-8").splitlines())


def discover(directory: str | Path) -> list[Migration]:
    root = Path(directory)
    if not root.is_dir():
        raise MigrationError(
            f"migration directory {root} does not exist; cause: wrong path or the release was not unpacked; "
            "fix: point path at the release's db/migration directory"
        )
    ups: dict[int, Path] = {}
    downs: dict[int, Path] = {}
    for path in sorted(root.iterdir()):
        if path.suffix != ".sql":
            continue
        match = FILE_RE.match(path.name)
        if not match:
            raise MigrationError(
                f"unrecognised migration file {path.name}; cause: name not in golang-migrate's "
                "NNNN_name.up.sql / NNNN_name.down.sql form; fix: rename it or move it out of the directory"
            )
        version, direction = int(match["version"]), match["direction"]
        bucket = ups if direction == "up" else downs
        if version in bucket:
            raise MigrationError(
                f"two {direction} migrations for version {version} ({bucket[version].name}, {path.name}); "
                "fix: keep exactly one file per version and direction"
            )
        bucket[version] = path
    orphans = sorted(set(downs) - set(ups))
    if orphans:
        raise MigrationError(f"down migrations without an up migration: versions {orphans}; fix: add or remove them")
    return [
        Migration(
            v, FILE_RE.match(ups[v].name)["name"], ups[v], downs.get(v), file_checksum(ups[v]), is_contract(ups[v])
        )
        for v in sorted(ups)
    ]


def plan(
    migrations: list[Migration],
    current: int | None,
    target: int | None,
    applied: dict[int, str],
    phase: str = "all",
) -> Plan:
    """What to run to go from current to target (None = latest); checks applied files are unchanged.

    phase expand stops before the first pending contract migration (what may run while older releases still
    serve); contract runs the rest, all: everything. Pending files with their own transaction control are refused.
    """
    by_version = {m.version: m for m in migrations}
    for version, recorded in sorted(applied.items()):
        m = by_version.get(version)
        if m is not None and m.checksum != recorded:
            raise MigrationError(
                f"applied migration {m.filename} has changed since it was applied "
                f"(recorded sha256 {recorded[:12]}…, file now {m.checksum[:12]}…); cause: an applied migration "
                "was edited; fix: restore the original file and put the change in a new migration"
            )
    latest = migrations[-1].version if migrations else 0
    start = current or 0
    goal = latest if target is None else target
    if target is not None and target != 0 and target not in by_version:
        raise MigrationError(
            f"target version {target} is not among this release's migrations ({sorted(by_version) or 'none'}); "
            "fix: choose one of them, or 0 for an empty schema"
        )
    if goal > start:
        steps = [m for m in migrations if start < m.version <= goal]
        if phase == "expand":
            first_contract = next((i for i, m in enumerate(steps) if m.contract), len(steps))
            steps = steps[:first_contract]
        for m in steps:
            control = transaction_control(m.up.read_text(encoding="utf-8"))
            if control:
                raise MigrationError(
                    f"migration {m.filename} has its own transaction control ({control}); cause: pg_migrate runs "
                    "every migration in a transaction (all pending ones in one), and a COMMIT inside would commit half "
                    "a run that could then not be rolled back; fix: remove BEGIN/COMMIT from the file, it is wrapped "
                    "already (statements that cannot run in a transaction, CREATE INDEX CONCURRENTLY, need a "
                    "migration tool of their own)"
                )
        if not steps:
            return Plan("none", current, current, [])
        return Plan("up", current, steps[-1].version, steps)
    if goal < start:
        if target is None:  # release older than the schema: expand/contract keeps it runnable
            return Plan("none", current, current, [], ahead=True)
        needed = sorted({v for v in by_version if goal < v <= start} | {start}, reverse=True)
        missing = [v for v in needed if v not in by_version or by_version[v].down is None]
        if missing:
            raise MigrationError(
                f"cannot migrate down from {start} to {goal}: no .down.sql for versions {missing}; "
                "cause: the release does not ship reversible migrations for them; "
                "fix: restore the pre-migration backup instead, or keep the schema (expand/contract)"
            )
        return Plan("down", current, goal, [by_version[v] for v in needed])
    return Plan("none", current, current, [])


def advisory_lock_id(database: str, schema: str = "public", table: str = "schema_migrations") -> int:
    """golang-migrate's GenerateAdvisoryLockId(db, schema, table), so both runners exclude each other."""
    joined = "\x00".join([schema, table, database]).encode()
    return (zlib.crc32(joined) * ADVISORY_LOCK_SALT) & 0xFFFFFFFF


class Runner:
    """Applies a Plan on a psycopg2 connection (autocommit off), holding the advisory lock."""

    def __init__(
        self, conn: Any, table: str = "schema_migrations", checksum_table: str = "schema_migrations_checksums"
    ):
        self.conn = conn
        self.lock_timeout = self.statement_timeout = 0.0
        self.fence: tuple[str, str] | None = None  # (lock table, run id): see check_fence
        self.table = table
        self.checksum_table = checksum_table
        with conn.cursor() as cur:
            cur.execute("SELECT current_database(), current_schema()")
            self.database, self.schema = cur.fetchone()
        conn.commit()
        self.lock_id = advisory_lock_id(self.database, self.schema, table)

    # -- locking -----------------------------------------------------------------------------
    def acquire(self, timeout: float, interval: float = 0.5) -> float:
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        while True:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,))
                got = cur.fetchone()[0]
            self.conn.commit()
            if got:
                return time.monotonic() - started
            if time.monotonic() >= deadline:
                raise MigrationError(
                    f"migration lock (PostgreSQL advisory lock {self.lock_id} on {self.database}) is held by "
                    f"{self.holder()}; waited {timeout:g}s; cause: another migration is running; "
                    "fix: wait for it to finish and run again; if that process is gone, end its session with "
                    "SELECT pg_terminate_backend(pid)"
                )
            time.sleep(interval)

    def holder(self) -> str:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start "
                "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s AND l.classid = 0",
                (self.lock_id & 0xFFFFFFFF,),
            )
            row = cur.fetchone()
        self.conn.commit()
        if not row:
            return "another session"
        pid, app, addr, since = row
        who = f"{app or 'no application_name'} from {addr or 'local socket'}"
        return f"pid {pid} ({who}, connected {since:%Y-%m-%d %H:%M:%S%z})"

    def release(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (self.lock_id,))
        self.conn.commit()

    # -- state -------------------------------------------------------------------------------
    def _exists(self, cur: Any, table: str) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        return bool(cur.fetchone()[0])

    def state(self) -> tuple[int | None, bool, dict[int, str]]:
        """(version, dirty, {version: checksum}) without changing anything."""
        with self.conn.cursor() as cur:
            version, dirty, applied = None, False, {}
            if self._exists(cur, self.table):
                cur.execute(f"SELECT version, dirty FROM {self.table} LIMIT 1")  # noqa: S608 - validated name
                row = cur.fetchone()
                if row:
                    version, dirty = int(row[0]), bool(row[1])
            if self._exists(cur, self.checksum_table):
                cur.execute(f"SELECT version, checksum FROM {self.checksum_table}")  # noqa: S608 - validated table name
                applied = {int(v): c for v, c in cur.fetchall()}
        self.conn.commit()
        return version, dirty, applied

    def ensure_tables(self) -> None:
        """The version and checksum tables, created only when missing: CREATE TABLE IF NOT EXISTS still asks for
        CREATE on the schema, which a database whose schema another role owns refuses even with nothing to do."""
        definitions = {
            # golang-migrate's own definition, so its migrator reads the same table.
            self.table: "version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL",
            self.checksum_table: "version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL DEFAULT current_user",
        }
        with self.conn.cursor() as cur:
            for table, columns in definitions.items():
                cur.execute("SELECT to_regclass(%s) IS NULL", (table,))
                if cur.fetchone()[0]:
                    cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        self.conn.commit()

    def adopt(self, migrations: list[Migration], current: int | None, applied: dict[int, str]) -> list[int]:
        """Record checksums of files applied before checksums were kept (e.g. by golang-migrate)."""
        adopted = [m for m in migrations if current is not None and m.version <= current and m.version not in applied]
        with self.conn.cursor() as cur:
            for m in adopted:
                cur.execute(
                    f"INSERT INTO {self.checksum_table} (version, name, checksum) VALUES (%s, %s, %s) "  # noqa: S608 - validated table name
                    "ON CONFLICT (version) DO NOTHING",
                    (m.version, m.filename, m.checksum),
                )
        self.conn.commit()
        return [m.version for m in adopted]

    # -- applying ----------------------------------------------------------------------------
    def _set_version(self, cur: Any, version: int | None) -> None:
        cur.execute(f"DELETE FROM {self.table}")  # noqa: S608 - validated table name
        if version:
            cur.execute(f"INSERT INTO {self.table} (version, dirty) VALUES (%s, false)", (version,))  # noqa: S608 - validated table name

    def apply(
        self, p: Plan, atomic: bool = False, lock_timeout: float = 0, statement_timeout: float = 0
    ) -> list[dict[str, Any]]:
        """Run the plan: one transaction per migration, or one for all of them when atomic.

        lock_timeout (seconds, 0 = none): how long a statement may wait for a table lock. An ALTER TABLE queued
        behind a long transaction makes every later query on that table queue behind it; with a bound, the
        migration gives up (rolled back, retryable) instead of blocking the service. statement_timeout: the
        longest any one statement may run."""
        self.lock_timeout, self.statement_timeout = lock_timeout, statement_timeout
        done: list[dict[str, Any]] = []
        for m in p.steps:
            path = m.up if p.direction == "up" else m.down
            if path is None:  # plan() refuses a down plan with missing down files; this guards a caller's own plan
                raise MigrationError(f"no .down.sql for version {m.version}; fix: add it or keep the schema")
            version_after = m.version if p.direction == "up" else self._previous(m, p)
            started = time.monotonic()
            try:
                with self.conn.cursor() as cur:
                    if not atomic or not done:  # the first statement of each transaction
                        self.check_fence(cur)
                    cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(lock_timeout * 1000)}ms",))
                    cur.execute(
                        "SELECT set_config('statement_timeout', %s, true)", (f"{int(statement_timeout * 1000)}ms",)
                    )
                    cur.execute(path.read_text(encoding="utf-8"))
                    self._record(cur, m, p.direction, version_after)
                if not atomic:
                    self.conn.commit()
            except MigrationError:  # the fence: this run no longer holds the deploy lock
                self.conn.rollback()
                raise
            except Exception as exc:
                self.conn.rollback()
                kept = p.current if atomic or not done else done[-1]["version_after"]
                raise self._failure(exc, path, kept, atomic) from exc
            done.append(
                {
                    "version": m.version,
                    "file": path.name,
                    "direction": p.direction,
                    "version_after": version_after,
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
        self.conn.commit()
        return done

    def check_fence(self, cur: Any) -> None:
        """The deploy lock as a fencing token: in the migration's own transaction, this run's lease must still be
        there and unexpired, and its row stays locked (FOR UPDATE) until the transaction ends, so no other run takes
        the lock over while the migration runs. A run whose lease expired (a step outlasted it) and was taken over
        migrates nothing."""
        if self.fence is None:
            return
        table, run_id = self.fence[0], self.fence[1]
        if not re.fullmatch(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*", table):
            raise MigrationError(f"fence_table {table!r} is not schema.table")
        cur.execute("SAVEPOINT fence")
        try:
            cur.execute(f"SELECT 1 FROM {table} WHERE run_id = %s AND expires_at > now() FOR UPDATE", (run_id,))  # noqa: S608 - checked name
            held = cur.fetchone() is not None
            cur.execute("RELEASE SAVEPOINT fence")
        except Exception:  # the driver's error (no lock table, say): nothing holds the lock
            cur.execute("ROLLBACK TO SAVEPOINT fence")
            held = False
        if not held:
            raise MigrationError(
                f"this run ({run_id}) no longer holds the deploy lock ({table}): its lease expired and another run may "
                "have taken it over; cause: a step before the migration outlasted deploy_lock_lease_seconds; fix: see "
                "what the other run does before going on, and raise deploy_lock_lease_seconds. Nothing was migrated"
            )

    def _failure(self, exc: Exception, path: Path, kept: int | None, atomic: bool) -> MigrationError:
        """What failed, why and what to do, for a migration that was rolled back."""
        scope = "the whole run was one transaction" if atomic else "it ran in one transaction"
        error = str(getattr(exc, "pgerror", None) or exc).strip().splitlines()[0]
        rolled_back = f"{scope} and was rolled back, so nothing from it was applied: schema version stays {kept} and is"
        code = getattr(exc, "pgcode", None)
        if code == LOCK_NOT_AVAILABLE:
            # An operator message that shows a query to run; nothing here is executed.
            return MigrationError(
                f"migration {path.name} waited {self.lock_timeout:g} s for a table lock and gave up: {error}; "  # noqa: S608 - a message showing a query
                f"{rolled_back} not dirty; cause: a long transaction holds a lock on a table the migration changes "
                "(waiting longer would have queued every query on that table behind the migration); fix: find it with "
                "SELECT pid, state, xact_start, query FROM pg_stat_activity WHERE xact_start IS NOT NULL "
                "ORDER BY xact_start, end it or wait for it, then run again",
                retryable=True,
            )
        if code == QUERY_CANCELED:
            return MigrationError(
                f"migration {path.name} ran longer than statement_timeout ({self.statement_timeout:g} s): {error}; "
                f"{rolled_back} not dirty; cause: a statement too slow for this table's size; fix: raise "
                "statement_timeout, or split the change into smaller migrations"
            )
        return MigrationError(
            f"migration {path.name} failed: {error}; {rolled_back} not dirty; {failure_advice(error)}"
        )

    def _record(self, cur: Any, m: Migration, direction: str, version_after: int | None) -> None:
        self._set_version(cur, version_after)
        if direction == "up":
            cur.execute(
                f"INSERT INTO {self.checksum_table} (version, name, checksum) VALUES (%s, %s, %s) "  # noqa: S608 - validated table name
                "ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, "
                "applied_at = now(), applied_by = current_user",
                (m.version, m.filename, m.checksum),
            )
        else:
            cur.execute(f"DELETE FROM {self.checksum_table} WHERE version = %s", (m.version,))  # noqa: S608 - validated table name

    @staticmethod
    def _previous(m: Migration, p: Plan) -> int | None:
        """After undoing m, the schema is at the next lower step of the plan, or at the target."""
        lower = [s.version for s in p.steps if s.version < m.version]
        if lower:
            return max(lower)
        return p.target or None
