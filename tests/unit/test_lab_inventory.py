"""The lab inventory (inventory_plugins/ai_cs_lab.py): its app group is the lab's record of its app hosts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab(tmp_path):
    """The lab inventory file, where it sits in a checkout (the record is ../../build/lab-ssh/lab.json from it)."""
    inventory = tmp_path / "inventories/lab/hosts.yml"
    inventory.parent.mkdir(parents=True)
    shutil.copy(ROOT / "inventories/lab/hosts.yml", inventory)
    (tmp_path / "build/lab-ssh").mkdir(parents=True)
    return inventory, tmp_path / "build/lab-ssh/lab.json"


def inventory_of(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    cmd = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(path), "--list"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def groups(proc: subprocess.CompletedProcess) -> dict[str, list[str]]:
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    return {g: listed[g].get("hosts", []) for g in ("app", "db", "lb", "artifacts", "monitoring")}


def test_without_a_record_the_files_two_app_hosts(lab):
    inventory, _ = lab
    assert groups(inventory_of(inventory)) == {
        "app": ["ai-cs-app1", "ai-cs-app2"],
        "db": ["ai-cs-db"],
        "lb": ["ai-cs-lb"],
        "artifacts": ["ai-cs-artifacts"],
        "monitoring": ["ai-cs-mon"],
    }


def test_the_record_names_the_app_hosts_and_nothing_else_moves(lab):
    inventory, record = lab
    eight = [f"ai-cs-app{i}" for i in range(1, 9)]
    record.write_text(json.dumps({"app_hosts": eight}))
    found = groups(inventory_of(inventory))
    assert found["app"] == eight and found["db"] == ["ai-cs-db"] and found["monitoring"] == ["ai-cs-mon"]
    host = json.loads(inventory_of(inventory).stdout)["_meta"]["hostvars"]["ai-cs-app8"]  # all's vars reach it
    assert host["ansible_user"] == "root"
    # the lab's ssh config by its path, a plain value (ansible-inventory shows it as one never templated)
    assert host["ansible_ssh_args"] == {"__ansible_unsafe": f"-F {inventory.parent}/../../build/lab-ssh/config"}
    record.write_text(json.dumps({"app_hosts": ["ai-cs-app1"]}))
    assert groups(inventory_of(inventory))["app"] == ["ai-cs-app1"]


@pytest.mark.parametrize(
    ("content", "says"),
    [('{"app_hosts": [', "is unreadable"), ('{"app_hosts": []}', "lists no app hosts"), ("{}", "is unreadable")],
)
def test_a_broken_record_is_named_with_its_fix(lab, content, says):
    inventory, record = lab
    record.write_text(content)
    proc = inventory_of(inventory)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert (
        f"the lab record {record.parent.parent.parent / 'inventories/lab/../../build/lab-ssh/lab.json'} {says}" in out
    )
    assert "Fix: make lab" in out
    assert '"ai-cs-app1"' not in proc.stdout  # no inventory at all rather than the wrong one
