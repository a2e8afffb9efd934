"""promtool and amtool as Debian ships them (prometheus 2.42, prometheus-alertmanager 0.25), run in the lab image,
which has them: the monitoring host runs the same builds, and nothing is installed on this machine for it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from monitoring_util import ROOT


@pytest.fixture(scope="session")
def lab_image() -> str:
    image = os.environ.get("AI_CS_LAB_IMAGE")
    if not image:  # build.sh prints the tag at once when the image exists, else builds it (about 3 minutes)
        image = subprocess.run([ROOT / "lab" / "image" / "build.sh"], check=True, capture_output=True, text=True)
        image = image.stdout.strip()
    return image


@pytest.fixture(scope="session")
def tool(lab_image):
    """tool(dir, *argv): run promtool/amtool in a throwaway container, dir mounted read-only at /w."""

    def run(workdir: Path, *argv: str) -> subprocess.CompletedProcess:
        cmd = ["podman", "run", "--rm", "--network", "none", "-v", f"{workdir}:/w:ro", "-w", "/w", lab_image, *argv]
        return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)

    return run
