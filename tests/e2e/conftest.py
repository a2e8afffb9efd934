"""The end-to-end suites share one lab, brought up from nothing once per session
(AI_CS_REUSE_LAB=1 keeps a running lab instead, for working on one suite)."""

from __future__ import annotations

import os

import pytest
from labutil import run


@pytest.fixture(scope="session")
def fresh_lab():
    if not os.environ.get("AI_CS_REUSE_LAB"):
        run("ansible-playbook", "playbooks/lab-down.yml")
    run("ansible-playbook", "playbooks/lab.yml")
