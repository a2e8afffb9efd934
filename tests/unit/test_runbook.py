"""The runbook judge: every row of the runbook's tables is matched by the texts that show its symptom.

The samples are what the service (lib/pq's words, as the runbook quotes them), psycopg2 (preflight and diagnose
connect with it) and the webhook answers really print.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ansible.module_utils.ai_cs_runbook import MIGRATION, ROWS, STARTUP, WEBHOOK, explain, match, row

SAMPLES = {
    "memory-fallback": ["memory fallback is not allowed"],
    "dsn-required": ["AI_CS_POSTGRES_DSN is required"],
    "port-in-use": ["listen tcp :8080: bind: address already in use"],
    "connection-refused": [
        "pq: connection refused",
        "pq: no such host",
        'connection to server at "ai-cs-db" (10.89.77.2), port 5434 failed: Connection refused',
        'could not translate host name "ai-cs-db" to address: Name or service not known',
        "timeout expired",
    ],
    "password-failed": [
        'pq: password authentication failed for user "ai_cs"',
        'FATAL:  password authentication failed for user "ai_cs"',
    ],
    "database-missing": ['pq: database "ai_customer_service" does not exist'],
    "schema-dirty": ["schema version 3 is dirty", "schema_migrations is dirty at version 3"],
    "ready-postgres-down": [
        '{"postgres": "DOWN"}',
        "schema version 1 is older than required 2",
    ],
    "relation-missing": ['pq: relation "cs_sessions" does not exist', 'ERROR:  relation "cs_sessions" does not exist'],
    "duplicate-key": ['pq: duplicate key value violates unique constraint "cs_sessions_pkey"'],
    "permission-denied": [
        "pq: permission denied for schema public",
        "permission denied for schema public\nLINE 5: CREATE TABLE IF NOT EXISTS cs_fixture_contract (",
        "ERROR:  permission denied for database ai_customer_service",
    ],
    "object-depends": [
        "ERROR:  cannot drop table public.cs_messages because other objects depend on it\n"
        "DETAIL:  view dba_recent depends on table cs_messages"
    ],
    "object-not-owned": [
        "pg_dump: error: query failed: ERROR:  permission denied for table dba_notes",
        "ERROR:  must be owner of table dba_notes",
    ],
    "certificate-mismatch": [
        'pg_dump: error: connection to server at "10.89.77.2", port 5434 failed: server certificate for "ai-cs-db" '
        'does not match host name "10.89.77.2"',
        "SSL error: certificate verify failed",
    ],
    "disk-full": ["pg_dump: error: could not write to output file: No space left on device"],
    "auth-4034": ["CS_AUTH_4034", "HTTP 403 CS_AUTH_4034 invalid webhook signature"],
    "auth-4031": ["CS_AUTH_4031 missing webhook signature"],
    "auth-4033": ["CS_AUTH_4033 stale webhook request"],
    "clock-drift": ["clock skew", "偶发性 403"],
    "auth-4032": ["CS_AUTH_4032 invalid webhook timestamp"],
    "webhook-secret-missing": ["AI_CS_WEBHOOK_SECRET is required", "AI_CS_WEBHOOK_SECRET is not set"],
    "invalid-setting": ["invalid AI_CS_WEBHOOK_MAX_SKEW_SECONDS '0': use a positive number of seconds"],
}


@pytest.mark.parametrize(("row_id", "text"), [(r, t) for r, texts in SAMPLES.items() for t in texts])
def test_each_symptom_names_its_row(row_id, text):
    hit = match(text)
    assert hit is not None and hit.id == row_id, (text, hit)


def test_every_row_has_samples_and_every_sample_a_row():
    assert sorted(SAMPLES) == sorted(r.id for r in ROWS)


def test_the_seed_rows_are_all_there():
    """The runbook's own tables: 6 startup rows, 3 migration rows, 4 webhook rows."""
    seed = [r for r in ROWS if r.seed]
    assert [r.table for r in seed].count(STARTUP) == 6
    assert [r.table for r in seed].count(MIGRATION) == 3
    assert [r.table for r in seed].count(WEBHOOK) == 4
    assert len({r.id for r in ROWS}) == len(ROWS)
    assert all(r.cause and r.fix for r in ROWS)


def test_harmless_rows_are_marked():
    assert match("duplicate key value violates unique constraint").severity == "info"
    assert {r.id for r in ROWS if r.severity == "info"} == {"duplicate-key"}


def test_text_with_no_runbook_symptom():
    assert match("fixture build: crash at start") is None
    assert match("") is None and match(None) is None


def test_explain_prefers_the_runbook_and_falls_back():
    assert (
        explain("pq: connection refused")
        == f" (cause: {row('connection-refused').cause}; fix: {row('connection-refused').fix})"
    )
    assert explain("something new", cause="c", fix="f") == " (cause: c; fix: f)"
    assert explain("something new") == ""


def test_unknown_row_id_is_named():
    with pytest.raises(KeyError, match="no runbook row 'nope'"):
        row("nope")


def test_every_playbook_a_fix_names_exists_and_no_fix_lowers_tls_or_names_the_lab():
    """A fix text is an operator's next command: it must exist, and must not undo what the project enforces (every
    connection verifies the database's certificate) or send a production operator to the lab's playbook."""
    root = Path(__file__).resolve().parents[2]
    texts = [f"{r.cause} {r.fix}" for r in ROWS]
    texts += [(root / p).read_text() for p in ("roles/monitoring/templates/ai-customer-service.rules.yml.j2",
                                               "monitoring/self-healing.yml")]  # fmt: skip
    named = {m for text in texts for m in re.findall(r"playbooks/[a-z_-]+\.yml", text)}
    assert named, "the fixes name playbooks"
    assert not [p for p in named if not (root / p).is_file()], named
    assert not [t for t in texts if "sslmode=disable" in t or "playbooks/lab.yml" in t]
