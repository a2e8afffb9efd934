"""After v1.0.0 -> v1.1.0 -> rollback to v1.0.0: v1.0.0 serves and is ready, the webhook works, the data
written under v1.1.0 is still there, and the rollback is on record."""

import json
import time

testinfra_hosts = ["molecule-pipeline"]
PSQL = "PGPASSWORD=molecule-only-db-password psql -h 127.0.0.1 -p 5434 -U ai_cs -d ai_customer_service -tAc {!r}"
SECRET = "molecule-only-webhook-secret"


def q(host, sql):
    return host.check_output(PSQL.format(sql)).strip()


def test_v1_0_0_serves_and_is_ready(host):
    assert host.file("/opt/ai-customer-service/current").linked_to == "/opt/ai-customer-service/releases/v1.0.0"
    assert host.service("ai-customer-service").is_running
    ready = json.loads(host.check_output("curl -sf http://127.0.0.1:8080/ready"))
    assert ready["status"] == "UP"
    health = json.loads(host.check_output("curl -sf http://127.0.0.1:8080/actuator/health"))
    assert health["version"] == "v1.0.0"


def test_data_written_under_v1_1_0_is_still_there(host):
    assert q(host, "SELECT content FROM cs_messages WHERE message_id = 'written-under-v1.1.0'") == (
        "please keep me after the rollback"
    )
    # the schema stays (expand/contract): v1.0.0 runs on v1.1.0's schema
    assert q(host, "SELECT version, dirty FROM schema_migrations") == "2|f"


def test_signed_webhook_works_on_v1_0_0(host):
    """Signed as the runbook's section 五 does it, with openssl, from the host itself."""
    body = json.dumps({"channel": "molecule", "message_id": "after-rollback", "open_id": "c1", "content": "hi"})
    ts = str(int(time.time()))
    sig = host.check_output(
        f"echo -n {ts + '.' + body!r} | openssl dgst -sha256 -hmac {SECRET!r} | awk '{{print $2}}'"
    ).strip()
    out = host.check_output(
        f"curl -s -X POST -H 'Content-Type: application/json' -H 'X-CS-Timestamp: {ts}' "
        f"-H 'X-CS-Signature: {sig}' --data {body!r} http://127.0.0.1:8080/api/v1/customer-service/webhook"
    )
    assert json.loads(out)["status"] == "accepted"
    assert q(host, "SELECT count(*) FROM cs_messages WHERE message_id = 'after-rollback'") == "1"


def test_rollback_is_recorded(host):
    entries = [
        json.loads(line) for line in host.file("/var/lib/ai-customer-service/history.jsonl").content_string.splitlines()
    ]
    rollbacks = [e for e in entries if e["operation"] == "rollback"]
    assert len(rollbacks) == 1, "the idempotence run adds no entry"
    assert rollbacks[0]["from"] == "v1.1.0" and rollbacks[0]["to"] == "v1.0.0" and rollbacks[0]["result"] == "success"
    assert rollbacks[0]["config"] == "snapshot"
    fact = json.loads(host.file("/etc/ansible/facts.d/ai_cs.fact").content_string)
    assert fact["current"] == "v1.0.0" and fact["previous"] == "v1.1.0"
