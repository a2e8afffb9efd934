"""Release images: built from the release tarballs, reproducible to the digest, and what podman runs."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile

import image
import pytest

import build

pytestmark = pytest.mark.skipif(
    subprocess.run(["podman", "--version"], capture_output=True, check=False).returncode != 0,
    reason="needs podman (scripts/setup.sh installs it)",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two builds from nothing, each into its own artifact directory and image layout."""
    root = tmp_path_factory.mktemp("images")
    runs = []
    for name in ("first", "second"):
        out, layout = root / name / "artifacts", root / name / "oci"
        _, written = build.build(out, images=layout)
        runs.append((out, layout, written))
    return runs


def listed(artifacts) -> dict[str, str]:
    lines = (artifacts / image.DIGESTS_FILE).read_text().splitlines()
    return {ref.split(":", 1)[1]: digest for digest, ref in (line.split("  ") for line in lines)}


def test_two_builds_of_the_same_releases_give_the_same_image_digests(built):
    (first, _, written), (second, _, _) = built
    assert image.DIGESTS_FILE in written
    assert (first / image.DIGESTS_FILE).read_bytes() == (second / image.DIGESTS_FILE).read_bytes()
    digests = listed(first)
    assert len(digests) == 8 and len(set(digests.values())) == 8  # one image per release, no two alike
    assert all(d.startswith("sha256:") and len(d) == 71 for d in digests.values())


def test_a_second_build_into_the_same_place_writes_nothing(built):
    out, layout, _ = built[0]
    before = sorted(p.name for p in (layout / "blobs" / "sha256").iterdir())
    _, written = build.build(out, images=layout)
    assert written == []
    assert sorted(p.name for p in (layout / "blobs" / "sha256").iterdir()) == before


def test_the_image_layer_holds_exactly_the_tarballs_files(built):
    out, layout, _ = built[0]
    digest = listed(out)["v1.1.0"]
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
    top = manifest["layers"][-1]["digest"].split(":")[1]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress((layout / "blobs" / "sha256" / top).read_bytes()))) as tar:
        in_image = {m.name.removeprefix("opt/ai-customer-service/"): m for m in tar.getmembers()}
    with tarfile.open(out / build.artifact_name("v1.1.0")) as tar:
        for member in tar.getmembers():
            assert in_image[member.name].mode == member.mode
            if member.isfile():
                assert in_image[member.name].size == member.size
        assert set(in_image) - set(tar.getnames()) == {"opt", "opt/ai-customer-service"}
    config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    assert config["config"]["Labels"]["org.opencontainers.image.version"] == "v1.1.0"
    assert config["config"]["User"] == "65534:65534"


def test_podman_pulls_it_by_the_listed_digest_and_it_runs_the_release_as_nobody(built):
    out, layout, _ = built[0]
    digest = listed(out)["v1.0.0"]
    image_id = subprocess.run(
        ["podman", "pull", "--quiet", f"oci:{layout}:v1.0.0"], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        seen = subprocess.run(
            ["podman", "image", "inspect", "--format", "{{.Digest}}", image_id],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert seen == digest
        ran = subprocess.run(
            [
                "podman",
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "/bin/sh",
                image_id,
                "-c",
                "id -u; cat VERSION; ls db/migration; python3 -c 'import psycopg2'",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        assert ran == ["65534", "v1.0.0", "0001_init.down.sql", "0001_init.up.sql"]
    finally:
        subprocess.run(["podman", "rmi", "--force", image_id], capture_output=True, check=False)
