#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: apply golang-migrate style SQL migrations safely."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_migrate
short_description: Apply golang-migrate style SQL migrations to PostgreSQL, safely
description:
  - Applies C(NNNN_name.up.sql) files from a directory in version order, or C(.down.sql) files down to
    I(target_version).
  - Keeps golang-migrate's C(schema_migrations(version bigint, dirty boolean)) table, so the service's own
    migrator and this module agree on the schema version.
  - Each migration runs in one transaction together with its version update, so a failing migration leaves
    the schema, the data and the version as they were, and never dirty.
  - Takes the same PostgreSQL advisory lock as golang-migrate; a second runner waits up to I(lock_timeout)
    seconds, then fails naming the session that holds the lock.
  - Refuses a dirty database (left by a failed golang-migrate run) with how to repair it.
  - Records a SHA-256 checksum of every applied file in I(checksum_table) and refuses to run when an applied
    file has changed. Files applied before checksums were kept are adopted on first run.
  - In check mode, lists the pending migrations and changes nothing (not even the bookkeeping tables).
  - "Expand/contract. A migration whose up file has a line C(-- ai-cs: contract) changes or drops what older releases
    read. With I(phase=expand) the run stops before the first pending contract migration (what may run while older
    releases still serve); I(phase=contract) runs the rest, once every host runs the new release."
  - Each statement waits at most I(statement_lock_timeout) for a table lock, so a migration queued behind a long
    transaction gives up (rolled back) instead of making every query on that table queue behind it; it is retried
    I(lock_retries) times.
  - Refuses a pending migration with its own transaction control (BEGIN, COMMIT and the like), which would commit
    half a run.
version_added: "1.0.0"
author: ai-customer-service ops (@ai-cs-ops)
options:
  path:
    description: Directory holding the migration files (a release's C(db/migration)).
    type: path
    required: true
  fence_run_id:
    description:
      - The run that holds the deploy lock (the pipeline's lease in I(fence_table)). Each migration transaction
        first checks this run still holds an unexpired lease and locks its row until the transaction ends, so a run
        whose lease expired migrates nothing and no other run takes the lock over meanwhile. Empty, no check.
      - In a pipeline run, action plugin pg_migrate sets it from the run's state, never from the task.
    type: str
    default: ""
  fence_table:
    description: The deploy lock's table, schema.table.
    type: str
    default: ai_cs_ops.deploy_lock
  confirm_data_loss:
    description:
      - A migration down (C(.down.sql) files) drops what the up files made, with its data. It runs only when this is
        the database's name, typed by the operator; otherwise the module fails before anything changes, in check
        mode too, listing each table and column the down files drop and how many rows hold data there.
    type: str
    default: ""
  target_version:
    description:
      - Version to migrate to. Omitted means the newest migration in I(path).
      - Lower than the current version migrates down with the C(.down.sql) files, which must all exist.
      - C(0) means an empty schema (every migration undone).
    type: int
  dsn:
    description:
      - Connection string, C(postgres://user:pass@host:port/db?sslmode=disable) as in C(AI_CS_POSTGRES_DSN).
      - Mutually exclusive with the C(login_*) options.
    type: str
  login_host:
    description: Host of the database server.
    type: str
    default: localhost
  login_port:
    description: Port of the database server.
    type: int
    default: 5432
  login_user:
    description: Role to connect as; it needs to own the schema objects the migrations change.
    type: str
  login_password:
    description: Password of I(login_user).
    type: str
  db:
    description: Database to migrate.
    type: str
    aliases: [login_db]
  ssl_mode:
    description: libpq's sslmode for the connection with the C(login_*) options (a I(dsn) carries its own).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: prefer
  ca_cert:
    description: The CA certificate on the host that verifies the server's certificate (libpq's sslrootcert).
    type: path
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
  lock_timeout:
    description: Seconds to wait for the migration lock held by another runner before failing.
    type: float
    default: 60
  table:
    description: golang-migrate's version table.
    type: str
    default: schema_migrations
  checksum_table:
    description: Table keeping the checksum of every applied migration file.
    type: str
    default: schema_migrations_checksums
  phase:
    description:
      - C(all) runs every pending migration; C(expand) stops before the first pending contract migration;
        C(contract) runs all pending ones (after C(expand), once every host runs the new release).
    type: str
    choices: [all, expand, contract]
    default: all
  statement_lock_timeout:
    description:
      - Seconds a statement of a migration may wait for a table lock (PostgreSQL C(lock_timeout)); C(0) waits forever.
    type: float
    default: 5
  statement_timeout:
    description: Seconds any one statement of a migration may run (PostgreSQL C(statement_timeout)); C(0) is no limit.
    type: float
    default: 0
  lock_retries:
    description: How many times a run that gave up waiting for a table lock is tried again (after 2 s, 4 s, ...).
    type: int
    default: 3
  atomic:
    description:
      - Run all pending migrations in one transaction, so a failure in any of them leaves the database exactly
        as it was before the run (not only before the failing file). Deploys use this.
      - When false, each migration commits on its own, as golang-migrate does.
    type: bool
    default: false
requirements:
  - psycopg2 on the host that runs the module (Debian C(python3-psycopg2)).
notes:
  - Statements that cannot run inside a transaction (C(CREATE INDEX CONCURRENTLY), C(VACUUM)) are not supported
    in migration files.
  - Supports check mode.
seealso:
  - module: community.postgresql.postgresql_query
"""

EXAMPLES = r"""
- name: Migrate to the release's newest schema
  pg_migrate:
    path: /opt/ai-customer-service/releases/v1.1.0/db/migration
    dsn: "{{ ai_cs_postgres_dsn }}"
  no_log: false  # the dsn option is no_log already; results carry no secret

- name: Show what would run (check mode lists pending migrations)
  pg_migrate:
    path: /opt/ai-customer-service/releases/v1.1.0/db/migration
    login_host: db
    login_user: ai_cs
    login_password: "{{ vault_ai_cs_db_password }}"
    db: ai_customer_service
  check_mode: true
  register: plan

- name: Undo v1.1.0's migration (its release ships 0002_*.down.sql)
  pg_migrate:
    path: /opt/ai-customer-service/releases/v1.1.0/db/migration
    dsn: "{{ ai_cs_postgres_dsn }}"
    target_version: 1
"""

RETURN = r"""
version_before:
  description: Schema version before the run (null for an empty database).
  returned: always
  type: int
  sample: 1
version_after:
  description: Schema version after the run (in check mode, what it would be).
  returned: always
  type: int
  sample: 2
direction:
  description: C(up), C(down) or C(none).
  returned: always
  type: str
applied:
  description: Migrations run, in order, with the resulting version and the time each took.
  returned: always
  type: list
  elements: dict
  sample:
    - {"version": 2, "file": "0002_ticket_priority.up.sql", "direction": "up", "version_after": 2, "seconds": 0.01}
pending:
  description: Files that would run (check mode), or that were to run when the module failed.
  returned: always
  type: list
  elements: str
  sample: ["0002_ticket_priority.up.sql"]
database_ahead:
  description:
    - True when the database is newer than the newest file in I(path).
    - An older release on a newer, compatible (expand/contract) schema.
  returned: always
  type: bool
contract_pending:
  description: Contract migrations still pending after this run (with I(phase=expand), those left for C(contract)).
  returned: always
  type: list
  elements: str
  sample: ["0003_drop_old_column.up.sql"]
attempts:
  description: Runs it took (more than one when a table lock was not free at first).
  returned: when not in check mode
  type: int
adopted:
  description: Versions whose checksums were recorded for the first time (applied before checksums were kept).
  returned: always
  type: list
  elements: int
lock_id:
  description: The PostgreSQL advisory lock key (golang-migrate's).
  returned: always
  type: int
lock_wait_seconds:
  description: Time spent waiting for the lock.
  returned: when not in check mode
  type: float
"""

import re
import time
import traceback

from ansible.module_utils.ai_cs_dsn import parse as parse_dsn
from ansible.module_utils.ai_cs_migrate import MigrationError, Runner, at_stake, discover, plan
from ansible.module_utils.ai_cs_runbook import explain
from ansible.module_utils.ai_cs_runbook import row as runbook_row
from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import psycopg2
except ImportError:
    psycopg2 = None
    PSYCOPG2_ERROR = traceback.format_exc()
else:
    PSYCOPG2_ERROR = None

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def dirty_message(database: str, version: int | None) -> str:
    """The runbook's cause and fix for a dirty schema (the same words preflight and diagnose use)."""
    dirty = runbook_row("schema-dirty")
    return (
        f"database {database} is dirty at version {version}; cause: {dirty.cause}; fix: {dirty.fix} "
        "(golang-migrate: migrate force <version>)"
    )


def contract_left(migrations: list, the_plan, version: int | None, target: int | None) -> list[str]:
    """Contract migrations pending after the_plan runs (up to target, or the newest)."""
    if the_plan.direction == "down":
        return []
    after = the_plan.target if the_plan.steps else version
    goal = target if target is not None else (migrations[-1].version if migrations else 0)
    return [m.filename for m in migrations if m.contract and (after or 0) < m.version <= goal]


def at_stake_rows(conn, steps: list) -> list[dict]:
    """What the down files drop (ai_cs_migrate.at_stake), each with the rows holding data there now (None when the
    table is not there). The names come from the release's own files; counted read-only, each in a savepoint."""
    found = []
    with conn.cursor() as cur:
        for step in steps:
            for item in at_stake(step.down.read_text(encoding="utf-8")):
                where = f" WHERE {item['column']} IS NOT NULL" if item["column"] else ""
                cur.execute("SAVEPOINT at_stake")
                try:
                    cur.execute(f"SELECT count(*) FROM {item['table']}{where}")  # noqa: S608 - the release's own names
                    rows = cur.fetchone()[0]
                    cur.execute("RELEASE SAVEPOINT at_stake")
                except psycopg2.Error:
                    cur.execute("ROLLBACK TO SAVEPOINT at_stake")
                    rows = None
                found.append({**item, "file": step.down.name, "rows": rows})
    conn.rollback()
    return found


def down_refusal(database: str, the_plan, stake: list[dict]) -> str:
    """The refusal of a migration down without the typed confirmation: what it runs, what it drops, rows there."""
    files = ", ".join(step.down.name for step in the_plan.steps)
    dropped = "; ".join(
        (f"column {s['table']}.{s['column']}" if s["column"] else f"table {s['table']}")
        + (" (not there)" if s["rows"] is None else f" ({s['rows']} rows{' with a value' if s['column'] else ''})")
        for s in stake
    )
    return (
        f"migrating {database} down to schema {the_plan.target} runs {files}, which drop "
        f"{dropped or 'nothing this module can name (read the files)'}: everything in them is LOST. A safety backup "
        f"is taken first. To go ahead, add -e confirm_data_loss={database} (the database's name). Nothing was changed."
    )


def apply_with_retries(runner: Runner, migrations: list, p: dict, result: dict):
    """Plan and apply under the lock; a run that gave up waiting for a table lock is planned and tried again."""
    result["attempts"] = 0
    while True:
        result["attempts"] += 1
        version, _dirty, applied = runner.state()
        the_plan = plan(migrations, version, p["target_version"], applied, p["phase"])
        try:
            result["applied"] = runner.apply(the_plan, p["atomic"], p["statement_lock_timeout"], p["statement_timeout"])
            return the_plan
        except MigrationError as exc:
            if not exc.retryable or result["attempts"] > p["lock_retries"]:
                raise
            time.sleep(2 ** result["attempts"])


def connect(module: AnsibleModule):
    p = module.params
    if p["dsn"]:
        parts = parse_dsn(p["dsn"])
        if not parts:
            module.fail_json(msg="dsn is not a postgres:// URL (postgres://user:pass@host:port/db?sslmode=...)")
        if parts["password"]:
            module.no_log_values.add(parts["password"])
        where = f"{parts['host']}:{parts['port']}/{parts['db']} as {parts['user']}"
        kwargs = {"dsn": p["dsn"]}
    else:
        where = f"{p['login_host']}:{p['login_port']}/{p['db']} as {p['login_user']}"
        kwargs = {
            "host": p["login_host"],
            "port": p["login_port"],
            "user": p["login_user"],
            "password": p["login_password"],
            "dbname": p["db"],
            "sslmode": p["ssl_mode"],
        }
        if p["ca_cert"]:
            kwargs["sslrootcert"] = p["ca_cert"]
    try:
        conn = psycopg2.connect(connect_timeout=p["connect_timeout"], application_name="ansible pg_migrate", **kwargs)
    except psycopg2.Error as exc:
        module.fail_json(
            msg=f"cannot connect to PostgreSQL at {where}: {str(exc).strip()}; cause: server down or unreachable, "
            "wrong credentials, or the database does not exist; fix: check that psql connects with the same settings"
        )
    return conn


def validate(module: AnsibleModule) -> None:
    """Refuse bad input before connecting to anything."""
    if psycopg2 is None:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_ERROR)
    p = module.params
    for option in ("table", "checksum_table"):
        if not IDENTIFIER.match(p[option]):
            module.fail_json(msg=f"{option} {p[option]!r} is not a plain lower-case SQL identifier")
    if p["target_version"] is not None and p["target_version"] < 0:
        module.fail_json(msg="target_version must be 0 or greater")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "target_version": {"type": "int"},
            "confirm_data_loss": {"type": "str", "default": ""},
            "fence_run_id": {"type": "str", "default": ""},
            "fence_table": {"type": "str", "default": "ai_cs_ops.deploy_lock"},
            "dsn": {"type": "str", "no_log": True},
            "login_host": {"type": "str", "default": "localhost"},
            "login_port": {"type": "int", "default": 5432},
            "login_user": {"type": "str"},
            "login_password": {"type": "str", "no_log": True},
            "db": {"type": "str", "aliases": ["login_db"]},
            "connect_timeout": {"type": "int", "default": 10},
            "ssl_mode": {
                "type": "str",
                "default": "prefer",
                "choices": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
            },
            "ca_cert": {"type": "path"},
            "lock_timeout": {"type": "float", "default": 60},
            "table": {"type": "str", "default": "schema_migrations"},
            "checksum_table": {"type": "str", "default": "schema_migrations_checksums"},
            "atomic": {"type": "bool", "default": False},
            "phase": {"type": "str", "default": "all", "choices": ["all", "expand", "contract"]},
            "statement_lock_timeout": {"type": "float", "default": 5},
            "statement_timeout": {"type": "float", "default": 0},
            "lock_retries": {"type": "int", "default": 3},
        },
        mutually_exclusive=[("dsn", "login_user"), ("dsn", "login_password"), ("dsn", "db"), ("dsn", "ca_cert")],
        required_one_of=[("dsn", "db")],
        required_by={"db": ("login_user",)},
        supports_check_mode=True,
    )
    validate(module)
    p = module.params

    result = {
        "changed": False,
        "applied": [],
        "pending": [],
        "adopted": [],
        "database_ahead": False,
        "contract_pending": [],
    }
    try:
        migrations = discover(p["path"])
    except MigrationError as exc:
        module.fail_json(msg=str(exc), **result)

    conn = connect(module)
    runner = Runner(conn, p["table"], p["checksum_table"])
    runner.fence = (p["fence_table"], p["fence_run_id"]) if p["fence_run_id"] else None
    result["lock_id"] = runner.lock_id
    locked = False
    try:
        version, dirty, applied = runner.state()
        result["version_before"] = version
        if dirty:
            module.fail_json(msg=dirty_message(runner.database, version), **result)
        the_plan = plan(migrations, version, p["target_version"], applied, p["phase"])
        result.update(
            direction=the_plan.direction,
            pending=[(m.up if the_plan.direction == "up" else m.down).name for m in the_plan.steps],
            database_ahead=the_plan.ahead,
            version_after=the_plan.target,
            contract_pending=contract_left(migrations, the_plan, version, p["target_version"]),
        )
        if the_plan.direction == "down" and the_plan.steps:
            result["at_stake"] = at_stake_rows(conn, the_plan.steps)
            if p["confirm_data_loss"] != runner.database:
                module.fail_json(msg=down_refusal(runner.database, the_plan, result["at_stake"]), **result)
        if module.check_mode:
            result["changed"] = bool(the_plan.steps)
            module.exit_json(**result)

        result["lock_wait_seconds"] = round(runner.acquire(p["lock_timeout"]), 3)
        locked = True
        # State may have moved while we waited for the lock: read and plan again under it.
        runner.ensure_tables()
        version, dirty, applied = runner.state()
        if dirty:
            module.fail_json(
                msg=f"database {runner.database} became dirty at version {version} while waiting", **result
            )
        result["adopted"] = runner.adopt(migrations, version, applied)
        the_plan = apply_with_retries(runner, migrations, p, result)
        result["pending"] = []
        result["version_after"] = the_plan.target
        result["contract_pending"] = contract_left(migrations, the_plan, the_plan.target, p["target_version"])
        result["changed"] = bool(result["applied"] or result["adopted"])
    except MigrationError as exc:
        module.fail_json(msg=str(exc), **result)
    except psycopg2.Error as exc:
        module.fail_json(msg=f"PostgreSQL error: {str(exc).strip()}{explain(str(exc))}", **result)
    finally:
        if locked:
            runner.release()
        conn.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
