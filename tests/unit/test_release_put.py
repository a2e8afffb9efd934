"""roles/release/files/put.sh, the release swap's one call: its refusals come before any put."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PUT = Path(__file__).resolve().parents[2] / "roles" / "release" / "files" / "put.sh"


def put(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(PUT), *args], capture_output=True, text=True, check=False)


@pytest.fixture
def install(tmp_path: Path) -> Path:
    """An install dir serving v1 (current -> releases/v1), with v2 staged: complete, with its executable."""
    for version in ("v1", "v2"):
        release = tmp_path / "releases" / version
        release.mkdir(parents=True)
        (release / ".complete").write_text(f"{version}\n")
        exe = release / "ai-customer-service"
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    (tmp_path / "current").symlink_to("releases/v1")
    return tmp_path


def swap(install: Path, version: str, kind: str, need: str) -> subprocess.CompletedProcess[str]:
    release = install / "releases" / version
    return put(
        "need", "file", str(release / ".complete"), f"{version} is not complete",
        "need", kind, str(release / need), f"{version} has no {need}",
        "link", str(install), version,
    )  # fmt: skip


def test_a_ready_release_is_swapped_to(install: Path) -> None:
    result = swap(install, "v2", "executable", "ai-customer-service")
    assert (result.returncode, result.stdout, result.stderr) == (0, "link\n", "")
    assert os.readlink(install / "current") == "releases/v2"


@pytest.mark.parametrize(
    ("take_away", "message"),
    [(".complete", "v2 is not complete"), ("ai-customer-service", "v2 has no ai-customer-service")],
)
def test_a_release_missing_what_it_needs_is_refused_before_anything_is_put(
    install: Path, take_away: str, message: str
) -> None:
    (install / "releases" / "v2" / take_away).unlink()
    result = swap(install, "v2", "executable", "ai-customer-service")
    assert (result.returncode, result.stdout, result.stderr) == (4, "", message + "\n")
    assert os.readlink(install / "current") == "releases/v1"


def test_a_file_that_may_not_be_run_is_not_an_executable(install: Path) -> None:
    (install / "releases" / "v2" / "ai-customer-service").chmod(0o644)
    assert swap(install, "v2", "executable", "ai-customer-service").returncode == 4
    assert os.readlink(install / "current") == "releases/v1"


@pytest.mark.parametrize("reference", ["", "localhost/ai-cs-never-built@sha256:" + "0" * 64])
def test_an_image_reference_naming_no_image_here_is_refused(install: Path, reference: str) -> None:
    # an empty IMAGE never reaches podman; a named image this host does not have is refused on podman's answer
    (install / "releases" / "v2" / "IMAGE").write_text(reference + "\n" if reference else "")
    assert swap(install, "v2", "image", "IMAGE").returncode == 4
    assert os.readlink(install / "current") == "releases/v1"


def test_an_unknown_need_is_an_error_not_a_refusal(install: Path) -> None:
    result = put("need", "socket", str(install), "never shown")
    assert result.returncode == 2
    assert "unknown need socket" in result.stderr
