#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of action plugin ai_cs_plan (action_plugins/ai_cs_plan.py), which runs on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ai_cs_plan
author: ai-customer-service ops (@ai-cs-ops)
version_added: "1.2.0"
short_description: Decide the run's plan on the controller from what the hosts reported, and hold later steps to it
description:
  - C(step=targets) reads the run and its checked request (action ai_cs_request) and each app host's read (action
    ai_cs_release, C(action=read)) from the run's state directory, never from variables, decides each host's target
    (module_utils/ai_cs_plan.py choose_targets) and whether a rollback dumps the database beside its switch, and
    keeps the plan in the run's state, where the switch (action ai_cs_release, C(action=switch)) reads it. A host
    this run did not read (a step left out by --start-at-task or --tags) is refused.
  - C(step=host) refuses a target or a serving release, as a later step is about to use them, that is not the plan's
    for this host (a variable given with -e).
  - C(step=database) refuses a restore or a down migration the run's request did not ask for, and a change under
    every app host while an app host is outside the play (--limit).
  - Every refusal says why and that nothing was changed. Runs once, on the controller; it contacts no host.
options:
  step:
    type: str
    choices: [targets, host, database]
    default: targets
    description: What to decide or check.
  target:
    type: str
    description: With C(step=host), the target the next steps would use.
  serving:
    type: str
    description: With C(step=host), the serving release the next steps would use.
  restore:
    type: bool
    default: false
    description: With C(step=database), whether the database step is about to restore a dump.
  down:
    type: bool
    default: false
    description: With C(step=database), whether the database step is about to migrate down.
"""

EXAMPLES = r"""
- name: Decide each host's target from every host's read
  ai_cs_plan:
  register: plan
  run_once: true

- name: Refuse a target that is not the plan's
  ai_cs_plan:
    step: host
    target: "{{ target }}"
    serving: "{{ serving }}"
"""

RETURN = r"""
hosts:
  description: With C(step=targets), each app host's target, the release it serves and that release's mode.
  returned: success
  type: dict
  sample: {ai-cs-app1: {target: v1.1.0, from: v1.0.0, from_mode: binary}}
backup:
  description: >-
    With C(step=targets), whether a rollback dumps the database beside its switch, and what the dump is named for
    (the first host that changes version).
  returned: success
  type: dict
  sample: {beside: true, from: v1.1.0, to: v1.0.0}
target:
  description: With C(step=host), this host's planned target.
  returned: success
  type: str
from:
  description: With C(step=host), the release this host served when the run read it.
  returned: success
  type: str
from_mode:
  description: With C(step=host), that release's swap mode.
  returned: success
  type: str
restore:
  description: With C(step=database), the restore that was checked.
  returned: success
  type: bool
down:
  description: With C(step=database), the down migration that was checked.
  returned: success
  type: bool
"""
