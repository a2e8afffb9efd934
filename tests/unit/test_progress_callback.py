"""callback_plugins/ai_cs_progress.py: a task running longer than the interval says so, every interval, until the
next task starts; a short one prints nothing."""

from __future__ import annotations

import configparser
import importlib.util
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Task:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return f"pipeline : {self.name}"


class _Display:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def display(self, msg: str, **_kw: object) -> None:
        self.lines.append(msg)


@pytest.fixture
def progress(monkeypatch):
    monkeypatch.setenv("AI_CS_PROGRESS_INTERVAL", "1")
    spec = importlib.util.spec_from_file_location("ai_cs_progress", ROOT / "callback_plugins/ai_cs_progress.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.CallbackModule()
    plugin._display = _Display()
    return plugin


def test_it_is_enabled_where_the_playbooks_run():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert "ai_cs_progress" in [name.strip() for name in cfg["defaults"]["callbacks_enabled"].split(",")]


def test_a_long_task_says_every_interval_how_long_it_has_run_and_what_it_waits_for(progress):
    progress.v2_playbook_on_task_start(_Task("canary | Watch app1 against app2 for up to 20 s"), False)
    time.sleep(2.5)
    progress.v2_playbook_on_task_start(_Task("canary | Judge"), False)
    lines = progress._display.lines
    assert 1 <= len(lines) <= 2, lines  # at 1 s and 2 s (a loaded machine may wake the timer late)
    assert all(re.fullmatch(r"  \.\.\. still running after \d s: pipeline : canary \| Watch app1 against app2 for up "
                            r"to 20 s", line) for line in lines), lines  # fmt: skip
    time.sleep(1.3)
    assert progress._display.lines == lines, "the next task stopped the timer"


def test_a_task_shorter_than_the_interval_prints_nothing_and_the_next_task_stops_the_timer(progress):
    progress.v2_playbook_on_task_start(_Task("switch | Swap"), False)
    time.sleep(0.3)
    progress.v2_playbook_on_task_start(_Task("switch | Keep"), False)
    progress.v2_playbook_on_stats(None)
    time.sleep(1.3)
    assert progress._display.lines == [] and progress._thread is None
