"""The end-to-end suites share one lab, brought up from nothing once per session."""

from __future__ import annotations

import pytest
from labutil import run


@pytest.fixture(scope="session")
def fresh_lab():
    run("ansible-playbook", "playbooks/lab-down.yml")
    run("ansible-playbook", "playbooks/lab.yml")
