"""ai_cs_release's verification (action verify: what every switch runs) through Ansible, against a real service on a
real PostgreSQL: health, version, and the signed webhook smoke test, forged and stale calls included."""

from __future__ import annotations

import pytest
from ansible_run import run_module
from svc import SECRET, Service, apply_migrations, count, prod_env, unpack


@pytest.fixture
def serve(artifacts, pg, tmp_path):
    started: list[Service] = []

    def _serve(version: str) -> Service:
        release = unpack(artifacts, version, tmp_path)
        db = pg.create_database(f"verify_{len(started)}_{tmp_path.name[-8:]}".replace("-", "_"))
        conn = pg.connect(db)
        apply_migrations(conn, release, 2)
        conn.close()
        svc = Service(release, prod_env(pg, db))
        svc.db = db
        started.append(svc)
        svc.wait_live()
        return svc

    yield _serve
    for svc in started:
        svc.stop()


def verify(svc: Service, version: str, **extra) -> tuple[dict, str]:
    args = {"action": "verify", "version": version, "base_url": svc.base, "timeout": 10, "secret": SECRET,
            "smoke_message": {"message_id": f"smoke-{version}"}, **extra}  # fmt: skip
    return run_module("ai_cs_release", args, verbosity=3)


def test_a_good_release_passes_and_its_smoke_calls_are_stored_once_and_refused_as_the_runbook_says(serve, pg):
    svc = serve("v1.1.0")
    result, output = verify(svc, "v1.1.0")
    assert not result.get("failed"), result.get("msg")
    assert SECRET not in output, "the secret never shows, at -vvv either"
    assert count(pg, svc.db, "SELECT count(*) FROM cs_messages WHERE message_id = 'smoke-v1.1.0'") == 1
    refused = "SELECT string_agg(code, ',' ORDER BY code) FROM cs_audit_logs WHERE event = 'webhook.rejected'"
    assert count(pg, svc.db, refused) == "CS_AUTH_4031,CS_AUTH_4033,CS_AUTH_4034"


def test_a_release_that_takes_any_signature_fails_verification(serve):
    """issue 36 item 12: verification never sent a forged signature, so a release that accepts any passed."""
    svc = serve("v1.1.1-fixture.any-signature")
    result, _ = verify(svc, "v1.1.1-fixture.any-signature")
    assert result.get("failed") and result["failed_step"] == "Run the signed webhook smoke test"
    assert "forged call answered 200 accepted (expected 403 CS_AUTH_4034)" in result["msg"]
    assert "stale call answered 200 accepted (expected 403 CS_AUTH_4033)" in result["msg"]


def test_another_version_fails_naming_what_it_saw(serve):
    svc = serve("v1.1.0")
    result, _ = verify(svc, "v9.9.9", smoke=False)
    assert result.get("failed") and result["failed_step"] == "Wait for live, ready and the expected version"
    assert "expected version 'v9.9.9' at version, got 'v1.1.0'" in result["msg"]
