"""Preflight is read-only: after converge and every injected fault, nothing of the service was created."""

testinfra_hosts = ["molecule-preflight"]


def test_nothing_installed_or_locked(host):
    assert not host.file("/opt/ai-customer-service").exists
    assert not host.file("/var/lib/ai-customer-service/deploy.lock").exists
    assert not host.file("/etc/systemd/system/ai-customer-service.service").exists


def test_database_left_without_migration_state(host):
    out = host.check_output(
        "PGPASSWORD=molecule-only-db-password psql -h 127.0.0.1 -p 5434 -U ai_cs -d ai_customer_service "
        "-tAc \"SELECT to_regclass('schema_migrations') IS NULL\""
    )
    assert out.strip() == "t"
