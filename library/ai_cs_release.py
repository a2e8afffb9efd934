#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the acts on one app host's releases (module_utils/ai_cs_release.py), one call each."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_cs_release
short_description: Switch an app host to a staged release and verify it, going back by itself when it fails
description:
  - The acts on one app host's releases, each one call (module_utils/ai_cs_release.py; the swap modes are its
    MODES).
  - I(action=switch) is what one host's switch needs, in order, each step stopping the rest when it fails. Swap, as
    I(action=swap). Restart (daemon-reload, enable, restart). Verify, as I(action=verify). Record the success in the
    host's history and local facts. When any step fails, the service's own ERROR lines since the switch began and
    the runbook's cause and fix are added to the cause; the host goes back to what served before with the same puts
    (another version, its own unit and config; the same version, the config and unit the swap replaced), restarts
    and verifies it (no smoke test); with nothing to go back to, the service is stopped. A release that failed and
    was left (a deploy's) is marked bad. The failure is recorded, and the module fails with result C(rolled_back)
    or C(failed), the step, the cause and the outcome.
  - I(action=back) goes back after a switch whose later step failed (the host was not put back in rotation, or the
    canary analysis judged it worse), as a switch that fails does. What the switch put (I(swapped)) is put back,
    the release marked bad (I(mark_bad)), the host's record as it was before (I(record_before)), the failure of
    I(failed_step) recorded with I(cause); it fails with the result and the outcome.
  - I(action=read) reads, changing nothing, what the host serves and has on disk (it works on a partly broken host),
    namely the release it last served verified (I(version), what a failed switch goes back to), where current points, a
    switch cut short, the previous release, the mode the installed unit runs, the service's systemd state, the host's
    record and the complete releases on disk.
  - I(action=swap) brings a staged release into service. A release that is not complete, or lacks what its mode
    runs, is refused before anything is put. Then current, the release's unit, its staged settings (.next) and the
    host's staged secrets (.next), each made beside its target and renamed over it (rename(2), so there is never a
    moment without a link, a unit or a config), keeping what each replaced as .previous; then the kept configs of
    I(restore) are put back.
  - I(action=verify) waits for /live, /ready (UP, the database UP) and /actuator/health reporting I(version), then
    runs the signed webhook smoke test directly at the host. a call, its replay byte for byte, an unsigned call, one
    signed with another secret and a stale one must be answered accepted, duplicate, CS_AUTH_4031, CS_AUTH_4034 and
    CS_AUTH_4033. Changes nothing but the smoke test's rows.
  - I(action=secrets) stages the host's secrets from the vault (I(secrets)) beside the serving ones
    (I(secrets_file).next, 0600, put in place by the swap) when their values differ, and removes a staged file no
    longer wanted. When the webhook secret changes, the one the host served is kept as
    C(AI_CS_WEBHOOK_SECRET_PREVIOUS), which the service accepts until C(AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL), now
    plus I(rotation_window) seconds; later runs keep an open window as it is, and drop it once it closed. Returns
    C(staged), C(rotation) and C(rotation_until), never a secret.
version_added: "1.1.0"
author: ai-customer-service ops (@ai-cs-ops)
options:
  action:
    description: What to do.
    type: str
    choices: [switch, back, swap, verify, read, secrets]
    default: switch
  version:
    description: (switch, back, swap, verify) The release to switch to, swap to or verify.
    type: str
  mode:
    description: The swap mode it runs in (one of module_utils/ai_cs_release.py's MODES).
    type: str
    default: binary
  from_version:
    description: (switch) What served verified before ('none' when nothing did), what a failure goes back to.
    type: str
    default: none
  from_mode:
    description: (switch) The mode it served in.
    type: str
    default: binary
  link:
    description: (switch, swap) Point current at the release with its unit, settings and secrets; false puts only
      the I(restore) configs (runbook 6.2, the config alone).
    type: bool
    default: true
  restore:
    description: (switch, swap) Kept configs to put back after the swap, in order, each copied.
    type: list
    elements: dict
    default: []
    suboptions:
      target:
        description: env (the release's settings), secrets (the host's file) or unit (the installed unit).
        type: str
        required: true
        choices: [env, secrets, unit]
      from:
        description: The suffix of the kept file (.next is moved, not copied).
        type: str
        required: true
      keep:
        description: The suffix to keep the replaced one under ('' keeps nothing).
        type: str
        default: ""
  install_dir:
    description: (switch, back, swap) Where releases/ and current are.
    type: path
  service:
    description: (switch, back, swap) The systemd unit, and the release's file names.
    type: str
  secrets_file:
    description: (switch, back, swap) The host's secrets file.
    type: path
  state_dir:
    description: (switch, back, swap) Where the history is kept.
    type: path
  fact_file:
    description: The host's record (local facts).
    type: path
    default: /etc/ansible/facts.d/ai_cs.fact
  base_url:
    description: (switch, verify) The service on this host.
    type: str
    default: http://127.0.0.1:8080
  timeout:
    description: (switch, verify) Seconds the release may take to become healthy.
    type: int
    default: 60
  smoke:
    description: (switch, verify) Run the signed webhook smoke test.
    type: bool
    default: true
  secret:
    description: (switch, verify) The webhook secret the smoke test signs with.
    type: str
    default: ""
  max_skew_seconds:
    description: (switch, verify) The service's allowed clock skew; the smoke test's stale call is older.
    type: int
    default: 300
  smoke_message:
    description: (switch, verify) channel, open_id and message_id of the smoke test's calls.
    type: dict
    default: {}
  record:
    description: (switch) The history entry (operation, from, to, mode, image, config, backup, run_id, who, ...).
    type: dict
    default: {}
  mark_bad:
    description: (switch) Mark the release bad when it fails and the host goes back to another one (a deploy).
    type: bool
    default: false
  since:
    description: (switch, back) Epoch seconds the run began; the record's duration counts from it.
    type: float
    default: 0
  failed_step:
    description: (back) The step after the switch that failed.
    type: str
    default: ""
  cause:
    description: (back) What failed.
    type: str
    default: ""
  swapped:
    description: (back) What the switch put in place (its result's swapped).
    type: list
    elements: str
    default: []
  record_before:
    description: (back) The host's record before the switch, put back once what served before serves again.
    type: dict
    default: {}
  secrets:
    description: (secrets) The host's secrets from the vault, C(AI_CS_*) name to value.
    type: dict
    default: {}
  rotation_window:
    description:
      - (secrets) Seconds the service keeps accepting webhooks signed with the webhook secret it served before, once
        the vault's differs; 0 refuses the old one at once (a leaked secret). At most 7 days.
    type: int
    default: 0
  keep_serving:
    description:
      - (secrets) Stage nothing, keep the secrets that serve (and remove a staged file), for a config rollback that puts
        the earlier secrets back itself (I(restore) of target secrets).
    type: bool
    default: false
  sign_with_serving:
    description:
      - (switch, verify) Sign the smoke test with the webhook secret the host's I(secrets_file) holds (what the service
        started with), not I(secret), after a config rollback that put the earlier secrets back.
    type: bool
    default: false
  keep_previous_days:
    description:
      - (secrets) Days the secrets a swap replaced (I(secrets_file).previous, and .before-rollback) are kept for a
        config rollback with its secrets, counted from the replacement; older ones are removed.
    type: int
    default: 14
notes:
  - Check mode changes nothing; I(action=switch), I(action=swap) and I(action=secrets) report a change they would
    make.
"""

EXAMPLES = r"""
- name: Switch this host to v1.1.0, going back by itself when it fails
  ai_cs_release:
    version: v1.1.0
    from_version: v1.0.0
    install_dir: /opt/ai-customer-service
    service: ai-customer-service
    secrets_file: /etc/ai-customer-service/secrets.env
    state_dir: /var/lib/ai-customer-service
    secret: "{{ ai_cs_webhook_secret }}"
    record: {operation: deploy, from: v1.0.0, to: v1.1.0, run_id: "20261206T021500Z-42", who: ops}
    mark_bad: true
    since: 1796523300

- name: Verify what serves on this host
  ai_cs_release:
    action: verify
    version: v1.1.0
    install_dir: /opt/ai-customer-service
    service: ai-customer-service
    secrets_file: /etc/ai-customer-service/secrets.env
    state_dir: /var/lib/ai-customer-service
    secret: "{{ ai_cs_webhook_secret }}"

- name: Stage this host's secrets, keeping the webhook secret it served for an hour after a rotation
  ai_cs_release:
    action: secrets
    secrets_file: /etc/ai-customer-service/secrets.env
    secrets:
      AI_CS_WEBHOOK_SECRET: "{{ ai_cs_webhook_secret }}"
    rotation_window: 3600
"""

RETURN = r"""
result:
  description: (switch, back) success, rolled_back (what served before serves again, verified) or failed.
  returned: action is switch or back
  type: str
seconds:
  description: (switch) How long the switch took.
  returned: action is switch
  type: float
failed_step:
  description: (switch) The step that failed.
  returned: when a switch failed
  type: str
cause:
  description: (switch) What failed, with the service's last ERROR lines and the runbook's cause and fix.
  returned: when a switch failed
  type: str
outcome:
  description: (switch) The state the host is left in, for the operator.
  returned: when a switch failed
  type: str
version:
  description: (read) What this host last served verified ('none' when nothing complete on disk did).
  returned: action is read
  type: str
link:
  description: (read) The release current points at ('' when there is no link).
  returned: action is read
  type: str
interrupted:
  description: (read) current points elsewhere than the release last verified (a switch cut short).
  returned: action is read
  type: bool
previous:
  description: (read) The release that served verified before version ('' when none is recorded).
  returned: action is read
  type: str
dangling:
  description: (read) current points at a release that is not completely on disk.
  returned: action is read
  type: bool
mode:
  description: (read) The mode the installed unit runs.
  returned: action is read
  type: str
active:
  description: (read) The service is active.
  returned: action is read
  type: bool
unit:
  description: (read) The service's systemd state (ActiveState, SubState, MainPID, NRestarts, InvocationID).
  returned: action is read
  type: dict
record:
  description: (read) The host's record (local facts).
  returned: action is read
  type: dict
on_disk:
  description: (read) The complete releases on disk, sorted.
  returned: action is read
  type: list
  elements: str
swapped:
  description: (switch, swap) What the swap changed (link, unit, config, secrets, and the targets put back).
  returned: action is switch or swap
  type: list
  elements: str
  sample: [link, unit]
staged:
  description: (secrets) Whether the host's secrets change at its switch (a staged file differs from what serves).
  returned: action is secrets
  type: bool
rotation:
  description: >-
    (secrets) The webhook secret's rotation window: opened (this run rotates the secret), open (kept from an earlier
    run), closed (the previous secret leaves the host at its switch) or none.
  returned: action is secrets
  type: str
rotation_until:
  description: (secrets) When the window closes, unix seconds (0 with none).
  returned: action is secrets
  type: int
expired:
  description: (secrets) The kept secrets removed as older than I(keep_previous_days) (.previous, .before-rollback).
  returned: action is secrets
  type: list
  elements: str
"""

import time

from ansible.module_utils.ai_cs_release import (
    Check,
    Paths,
    StepError,
    Switch,
    back,
    expire_kept_secrets,
    read,
    stage_secrets,
    swap,
    switch,
    verify,
)
from ansible.module_utils.ai_cs_runbook import explain
from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {
                "type": "str",
                "choices": ["switch", "back", "swap", "verify", "read", "secrets"],
                "default": "switch",
            },
            "version": {"type": "str"},
            "mode": {"type": "str", "default": "binary"},
            "from_version": {"type": "str", "default": "none"},
            "from_mode": {"type": "str", "default": "binary"},
            "link": {"type": "bool", "default": True},
            "restore": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "target": {"type": "str", "required": True, "choices": ["env", "secrets", "unit"]},
                    "from": {"type": "str", "required": True},
                    "keep": {"type": "str", "default": ""},
                },
            },
            "install_dir": {"type": "path"},
            "service": {"type": "str"},
            "secrets_file": {"type": "path"},
            "state_dir": {"type": "path"},
            "fact_file": {"type": "path", "default": "/etc/ansible/facts.d/ai_cs.fact"},
            "base_url": {"type": "str", "default": "http://127.0.0.1:8080"},
            "timeout": {"type": "int", "default": 60},
            "smoke": {"type": "bool", "default": True},
            "secret": {"type": "str", "default": "", "no_log": True},
            "max_skew_seconds": {"type": "int", "default": 300},
            "smoke_message": {"type": "dict", "default": {}},
            "record": {"type": "dict", "default": {}},
            "mark_bad": {"type": "bool", "default": False},
            "since": {"type": "float", "default": 0},
            "failed_step": {"type": "str", "default": ""},
            "cause": {"type": "str", "default": ""},
            "swapped": {"type": "list", "elements": "str", "default": []},
            "record_before": {"type": "dict", "default": {}},
            "secrets": {"type": "dict", "default": {}, "no_log": True},
            "rotation_window": {"type": "int", "default": 0},
            "keep_serving": {"type": "bool", "default": False},
            "sign_with_serving": {"type": "bool", "default": False},
            "keep_previous_days": {"type": "int", "default": 14},
        },
        required_if=[
            *(
                ("action", action, ["version", "install_dir", "service", "secrets_file", "state_dir"])
                for action in ("switch", "back", "swap")
            ),
            ("action", "verify", ["version"]),
            ("action", "read", ["install_dir", "service"]),
            ("action", "secrets", ["secrets_file", "secrets"]),
        ],
        supports_check_mode=True,
    )
    p = module.params
    paths = Paths(p["install_dir"], p["service"], p["secrets_file"] or "", p["state_dir"] or "", p["fact_file"])
    if p["action"] == "read":
        module.exit_json(changed=False, **read(paths))
    if p["action"] == "secrets":
        try:
            vault, now = None if p["keep_serving"] else p["secrets"], int(time.time())
            expired = expire_kept_secrets(paths, p["keep_previous_days"] * 86400, now, module.check_mode)
            staged = stage_secrets(paths, vault, p["rotation_window"], now, module.check_mode)
        except (StepError, OSError) as failed:
            module.fail_json(msg=str(failed))
        module.exit_json(**{**staged, "changed": staged["changed"] or bool(expired), "expired": expired})
    check = Check(p["base_url"], p["timeout"], p["smoke"], p["secret"], p["max_skew_seconds"], p["smoke_message"],
                  secret_file=paths.secrets_file if p["sign_with_serving"] else "", paths=paths)  # fmt: skip
    if p["action"] == "verify":
        try:
            verify(check, p["version"])
        except StepError as failed:
            module.fail_json(msg=str(failed), failed_step=failed.step)
        module.exit_json(changed=False)
    if module.check_mode:
        module.exit_json(changed=True, result="success", seconds=0.0, swapped=[])
    if p["action"] == "swap":
        try:
            done = swap(paths, p["version"], p["mode"], link=p["link"], restore=p["restore"]).names()
        except (StepError, OSError) as failed:
            module.fail_json(msg=str(failed))
        module.exit_json(changed=bool(done), swapped=done)
    sw = Switch(
        version=p["version"],
        from_version=p["from_version"],
        mode=p["mode"],
        from_mode=p["from_mode"],
        link=p["link"],
        restore=p["restore"],
        mark_bad=p["mark_bad"],
        since=p["since"],
        record=p["record"],
    )
    if p["action"] == "back":
        failure = StepError(p["failed_step"] or "after the switch", p["cause"])
        result = back(
            paths, check, sw, failure=failure, cause=p["cause"], done=p["swapped"], record_before=p["record_before"]
        )
    else:
        result = switch(paths, check, sw, explain)
    if result["result"] != "success":
        module.fail_json(msg=result["cause"], changed=True, **result)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
