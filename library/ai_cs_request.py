#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of action plugin ai_cs_request (action_plugins/ai_cs_request.py), which runs on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ai_cs_request
author: ai-customer-service ops (@ai-cs-ops)
version_added: "1.2.0"
short_description: Check a deploy, rollback or reset request on the controller and describe the run
description:
  - Checks the request whole before any host is contacted (module_utils/ai_cs_plan.py, one rule per function), namely
    the version, the rollback options and which go together, the batch size, a --limit that leaves app hosts out
    of a change under every one of them, the canary's, silences', hooks' and receivers' settings, the deploy mode,
    and every numeric option of the run's steps against its range. A refusal lists every problem, and nothing is
    changed.
  - Describes the run (run id, operation, version, who, when) and keeps the run and the checked request in the
    run's state directory (callback ai_cs_run), where later steps read them and -e cannot reach.
  - Runs once, on the controller; it contacts no host.
options:
  operation:
    description: deploy, rollback or reset.
    type: str
    required: true
  version:
    description: The version asked for (rollback also takes previous, and '' with config_only).
    type: str
    default: ""
  batch_size:
    description: deploy_batch_size, hosts switched at a time (N, N%, canary,N, canary,N%).
    type: raw
    default: 1
  keep_config:
    type: raw
    default: false
    description: Rollback keeps the current config.
  config_only:
    type: raw
    default: false
    description: Rollback of the config alone (runbook 6.2).
  include_secrets:
    type: raw
    default: false
    description: >-
      With config_only, the host's secrets from before their last change too (runbook 6.2's previous secret); the
      vault then differs from what serves.
  migrate_down:
    type: raw
    default: false
    description: Rollback runs the down migrations.
  restore_backup:
    type: str
    default: ""
    description: Rollback restores a dump (auto, or an absolute .pgc path).
  confirm:
    type: str
    default: ""
    description: The database's name, typed to confirm a step that loses data.
  who:
    type: str
    required: true
    description: Who runs it, written into the lock and the history.
"""

EXAMPLES = r"""
- name: Check the request and describe the run
  ai_cs_request:
    operation: rollback
    version: v1.0.0
    restore_backup: auto
    confirm: ai_customer_service
    who: "{{ lookup('ansible.builtin.env', 'USER') }}"
  run_once: true
"""

RETURN = r"""
run:
  description: The run, as the lock and the history record it.
  returned: success
  type: dict
  sample: {run_id: 20261206T021500Z-42, operation: deploy, version: v1.1.0, who: ops@laptop,
           since: "2026-12-06T02:15:00Z", since_epoch: 1796523300, check_mode: false}
request:
  description: The checked request; batches are the switch's serial.
  returned: success
  type: dict
  sample: {operation: deploy, version: v1.1.0, keep_config: false, config_only: false, migrate_down: false,
           restore_backup: "", confirm: "", batches: [1, 1]}
"""
