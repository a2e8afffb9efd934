# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook's failure tables as data, and the one judge that maps a symptom to its cause and fix.

Sections 二 (startup), 三 (migration) and 五 (webhook auth) of the service's runbook, row by row; rows marked
seed=False are this project's additions (symptoms the service prints that the runbook does not list). Preflight,
verify's failure messages and diagnose all ask match() here, so one symptom gets the same cause and fix everywhere.
The first row whose pattern is found in the text wins, so more specific rows come first.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

STARTUP = "启动失败排查"
MIGRATION = "Migration 失败排查"
WEBHOOK = "Webhook 签名认证联调失败排查"
ROLLBACK = "回滚操作流程"


@dataclass(frozen=True)
class Row:
    id: str  # stable, for links (alert runbook_url anchors) and tests
    table: str  # the runbook section it comes from
    symptom: str  # as the runbook writes it
    match: str  # regular expression searched in error text
    cause: str
    fix: str
    severity: str = "fail"  # info: the runbook says the line is harmless
    seed: bool = True  # False: a project addition, not a row of the runbook itself

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


ROWS: tuple[Row, ...] = (
    Row(
        "memory-fallback",
        STARTUP,
        "memory fallback is not allowed ERROR",
        r"memory fallback is not allowed",
        "AI_CS_ENV=production but AI_CS_POSTGRES_ENABLED is not true",
        "set ai_cs_postgres_enabled true and deploy again (deploy.yml -e version=<serving version>)",
    ),
    Row(
        "dsn-required",
        STARTUP,
        "AI_CS_POSTGRES_DSN is required ERROR",
        r"AI_CS_POSTGRES_DSN is required",
        "production without a database DSN",
        "set ai_cs_postgres_host, _db, _user and the vault password (the DSN the deploy renders is "
        "postgres://user:pass@host:5434/db?sslmode=verify-full), then deploy again",
    ),
    Row(
        "port-in-use",
        STARTUP,
        "listen tcp :8080: bind: address already in use",
        r"bind: address already in use",
        "the service port is taken by another process",
        "stop that process (the port check names it) or move the service with ai_cs_app_port (AI_CS_ADDR=:8081)",
    ),
    Row(
        "connection-refused",
        STARTUP,
        "pq: connection refused",
        # lib/pq's words (the Go service), then libpq's (psycopg2: preflight, diagnose) for the same failures
        r"pq: connection refused|pq: connection timed out|pq: no such host"
        r"|(?i:connection refused|could not connect to server|timeout expired|could not translate host name)",
        "PostgreSQL is not reachable",
        "check the PostgreSQL host, port and firewall (systemctl status postgresql on the db host); psql with the "
        "service's settings must connect",
    ),
    Row(
        "password-failed",
        STARTUP,
        "pq: password authentication failed",
        r"password authentication failed",
        "wrong database password",
        "compare the password in AI_CS_POSTGRES_DSN with the database role (vault_ai_cs_postgres_password), then "
        "deploy again so the service gets the right one",
    ),
    Row(
        "database-missing",
        STARTUP,
        'pq: database "ai_customer_service" does not exist',
        r'pq: database "[^"]+" does not exist',
        "the service's database does not exist",
        "create it owned by the service's role (role postgresql does; or as PostgreSQL's superuser: CREATE DATABASE "
        "<db> OWNER <role>), then deploy again",
        seed=False,
    ),
    Row(
        "schema-dirty",
        STARTUP,
        "schema_migrations is dirty",
        r"schema version \S+ is dirty|schema_migrations is dirty",
        "a migration failed part-way under golang-migrate and left the schema half-changed",
        "compare the schema with that migration, repair it, then mark the last complete version clean: "
        "UPDATE schema_migrations SET version = <last complete>, dirty = false",
        seed=False,
    ),
    Row(
        "ready-postgres-down",
        STARTUP,
        "启动成功但 /ready 返回 postgres:DOWN",
        r"postgres.{0,4}DOWN|schema version .* is older than required",
        "PostgreSQL answers but the service's health check fails (schema older than required, or the wrong port)",
        "check PostgreSQL answers on the port in AI_CS_POSTGRES_DSN and that the schema is migrated (deploy.yml)",
    ),
    Row(
        "relation-missing",
        MIGRATION,
        'pq: relation "cs_sessions" does not exist',
        r'(pq: )?relation "[^"]+" does not exist',
        "migrations were not applied",
        "apply them with deploy.yml -e version=<serving version> (it runs the release's migrations with pg_migrate)",
    ),
    Row(
        "duplicate-key",
        MIGRATION,
        "pq: duplicate key value violates unique constraint",
        r"duplicate key value violates unique constraint",
        "a migration re-ran over existing tables; they are idempotent (CREATE TABLE IF NOT EXISTS)",
        "nothing to do",
        severity="info",
    ),
    Row(
        "permission-denied",
        MIGRATION,
        "pq: permission denied",
        # lib/pq's words (the Go service), then PostgreSQL's own for a CREATE refused (psycopg2: pg_migrate, a
        # restore); a table of another role's (permission denied for table, must be owner of) is object-not-owned
        r"pq: permission denied|permission denied for (schema|database)\b",
        "the database user may not create tables",
        "make ai_cs own the ai_customer_service database (or a superuser)",
    ),
    Row(
        "auth-4034",
        WEBHOOK,
        "CS_AUTH_4034 invalid webhook signature",
        r"CS_AUTH_4034",
        "HMAC secret mismatch between the upstream and the service",
        "make the upstream sign with the same secret as AI_CS_WEBHOOK_SECRET (vault_ai_cs_webhook_secret), then "
        "deploy again so the service has it",
    ),
    Row(
        "auth-4031",
        WEBHOOK,
        "CS_AUTH_4031 missing webhook signature",
        r"CS_AUTH_4031",
        "the upstream sends no X-CS-Signature header",
        "check the upstream's webhook sender",
    ),
    Row(
        "auth-4033",
        WEBHOOK,
        "CS_AUTH_4033 stale webhook request",
        r"CS_AUTH_4033",
        "the request's timestamp is beyond AI_CS_WEBHOOK_MAX_SKEW_SECONDS (default 300 s) of the service's clock",
        "synchronise time with NTP on the service host and the upstream, or raise AI_CS_WEBHOOK_MAX_SKEW_SECONDS",
    ),
    Row(
        "clock-drift",
        WEBHOOK,
        "偶发性 403",
        r"clock (skew|drift)|偶发性 403",
        "clock drift beyond 300 s between the upstream and the service host (signed webhooks are refused with "
        "CS_AUTH_4033 stale webhook request)",
        "synchronise time with NTP on the service host and the upstream, and check their time zone settings",
    ),
    Row(
        "auth-4032",
        WEBHOOK,
        "CS_AUTH_4032 invalid webhook timestamp",
        r"CS_AUTH_4032",
        "the X-CS-Timestamp header is missing or not a number",
        "check the upstream's webhook sender",
        seed=False,
    ),
    Row(
        "webhook-secret-missing",
        WEBHOOK,
        "AI_CS_WEBHOOK_SECRET is not set",
        r"AI_CS_WEBHOOK_SECRET is (required|not set|empty)",
        "the service has no webhook secret, so it refuses every webhook with CS_AUTH_4034",
        "set vault_ai_cs_webhook_secret in the vault, then deploy again",
        seed=False,
    ),
    Row(
        "invalid-setting",
        STARTUP,
        "invalid AI_CS_*",
        r"invalid AI_CS_[A-Z_]+",
        "a setting has an invalid value (the line names it)",
        "correct it in the inventory and deploy again",
        seed=False,
    ),
    Row(
        "object-depends",
        ROLLBACK,
        "cannot drop table ... because other objects depend on it",
        r"because other objects depend on it",
        "an object that is not in the service's backups (another role's view or foreign key, say) depends on one of "
        "the service's tables, so a restore cannot replace that table",
        "drop that object (the error's DETAIL names it) or make it the service's, then run the restore again; the "
        "restore ran in one transaction, so nothing was changed",
        seed=False,
    ),
    Row(
        "object-not-owned",
        ROLLBACK,
        "permission denied for table ... / must be owner of ...",
        r"permission denied for (table|sequence|view|materialized view|function)|must be owner of",
        "an object in the service's database belongs to another role, which the service's role may not read "
        "(pg_dump) or replace (pg_restore)",
        "backups and restores take only what the service's role owns; if the object is the service's, give it to that "
        "role (ALTER TABLE <name> OWNER TO <service role>), else keep it in a schema of its own",
        seed=False,
    ),
    Row(
        "certificate-mismatch",
        ROLLBACK,
        'server certificate for "..." does not match host name',
        r"does not match host name|certificate verify failed|root certificate file .* does not exist",
        "the database's TLS certificate is not for the name this connection used, or not signed by the CA the hosts "
        "trust (every connection of this project verifies it: sslmode verify-full)",
        "connect by the name on the certificate (ai_cs_postgres_host), or reissue the certificate for the name the "
        "hosts use, signed by the CA in ai_cs_postgres_ca; never lower the sslmode",
        seed=False,
    ),
    Row(
        "disk-full",
        ROLLBACK,
        "No space left on device",
        r"No space left on device|could not (write|extend) (to )?file",
        "the backup host's disk is full",
        "free space in the backup directory (ai_cs_backup_dir), or keep fewer dumps (backup_keep), then run again",
        seed=False,
    ),
)

_COMPILED = tuple((re.compile(row.match), row) for row in ROWS)


def match(text: str | None) -> Row | None:
    """The first runbook row whose symptom is found in text, or None."""
    if not text:
        return None
    for pattern, row in _COMPILED:
        if pattern.search(text):
            return row
    return None


def row(row_id: str) -> Row:
    """A row by its id (KeyError names the unknown id)."""
    for candidate in ROWS:
        if candidate.id == row_id:
            return candidate
    raise KeyError(f"no runbook row {row_id!r}; rows: {', '.join(r.id for r in ROWS)}")


def explain(text: str | None, cause: str | None = None, fix: str | None = None) -> str:
    """' (cause: ...; fix: ...)' for an operator message: the runbook's when a row matches, else the given ones."""
    hit = match(text)
    cause = hit.cause if hit else cause
    fix = hit.fix if hit else fix
    parts = [f"cause: {cause}"] if cause else []
    parts += [f"fix: {fix}"] if fix else []
    return f" ({'; '.join(parts)})" if parts else ""
