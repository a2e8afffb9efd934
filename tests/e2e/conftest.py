"""The end-to-end suites share one lab, brought up from nothing once per session
(AI_CS_REUSE_LAB=1 keeps a running lab instead, for working on one suite; AI_CS_LAB_BROUGHT_UP=1 takes the lab as it
is: make test brings a lab of its own up from nothing just before the session, beside the suites before it). The
scheduled diagnostic's timer is stopped for the session (its runs write rows the suites count) and started after."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from labutil import bring_up_lab, scheduled_diagnose_held


@pytest.fixture(scope="session")
def fresh_lab():
    if not os.environ.get("AI_CS_LAB_BROUGHT_UP"):
        bring_up_lab(from_nothing=not os.environ.get("AI_CS_REUSE_LAB"))
    if marker := os.environ.get("AI_CS_LAB_UP_MARKER"):  # make test's Molecule scenarios wait for it
        Path(marker).touch()
    with scheduled_diagnose_held():
        yield
