"""Release artifacts are complete and reproducible."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import build


def test_building_twice_gives_identical_sha256sums(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    build.build(first)
    build.build(second)
    assert (first / "SHA256SUMS").read_bytes() == (second / "SHA256SUMS").read_bytes()


def test_sums_match_files_and_tarballs_hold_the_release(artifacts):
    lines = (artifacts / "SHA256SUMS").read_text().splitlines()
    releases = json.loads((Path(build.__file__).parent / "releases.json").read_text())["releases"]
    assert len(lines) == len(releases) == 8
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((artifacts / name).read_bytes()).hexdigest() == digest
    with tarfile.open(artifacts / "ai-customer-service-v1.1.0-linux-amd64.tar.gz") as tar:
        names = set(tar.getnames())
        assert tar.getmember("ai-customer-service").mode == 0o755
    assert {
        "ai-customer-service",
        "VERSION",
        "db/migration/0001_init.up.sql",
        "db/migration/0002_ticket_priority.up.sql",
    } <= names
    with tarfile.open(artifacts / "ai-customer-service-v1.0.0-linux-amd64.tar.gz") as tar:
        assert "db/migration/0002_ticket_priority.up.sql" not in tar.getnames()
    with tarfile.open(artifacts / "ai-customer-service-v1.1.1-fixture.contract-migration-linux-amd64.tar.gz") as tar:
        contract = tar.extractfile("db/migration/0003_fixture_contract.up.sql").read().decode()
        assert contract.startswith("-- ai-cs: contract")  # what rollback's schema check looks for
        assert "db/migration/0003_fixture_contract.down.sql" in tar.getnames()
