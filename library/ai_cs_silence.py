#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: a run's silence on Alertmanager, asked for and lifted, one call each (module_utils/ai_cs_silence)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_cs_silence
short_description: Silence the alerts of the hosts a run switches on Alertmanager, and lift the silence
description:
  - I(action=open) expires the silences of this pipeline's runs that died before lifting theirs (active, the
    comment starting with the pipeline's marker; the caller holds the deploy lock, so no live run has one), then
    asks for a silence of every alert whose C(instance) is one of I(hosts), ending by itself after I(minutes).
  - I(action=lift) expires I(silence_id) and lists the labels of the alerts that started since I(since), for the
    run's summary.
  - Alertmanager is reached over HTTPS, its certificate checked against I(ca) (else the system's CAs), with HTTP
    basic auth as I(username). Monitoring never stops a deploy, so Alertmanager refusing or not answering does not
    fail the module; C(problem) says what happened and the caller warns.
version_added: "1.1.0"
author: ai-customer-service ops (@ai-cs-ops)
options:
  action:
    description: What to do.
    type: str
    choices: [open, lift]
    required: true
  url:
    description: Alertmanager's base URL as this host reaches it (no credentials in it).
    type: str
    required: true
  username:
    description: The pipeline's account on Alertmanager; empty for none.
    type: str
    default: ""
  password:
    description: Its password.
    type: str
    default: ""
  ca:
    description: PEM of the CA that signed Alertmanager's certificate; empty for the system's.
    type: str
    default: ""
  hosts:
    description: (open) Inventory names of the hosts whose alerts are silenced.
    type: list
    elements: str
    default: []
  minutes:
    description: (open) How long the silence lasts if no one lifts it.
    type: int
    default: 60
  created_by:
    description: (open) Who asked (the run's operator).
    type: str
    default: ai-cs pipeline
  comment:
    description: (open) What the silence is for; the pipeline's marker is put before it.
    type: str
    default: ""
  silence_id:
    description: (open) The run's own silence, never expired as stale; (lift) the silence to lift.
    type: str
    default: ""
  since:
    description: (lift) The run's start (RFC 3339, UTC); alerts started since are listed.
    type: str
    default: ""
  timeout:
    description: Seconds to wait for each answer.
    type: int
    default: 10
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads Alertmanager's silences; asks for, expires and lifts nothing.
"""

EXAMPLES = r"""
- name: Silence the hosts this run switches
  ai_cs_silence:
    action: open
    url: https://mon1.example.internal:9093
    username: ai-cs-pipeline
    password: "{{ vault_ai_cs_alertmanager_password }}"
    ca: "{{ vault_monitoring_web_ca }}"
    hosts: [app1, app2]
    comment: deploy v1.1.0 run 20261206T010203-1234
  delegate_to: localhost
  register: silence
"""

RETURN = r"""
silence_id:
  description: (open) The new silence's id; empty when Alertmanager did not take it.
  type: str
  returned: always
expired:
  description: (open) The ids of dead runs' silences expired.
  type: list
  elements: str
  returned: always
lifted:
  description: (lift) Whether the silence was expired.
  type: bool
  returned: always
alerts:
  description: (lift) Labels of the alerts that started since I(since).
  type: list
  elements: dict
  returned: always
problem:
  description: What Alertmanager refused or why it did not answer; empty when all went well.
  type: str
  returned: always
"""

import json
import os
import time

from ansible.module_utils.ai_cs_silence import Alertmanager, alerts_since, problem, silence_body, stale
from ansible.module_utils.basic import AnsibleModule


def _open(module: AnsibleModule, am: Alertmanager) -> dict:
    p = module.params
    result: dict = {"silence_id": "", "expired": [], "lifted": False, "alerts": [], "problem": ""}
    listed = am.call("GET", "/silences")
    if problem(listed, "reading the silences"):
        result["problem"] = problem(listed, "reading the silences")
        return result
    dead = stale(listed.body, keep=p["silence_id"])
    if module.check_mode:
        return {**result, "changed": True, "expired": [s["id"] for s in dead]}
    for gone in dead:
        if am.call("DELETE", f"/silence/{gone['id']}").status == 200:
            result["expired"].append(gone["id"])
    body = silence_body(p["hosts"], p["minutes"], p["created_by"], p["comment"], time.time())
    made = am.call("POST", "/silences", json.dumps(body).encode())
    result["problem"] = problem(made, "asking for the silence")
    if not result["problem"]:
        result["silence_id"] = str((made.body or {}).get("silenceID", "")) if isinstance(made.body, dict) else ""
    result["changed"] = bool(result["silence_id"] or result["expired"])
    return result


def _lift(module: AnsibleModule, am: Alertmanager) -> dict:
    p = module.params
    result: dict = {"silence_id": p["silence_id"], "expired": [], "lifted": False, "alerts": [], "problem": ""}
    if module.check_mode:
        return {**result, "changed": True}
    gone = am.call("DELETE", f"/silence/{p['silence_id']}")
    result["problem"] = problem(gone, f"lifting the silence {p['silence_id']}")
    result["lifted"] = not result["problem"]
    alerts = am.call("GET", "/alerts?active=true&silenced=true&inhibited=true&unprocessed=true")
    result["alerts"] = alerts_since(alerts.body, p["since"]) if alerts.status == 200 else []
    result["changed"] = result["lifted"]
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["open", "lift"]},
            "url": {"type": "str", "required": True},
            "username": {"type": "str", "default": ""},
            "password": {"type": "str", "default": "", "no_log": True},
            "ca": {"type": "str", "default": ""},
            "hosts": {"type": "list", "elements": "str", "default": []},
            "minutes": {"type": "int", "default": 60},
            "created_by": {"type": "str", "default": "ai-cs pipeline"},
            "comment": {"type": "str", "default": ""},
            "silence_id": {"type": "str", "default": ""},
            "since": {"type": "str", "default": ""},
            "timeout": {"type": "int", "default": 10},
        },
        required_if=[("action", "lift", ["silence_id"])],
        supports_check_mode=True,
    )
    p = module.params
    if p["action"] == "open" and not p["hosts"]:
        module.fail_json(msg="action=open needs the hosts whose alerts are silenced")
    if p["username"] and not p["password"]:
        module.fail_json(msg="a username for Alertmanager needs its password (ai_cs_alertmanager_password)")
    ca_path = None
    if p["ca"]:
        ca_path = os.path.join(module.tmpdir, "alertmanager-ca.pem")
        with open(ca_path, "w", encoding="utf-8") as pem:
            pem.write(p["ca"])
    am = Alertmanager(p["url"], p["username"], p["password"], ca_path, float(p["timeout"]))
    module.exit_json(**(_open(module, am) if p["action"] == "open" else _lift(module, am)))


if __name__ == "__main__":
    main()
