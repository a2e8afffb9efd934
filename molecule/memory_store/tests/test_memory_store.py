"""A development fleet on the memory store (runbook section 四), after v1.0.0 -> v1.1.0 -> rollback to v1.0.0 with no
PostgreSQL anywhere: v1.0.0 serves, /ready says the memory store is UP, the service runs with no DSN, the runs took
no backup, and the deploy lock was a file, released."""

import json

testinfra_hosts = ["molecule-memory_store"]


def test_there_is_no_postgresql_on_the_host(host):
    assert not host.package("postgresql-15").is_installed and not host.exists("psql") and not host.exists("pg_dump")
    assert not host.file("/usr/lib/postgresql").exists
    assert not [s for s in host.socket.get_listening_sockets() if s.endswith((":5432", ":5434"))]


def test_v1_0_0_serves_on_the_memory_store(host):
    assert host.file("/opt/ai-customer-service/current").linked_to == "/opt/ai-customer-service/releases/v1.0.0"
    assert host.service("ai-customer-service").is_running
    ready = json.loads(host.check_output("curl -sf http://127.0.0.1:8080/ready"))
    assert ready == {"status": "UP", "components": {"store": "UP"}}
    health = json.loads(host.check_output("curl -sf http://127.0.0.1:8080/actuator/health"))
    assert health["version"] == "v1.0.0"


def test_the_service_runs_in_development_without_a_dsn(host):
    settings = host.file("/opt/ai-customer-service/releases/v1.0.0/ai-customer-service.env").content_string
    assert 'AI_CS_ENV="development"' in settings.splitlines()
    assert 'AI_CS_POSTGRES_ENABLED="false"' in settings.splitlines()
    secrets = host.file("/etc/ai-customer-service/secrets.env").content_string.splitlines()
    assert 'AI_CS_POSTGRES_DSN=""' in secrets and "molecule-only-webhook-secret" not in settings
    assert "using in-memory store" in host.check_output("journalctl -u ai-customer-service -o cat --no-pager")


def test_the_runs_are_recorded_without_a_backup(host):
    entries = [
        json.loads(line) for line in host.file("/var/lib/ai-customer-service/history.jsonl").content_string.splitlines()
    ]
    assert [(e["operation"], e["to"], e["result"]) for e in entries] == [
        ("deploy", "v1.0.0", "success"),
        ("deploy", "v1.1.0", "success"),
        ("rollback", "v1.0.0", "success"),
    ], "the idempotence run adds no entry"
    assert not any(e.get("backup") for e in entries)
    assert not host.file("/var/backups/ai-customer-service").exists


def test_the_deploy_lock_was_a_file_and_is_free(host):
    lock = host.file("/var/lib/ai-customer-service/deploy-lock.json")
    assert host.file("/var/lib/ai-customer-service/deploy-lock.json.flock").exists, "the lock was taken in the file"
    assert not lock.exists, "every run released it (and unlock.yml cleared the side effect's)"
