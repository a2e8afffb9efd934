"""The task names the lab suites wait for (a run cut off there, a phase reached) name tasks that exist.

A lab test waiting for a task that a rename took away never sees it: its run goes on to the end, and the tests
after it inherit what that run did (twice so far: a set-up task moved into staging, a read merged into another).
This finds such a marker in a second, before any lab is up.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r'r"(TASK \\\[[^"]+)"')


def markers() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        found += [(path.name, m) for m in MARKER.findall(path.read_text(encoding="utf-8"))]
    return found


def task_lines() -> list[str]:
    """Each named task of every role (blocks included) as ansible prints it: "TASK [<role> : <name>]"."""

    def names(items):
        for item in items or []:
            if isinstance(item, dict):
                if item.get("name"):
                    yield item["name"]
                for key in ("block", "rescue", "always"):
                    yield from names(item.get(key))

    return [
        f"TASK [{path.parent.parent.name} : {name}]"
        for path in sorted((ROOT / "roles").glob("*/tasks/*.yml"))
        for name in names(yaml.safe_load(path.read_text(encoding="utf-8")))
    ]


def test_there_are_markers_to_check():
    assert len(markers()) >= 5, markers()


@pytest.mark.parametrize(("where", "marker"), markers())
def test_each_marker_names_a_task_that_exists(where, marker):
    lines = task_lines()
    assert any(re.search(marker, line) for line in lines), f"{where}: no task matches {marker}"
