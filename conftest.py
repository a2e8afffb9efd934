"""Fixtures shared by every test tree: a real PostgreSQL cluster and the built release artifacts."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

ROOT = Path(__file__).resolve().parent
# Shared helpers: tests/ (PostgreSQL cluster, runbook procedures, lab), service/ (the release build),
# service/tests/ (running a built release).
for path in (ROOT / "tests", ROOT / "service", ROOT / "service" / "tests"):
    sys.path.insert(0, str(path))

if TYPE_CHECKING:  # imported where a test needs it: the unit tests run without psycopg2 (make setup-controller)
    from pgcluster import PgCluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test's kind from its tree: unit (no lab, no PostgreSQL, seconds), e2e (the lab; also marked lab), and
    integration (a real PostgreSQL, a built release, promtool: everything between)."""
    for item in items:
        tree = Path(item.path).relative_to(ROOT).parts[:2]
        kind = "unit" if tree == ("tests", "unit") else "e2e" if tree in {("tests", "e2e"), ("tests", "lab")} else None
        item.add_marker(kind or "integration")


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    from pgcluster import PgCluster  # noqa: PLC0415 - tests/pgcluster.py needs psycopg2, which unit tests do not

    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import build  # noqa: PLC0415 - service/build.py, importable only after the sys.path set-up above

    out = tmp_path_factory.mktemp("artifacts")
    build.build(out)
    return out
