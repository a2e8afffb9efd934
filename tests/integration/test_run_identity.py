"""Who runs a deploy, as the request step writes it into pipeline_run (the lock and the history record it): from
AWX / Automation Controller's job variables when AWX runs the job, else $USER@<host>. Through ansible-playbook and
the pipeline role's own request step, on localhost (it contacts no host)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from ansible_run import json_document, run_playbook

ROOT = Path(__file__).resolve().parents[2]

PLAYBOOK = """
- name: Request step alone
  hosts: app
  gather_facts: false
  tasks:
    - name: Request
      ansible.builtin.include_role:
        name: pipeline
        tasks_from: request
      vars:
        pipeline_operation: deploy
        pipeline_version: v1.1.0
    - name: Who
      ansible.builtin.debug:
        msg: "WHO {{ hostvars.localhost.pipeline_run.who }}"
      run_once: true
"""


def who(tmp_path: Path, extra: dict, user: str = "alice") -> str:
    (tmp_path / "request.yml").write_text(PLAYBOOK)
    inventory = tmp_path / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(json.dumps({"all": {"children": {"app": {"hosts": {"app1": local}}}}}))
    rc, out, err = run_playbook(tmp_path / "request.yml", inventory, extra, as_json=True, env={"USER": user})
    assert rc == 0, out[-3000:] + err[-2000:]
    doc = json_document(out)
    task = next(t for t in doc["plays"][0]["tasks"] if t["task"]["name"] == "Who")
    return next(iter(task["hosts"].values()))["msg"].removeprefix("WHO ")


@pytest.mark.parametrize(
    ("awx", "said"),
    [
        ({}, f"alice@{socket.gethostname()}"),
        (
            {"awx_job_id": 42, "awx_job_template_name": "ai-cs deploy", "awx_user_name": "bob"},
            "awx job 42 (ai-cs deploy) by bob",
        ),
        # a scheduled job has no user: the schedule says who
        (
            {
                "awx_job_id": 43,
                "awx_job_template_name": "ai-cs diagnose",
                "awx_schedule_name": "nightly",
                "awx_user_name": "",
            },
            "awx job 43 (ai-cs diagnose) on schedule nightly",
        ),
        ({"awx_job_id": 44}, "awx job 44 by an unknown user"),
    ],
)
def test_who_runs_it_comes_from_awx_when_awx_runs_the_job(tmp_path, awx, said):
    assert who(tmp_path, awx) == said
