"""The release's migrations applied with pg_migrate: schema, version, checksums."""

testinfra_hosts = ["molecule-migrate"]
PSQL = "PGPASSWORD=molecule-only-db-password psql -h 127.0.0.1 -p 5434 -U ai_cs -d ai_customer_service -tAc {!r}"


def q(host, sql):
    return host.check_output(PSQL.format(sql)).strip()


def test_schema_is_at_the_release_version_and_clean(host):
    assert q(host, "SELECT version, dirty FROM schema_migrations") == "2|f"


def test_every_applied_file_has_its_checksum(host):
    rows = q(host, "SELECT version, name FROM schema_migrations_checksums ORDER BY version").splitlines()
    assert rows == ["1|0001_init.up.sql", "2|0002_ticket_priority.up.sql"]
    digest = host.check_output(
        "sha256sum /opt/ai-customer-service/releases/v1.1.0/db/migration/0002_ticket_priority.up.sql"
    ).split()[0]
    assert q(host, "SELECT checksum FROM schema_migrations_checksums WHERE version = 2") == digest


def test_the_runbook_tables_exist(host):
    tables = q(host, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'cs_%'")
    assert tables == "cs_audit_logs,cs_message_dedup,cs_messages,cs_sessions,cs_tickets"
