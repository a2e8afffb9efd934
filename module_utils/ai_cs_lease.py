# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy lock's lease rules, for a lease kept in a file (an environment without PostgreSQL, runbook section 四).

The same rules as the lease row in the database (roles/deploy_lock/templates/take.sql.j2): taken when free, renewed
by the run that holds it, taken over once it has expired (its holder died), never while another run's lease is live.
A held lease is a mapping: run_id, owner, taken_at, renewed_at, expires_at (Unix seconds, the lock host's clock).
Each function takes the lease as it was (None when there is none) and returns what to keep (None: remove it) and what
to answer, the same shape as the database's: got, before (with renewed_seconds, expires_in_seconds, expired_seconds).
"""

from __future__ import annotations

from typing import Any

Lease = dict[str, Any]


def _valid(held: Any) -> bool:
    return (
        isinstance(held, dict)
        and isinstance(held.get("run_id"), str)
        and all(isinstance(held.get(k), (int, float)) for k in ("taken_at", "renewed_at", "expires_at"))
    )


def describe(held: Any, now: float) -> Lease | None:
    """The lease as the answer shows it (who, since when, how long ago renewed, when it expires), or None (no lease,
    or none that can be read as one)."""
    if not _valid(held):
        return None
    return {
        "run_id": held["run_id"],
        "owner": held.get("owner", {}),
        "renewed_seconds": now - held["renewed_at"],
        "expires_in_seconds": held["expires_at"] - now,
        "expired_seconds": now - held["expires_at"],
    }


def take(held: Any, run_id: str, owner: dict, lease_seconds: float, now: float) -> tuple[Lease | None, dict]:
    """Take the lease: free, this run's, or expired. A lease that is not one (a damaged file) counts as expired."""
    if lease_seconds <= 0:
        raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
    if held is not None and not _valid(held):
        held = None
    before = describe(held, now)
    if held and held["run_id"] != run_id and held["expires_at"] >= now:
        return held, {"got": False, "before": before}
    taken_at = held["taken_at"] if held and held["run_id"] == run_id else now
    new = {"run_id": run_id, "owner": owner, "taken_at": taken_at, "renewed_at": now, "expires_at": now + lease_seconds}
    return new, {"got": True, "before": before}


def renew(held: Any, run_id: str, lease_seconds: float, now: float) -> tuple[Lease | None, dict]:
    """Renew this run's lease; held is False when it is not this run's any more (taken over, or gone)."""
    if not _valid(held) or held["run_id"] != run_id:
        return (held if _valid(held) else None), {"held": False, "before": describe(held, now)}
    return dict(held, renewed_at=now, expires_at=now + lease_seconds), {"held": True, "before": describe(held, now)}


def release(held: Any, run_id: str, now: float) -> tuple[Lease | None, dict]:
    """Remove this run's lease; another run's stays as it is."""
    if not _valid(held):
        return None, {"released": False, "before": None}
    if held["run_id"] != run_id:
        return held, {"released": False, "before": describe(held, now)}
    return None, {"released": True, "before": describe(held, now)}
