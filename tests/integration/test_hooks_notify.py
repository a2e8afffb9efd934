"""The pipeline's hooks (hook.yml) and notifications (notify.yml) through ansible-playbook on this machine: real
hook task files, a real HTTP receiver (this process) that checks the HMAC signature, a receiver that is down, and
the request step's refusal of malformed ai_cs_hooks / ai_cs_notify. The lab e2e (test_deploy) runs them inside a
real deploy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ansible_run import json_document, run_playbook
from receiver import Receiver, closed_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "n0t/+=@%ify"  # the receiver's signing secret
TOKEN = "T0KEN-in-the-url-5f3a"  # as a Slack webhook URL carries one

HARNESS = """
- name: Harness | a run, one step with hooks at {{ point }}, then an event
  hosts: app
  gather_facts: false
  tasks:
    - name: Harness | Describe the run (what the request step publishes)
      ansible.builtin.set_fact:
        pipeline_run: {run_id: r-42, operation: deploy, version: v9.9.9, who: tester@ci, since_epoch: 0,
                       check_mode: false}
      delegate_to: localhost
      delegate_facts: true
      run_once: true

    - name: Harness | A step of the pipeline, with its hooks
      block:
        - name: Harness | Hooks
          ansible.builtin.include_role:
            name: pipeline
            tasks_from: hook
          vars:
            __pipeline_hook: "{{ point }}"
            pipeline_target: v9.9.9
            pipeline_from: {version: v9.9.8}
        - name: Harness | What comes after the hooks in the step
          ansible.builtin.set_fact:
            went_on: true
      rescue:
        - name: Harness | The step's rescue (the pipeline's stop)
          ansible.builtin.set_fact:
            stopped: "{{ ansible_failed_result.msg }}"

    - name: Harness | An event
      ansible.builtin.include_role:
        name: pipeline
        tasks_from: notify
      vars:
        pipeline_event: {event: "{{ event }}", text: deploy v9.9.9 done, version: v9.9.9, run_id: r-42,
                           hosts: "{{ ansible_play_hosts_all }}"}

    - name: Harness | Show the outcome
      ansible.builtin.debug:
        msg: "OUTCOME {{ {'went_on': went_on | default(false), 'stopped': stopped | default('')} | to_json }}"

    - name: Harness | Show the hook failures kept for the summary
      ansible.builtin.debug:
        msg: >-
          KEPT {{ ansible_play_hosts_all | map('extract', hostvars) | map(attribute='pipeline_hook_failures',
          default=[]) | flatten | to_json }}
      run_once: true
"""


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def harness(tmp_path: Path, extra: dict, verbosity: int = 0) -> tuple[int, str]:
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    (tmp_path / "playbooks/harness.yml").write_text(HARNESS)
    inventory = tmp_path / "hosts.yml"
    hosts = {h: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable} for h in ("h1", "h2")}
    inventory.write_text(json.dumps({"all": {"children": {"app": {"hosts": hosts}}}}))
    rc, out, err = run_playbook(
        tmp_path / "playbooks/harness.yml", inventory, {"event": "deploy", **extra}, as_json=True, verbosity=verbosity
    )
    return rc, out + err


def results(out: str, task: str) -> dict:
    """{host: result} of the harness task of that name, from the JSON callback's document."""
    found = [t for t in json_document(out)["plays"][0]["tasks"] if t["task"]["name"] == task]
    assert found, f"no task {task!r}"
    return found[0]["hosts"]


def outcome(out: str, host: str) -> dict:
    return json.loads(results(out, "Harness | Show the outcome")[host]["msg"].split("OUTCOME ", 1)[1])


def hook_file(tmp_path: Path, name: str, fail_on: str = "") -> str:
    (tmp_path / "hooks").mkdir(exist_ok=True)
    (tmp_path / "hooks" / name).write_text(f"""
- name: {name} | Keep what the hook sees
  ansible.builtin.copy:
    content: "{{{{ pipeline_hook | to_json }}}}"
    dest: "{tmp_path}/seen-{name}-{{{{ inventory_hostname }}}}.json"
    mode: "0600"
  delegate_to: localhost
- name: {name} | Refuse on {fail_on or "no host"}
  ansible.builtin.fail:
    msg: the change window is closed
  when: inventory_hostname == '{fail_on}'
""")
    return f"hooks/{name}"  # relative to the checkout (here: tmp_path, the harness playbook's parent)


def test_a_failing_hook_before_the_switch_stops_that_hosts_step_naming_the_hook(tmp_path):
    hooks = {"before_stage": [hook_file(tmp_path, "window.yml", fail_on="h2")]}
    rc, out = harness(tmp_path, {"point": "before_stage", "ai_cs_hooks": hooks})
    assert rc == 0, out[-3000:]
    assert outcome(out, "h1") == {"went_on": True, "stopped": ""}
    stopped = outcome(out, "h2")
    assert not stopped["went_on"]
    assert "the before_stage hook (hooks/window.yml) failed at 'window.yml | Refuse on h2'" in stopped["stopped"]
    assert "the change window is closed" in stopped["stopped"]
    seen = json.loads((tmp_path / "seen-window.yml-h1.json").read_text())
    assert seen == {
        "point": "before_stage",
        "operation": "deploy",
        "version": "v9.9.9",
        "from": "v9.9.8",
        "hosts": ["h1", "h2"],
        "host": "h1",
        "run_id": "r-42",
        "who": "tester@ci",
        "check_mode": False,
    }


def test_a_failing_hook_after_the_switch_is_reported_and_the_run_goes_on(tmp_path):
    hooks = {
        "after_switch": [hook_file(tmp_path, "smoke.yml", fail_on="h2"), hook_file(tmp_path, "log.yml", fail_on="h1")]
    }
    rc, out = harness(tmp_path, {"point": "after_switch", "ai_cs_hooks": hooks})
    assert rc == 0, out[-3000:]
    assert outcome(out, "h1") == outcome(out, "h2") == {"went_on": True, "stopped": ""}
    said = " ".join(out.split())
    for host in ("h1", "h2"):  # both hosts' hooks failed, at the same time
        assert f"WARNING: the after_switch hook (hooks/smoke.yml, hooks/log.yml) failed on {host}" in said
    kept = results(out, "Harness | Show the hook failures kept for the summary")
    assert next(iter(kept.values()))["msg"] == 'KEPT ["after_switch on h1", "after_switch on h2"]'
    assert (tmp_path / "seen-log.yml-h1.json").exists()  # the second hook ran where the first did not fail


def test_events_reach_the_receivers_signed_and_a_receiver_down_fails_nothing(tmp_path, receiver):
    notify = [
        {"url": f"{receiver.url}/signed", "secret": SECRET},
        {"url": f"{receiver.url}/slack/{TOKEN}", "format": "slack"},
        {"url": f"{receiver.url}/only-failures", "events": ["failure"]},
        {"url": f"http://127.0.0.1:{closed_port()}/down/{TOKEN}", "secret": SECRET},
    ]
    rc, out = harness(tmp_path, {"point": "after_stage", "ai_cs_notify": notify}, verbosity=3)
    assert rc == 0, out[-3000:]
    assert {g["path"] for g in receiver.got} == {"/signed", f"/slack/{TOKEN}"}  # once per run, not per host
    (event,) = receiver.events("/signed", secret=SECRET)  # the signature checked
    assert event["event"] == "deploy" and event["version"] == "v9.9.9" and event["service"] == "ai-customer-service"
    assert event["hosts"] == ["h1", "h2"] and event["run_id"] == "r-42"
    assert receiver.events(f"/slack/{TOKEN}") == [{"text": "[ai-customer-service] deploy v9.9.9 done"}]
    said = " ".join(out.split())
    assert "WARNING: the deploy notification to 127.0.0.1 was not delivered (symptom: no answer" in said
    assert SECRET not in out and TOKEN not in out, "a receiver's secret or URL token in the output at -vvv"


def test_the_request_step_refuses_malformed_hooks_and_receivers_before_any_host(tmp_path):
    # hosts nothing listens for: were a refusal missed, the run would find them unreachable, never a real fleet
    port = closed_port()
    app = {h: {"ansible_host": "127.0.0.1", "ansible_port": port} for h in ("app1", "app2")}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"app": {"hosts": app}}}}))

    (tmp_path / "hooks").mkdir(mode=0o755)
    elsewhere = tmp_path / "elsewhere.yml"
    elsewhere.write_text("- name: x\n  ansible.builtin.debug: {msg: x}\n")
    (tmp_path / "hooks/shared.yml").write_text(elsewhere.read_text())
    (tmp_path / "hooks/shared.yml").chmod(0o664)
    (tmp_path / "hooks/ends.yml").write_text(
        "- name: x\n  block:\n    - name: y\n      ansible.builtin.meta: end_host\n"
    )
    (tmp_path / "hooks/includes.yml").write_text("- name: x\n  ansible.builtin.include_tasks: /etc/more.yml\n")

    def request(extra: dict) -> tuple[int, str]:
        rc, out, err = run_playbook(ROOT / "playbooks/deploy.yml", inventory, {"version": "v1.1.0", **extra})
        return rc, " ".join((out + err).split())

    cases = [
        ({"ai_cs_hooks": {"before_lunch": ["hooks/x.yml"]}}, "ai_cs_hooks (pipeline_hooks) must map points"),
        ({"ai_cs_hooks": {"before_stage": "hooks/x.yml"}}, "ai_cs_hooks (pipeline_hooks) must map points"),
        ({"ai_cs_hooks": {"before_stage": ["hooks/missing.yml"]}}, "hooks/missing.yml"),
        # issue 36 item 13: hooks run as root with every secret in scope, and could end the host past the rescue
        ({"ai_cs_hooks": {"before_stage": [str(elsewhere)]}}, "is not in the inventory's hooks directory"),
        ({"ai_cs_hooks": {"before_stage": ["hooks/../elsewhere.yml"]}}, "is not in the inventory's hooks directory"),
        ({"ai_cs_hooks": {"before_stage": ["hooks/shared.yml"]}}, "writable by no one else (fix: chown"),
        ({"ai_cs_hooks": {"on_failure": ["hooks/ends.yml"]}}, "ends the host or the play (meta: end_host)"),
        ({"ai_cs_hooks": {"after_switch": ["hooks/includes.yml"]}}, "brings in other task files"),
        ({"ai_cs_notify": [{"url": f"ftp://x/{TOKEN}"}]}, "ai_cs_notify (pipeline_notify) must be a list"),
        ({"ai_cs_notify": [{"url": "http://x/", "format": "teams"}]}, "ai_cs_notify (pipeline_notify) must be"),
        ({"ai_cs_notify": [{"url": "http://x/", "events": ["lunch"]}]}, "ai_cs_notify (pipeline_notify) must be"),
    ]
    for extra, said in cases:
        rc, out = request(extra)
        assert rc != 0 and said in out and "Nothing was changed" in out, (extra, out[-2000:])
        assert TOKEN not in out
        assert "PLAY [Deploy | Preflight" not in out  # refused before the play that contacts hosts
