"""The end-to-end suites share one lab, brought up from nothing once per session
(AI_CS_REUSE_LAB=1 keeps a running lab instead, for working on one suite)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from labutil import machine_turn, run


@pytest.fixture(scope="session")
def fresh_lab():
    with machine_turn("the lab brought up"):  # the heaviest run of all: another lab's run under load waits for it
        if not os.environ.get("AI_CS_REUSE_LAB"):
            run("ansible-playbook", "playbooks/lab-down.yml")
        run("ansible-playbook", "playbooks/lab.yml")
    if marker := os.environ.get("AI_CS_LAB_UP_MARKER"):  # make test's Molecule scenarios wait for it
        Path(marker).touch()
