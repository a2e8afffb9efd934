"""/live, /ready, /actuator/health and /metrics, against a real PostgreSQL."""

from __future__ import annotations

import time

from pgcluster import PgCluster
from svc import Service, apply_migrations, prod_env


def wait_for(predicate, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s")


def test_ready_and_health_up_with_version(start, pg, migrated):
    svc = start("v1.1.0", prod_env(pg, migrated(2)))
    assert svc.get("/live") == (200, {"status": "UP"})
    code, ready = svc.get("/ready")
    assert code == 200 and ready["status"] == "UP" and ready["components"]["postgres"] == "UP"
    code, health = svc.get("/actuator/health")
    assert code == 200
    assert health["version"] == "v1.1.0"
    assert health["components"]["db"]["status"] == "UP"
    assert health["components"]["db"]["details"]["schema_version"] == 2


def test_schema_older_than_required_is_not_ready(start, pg, migrated):
    svc = start("v1.1.0", prod_env(pg, migrated(1)))
    code, ready = svc.get("/ready")
    assert code == 503
    assert ready["components"]["postgres"] == "DOWN"
    assert "older than required 2" in ready["error"]
    assert svc.get("/live")[0] == 200


def test_v1_0_0_serves_on_v1_1_0_schema(start, pg, migrated):
    """Expand/contract: rolling code back without touching the schema is safe."""
    from test_webhook import signed_post

    svc = start("v1.0.0", prod_env(pg, migrated(2)))
    assert svc.get("/ready")[0] == 200
    code, body = signed_post(
        svc, {"channel": "widget", "message_id": "old-1", "open_id": "u1", "content": "human please"}
    )
    assert code == 200 and body["handoff"] is True


def test_never_ready_fixture(start, pg, migrated):
    svc = start("v1.1.1-fixture.never-ready", prod_env(pg, migrated(2)))
    assert svc.get("/live")[0] == 200
    code, ready = svc.get("/ready")
    assert code == 503 and ready["components"]["startup"] == "DOWN"


def test_ready_follows_postgres_down_and_back(releases):
    """On a cluster of its own: stopping it must not disturb the other tests."""
    cluster = PgCluster()
    svc = None
    try:
        conn = cluster.connect()
        apply_migrations(conn, releases("v1.1.0"), 2)
        conn.close()
        svc = Service(releases("v1.1.0"), prod_env(cluster, "ai_customer_service"))
        svc.wait_live()
        assert svc.get("/ready")[0] == 200
        cluster.stop()
        took_down = wait_for(lambda: svc.get("/ready")[0] == 503, timeout=10)
        _, body = svc.get("/ready")
        assert body["components"]["postgres"] == "DOWN" and "pq: connection refused" in body["error"]
        # through the load balancer's public front end (which marks its requests so), no internals: issue 36 item 11
        public = svc.request("GET", "/ready", headers={"X-AI-CS-Exposure": "public"})
        assert public == (503, {"status": "DOWN", "code": "CS_SYS_5031"})
        assert svc.get("/live")[0] == 200, "liveness must not depend on the database"
        assert svc.metric("ai_cs_db_up") == 0
        cluster.start()
        took_up = wait_for(lambda: svc.get("/ready")[0] == 200, timeout=15)
        assert svc.metric("ai_cs_db_up") == 1
        print(f"/ready DOWN {took_down:.1f}s after PostgreSQL stopped, UP {took_up:.1f}s after it returned")
    finally:
        if svc:
            svc.stop()
        cluster.destroy()
