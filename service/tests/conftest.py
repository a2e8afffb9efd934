from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pgcluster import PgCluster
from svc import Service, apply_migrations, prod_env, unpack

_db_names = itertools.count(1)


@pytest.fixture(scope="session")
def releases(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    dest = tmp_path_factory.mktemp("releases")
    return lambda version: unpack(artifacts, version, dest)


@pytest.fixture
def database(pg: PgCluster) -> str:
    """A fresh, empty database owned by the service's role, per test."""
    return pg.create_database(f"svc_test_{next(_db_names)}")


@pytest.fixture
def migrated(pg: PgCluster, database: str, releases) -> Callable[[int], str]:
    def _migrate(upto: int) -> str:
        conn = pg.connect(database)
        apply_migrations(conn, releases("v1.1.0"), upto)
        conn.close()
        return database

    return _migrate


@pytest.fixture
def start(releases) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def _start(version: str, env: dict[str, str], wait: bool = True, port: int | None = None) -> Service:
        svc = Service(releases(version), env, port)
        started.append(svc)
        if wait:
            svc.wait_live()
        return svc

    yield _start
    for svc in started:
        svc.stop()


@pytest.fixture
def service(start, pg, migrated) -> Service:
    """v1.1.0 serving on a database migrated to its schema (service.db names it)."""
    db = migrated(2)
    svc = start("v1.1.0", prod_env(pg, db))
    svc.db = db
    return svc
