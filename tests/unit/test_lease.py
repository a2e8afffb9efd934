"""The deploy lock's lease kept in a file (module_utils/ai_cs_lease.py), one rule per test: the same rules as the
database's lease row, for an environment without PostgreSQL."""

from __future__ import annotations

import pytest
from ansible.module_utils.ai_cs_lease import describe, release, renew, take

NOW = 1_796_000_000.0
BOB = {"run_id": "run-b", "owner": {"who": "bob@ctl"}, "taken_at": NOW - 100, "renewed_at": NOW - 10,
       "expires_at": NOW + 890}  # fmt: skip


def test_a_free_lock_is_taken_for_the_lease():
    held, answer = take(None, "run-a", {"who": "alice"}, 900, NOW)
    assert answer == {"got": True, "before": None}
    assert held == {"run_id": "run-a", "owner": {"who": "alice"}, "taken_at": NOW, "renewed_at": NOW,
                    "expires_at": NOW + 900}  # fmt: skip


def test_a_live_lease_of_another_run_refuses_and_stays_as_it_is():
    held, answer = take(BOB, "run-a", {}, 900, NOW)
    assert held is BOB and answer["got"] is False
    assert answer["before"] == {"run_id": "run-b", "owner": {"who": "bob@ctl"}, "renewed_seconds": 10,
                                "expires_in_seconds": 890, "expired_seconds": -890}  # fmt: skip


def test_an_expired_lease_is_taken_over_saying_whose_it_was():
    expired = {**BOB, "renewed_at": NOW - 905, "expires_at": NOW - 5}
    held, answer = take(expired, "run-a", {}, 900, NOW)
    assert answer["got"] is True and held["run_id"] == "run-a" and held["taken_at"] == NOW
    assert answer["before"]["run_id"] == "run-b" and answer["before"]["expired_seconds"] == 5


def test_taking_again_the_runs_own_lease_renews_it_and_keeps_when_it_was_taken():
    held, answer = take(BOB, "run-b", {"who": "bob@ctl"}, 900, NOW)
    assert answer["got"] is True and held["taken_at"] == NOW - 100 and held["expires_at"] == NOW + 900


def test_a_lease_that_cannot_be_read_counts_as_expired():
    held, answer = take({"run_id": 3}, "run-a", {}, 900, NOW)
    assert answer == {"got": True, "before": None} and held["run_id"] == "run-a"


def test_a_lease_must_last():
    with pytest.raises(ValueError, match="lease_seconds must be positive"):
        take(None, "run-a", {}, 0, NOW)


def test_a_renewal_extends_the_runs_own_lease():
    held, answer = renew(BOB, "run-b", 900, NOW)
    assert answer["held"] is True and held["renewed_at"] == NOW and held["expires_at"] == NOW + 900


def test_a_renewal_of_a_lease_taken_over_says_so_and_changes_nothing():
    held, answer = renew(BOB, "run-a", 900, NOW)
    assert answer["held"] is False and held is BOB
    assert renew(None, "run-a", 900, NOW) == (None, {"held": False, "before": None})


def test_a_release_removes_only_the_runs_own_lease():
    assert release(BOB, "run-b", NOW)[0] is None and release(BOB, "run-b", NOW)[1]["released"] is True
    held, answer = release(BOB, "run-a", NOW)
    assert held is BOB and answer["released"] is False


def test_a_lease_is_described_by_when_it_was_renewed_and_expires():
    assert describe(BOB, NOW)["renewed_seconds"] == 10 and describe(None, NOW) is None
