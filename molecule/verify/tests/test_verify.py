"""What verify's smoke test leaves in the database: one stored message, its replay deduplicated, audited refusals."""

testinfra_hosts = ["molecule-verify"]
PSQL = "PGPASSWORD=molecule-only-db-password psql -h 127.0.0.1 -p 5434 -U ai_cs -d ai_customer_service -tAc {!r}"


def q(host, sql):
    return host.check_output(PSQL.format(sql)).strip()


def test_smoke_messages_stored_once_each_on_their_own_channel(host):
    # converge and the idempotence run each send one message and its replay
    total, distinct = q(
        host, "SELECT count(*), count(DISTINCT message_id) FROM cs_messages WHERE channel = 'ops-smoke'"
    ).split("|")
    assert total == distinct == "2"
    assert q(host, "SELECT count(*) FROM cs_message_dedup WHERE message_id LIKE 'smoke-%'") == "2"


def test_replay_and_unsigned_call_are_audited(host):
    events = q(host, "SELECT string_agg(DISTINCT event || ':' || coalesce(code, ''), ',') FROM cs_audit_logs")
    assert "webhook.accepted:" in events and "webhook.duplicate:" in events
    assert "webhook.rejected:CS_AUTH_4031" in events


def test_service_serves_again_after_the_database_came_back(host):
    assert host.run("curl -sf http://127.0.0.1:8080/ready").rc == 0
