#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the deploy lock's lease kept in a file on one host (no PostgreSQL)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_cs_lease
short_description: Take, renew or release the deploy lock's lease, kept in a file
description:
  - The deploy lock of an environment without PostgreSQL (the memory store, runbook section 四) is one JSON file on one
    host, read and written under an exclusive C(flock) so that two runs never both take it, replaced atomically
    (written beside it, then renamed), so a run killed mid-write leaves the old lease or the new one, never half.
  - The rules are the database lease's (module_utils/ai_cs_lease.py), taken when free, renewed by its run, taken over
    once expired, never while another run's lease is live. The lock host's clock judges expiry.
  - The answer has the database lease's shape (I(got), I(before)), so the role reads both the same way.
version_added: "1.2.0"
author: ai-customer-service ops (@ai-cs-ops)
options:
  path:
    description: The lease file. Its directory is made (0755) when missing.
    type: path
    required: true
  state:
    description:
      - C(taken) takes (or renews) the lease, C(renewed) renews this run's, C(released) removes this run's, C(read)
        only says who holds it (I(before)).
    type: str
    choices: [taken, renewed, released, read]
    required: true
  run_id:
    description: This run's id. Required unless I(state=read).
    type: str
  owner:
    description: Who holds it and why (kept in the lease, shown to a refused run). With I(state=taken).
    type: dict
    default: {}
  lease_seconds:
    description: Seconds the lease lasts without renewal. With I(state=taken) and I(state=renewed).
    type: float
    default: 900
notes:
  - Check mode changes nothing and answers what the call would have done.
"""

EXAMPLES = r"""
- name: Take the deploy lock
  ai_cs_lease:
    path: /var/lib/ai-customer-service/deploy-lock.json
    state: taken
    run_id: "{{ run.run_id }}"
    owner: "{{ run }}"
    lease_seconds: 900
  register: lock
"""

RETURN = r"""
got:
  description: With I(state=taken), whether this run holds the lease now.
  returned: state is taken
  type: bool
held:
  description: With I(state=renewed), whether this run still held its lease (and renewed it).
  returned: state is renewed
  type: bool
released:
  description: With I(state=released), whether this run's lease was removed.
  returned: state is released
  type: bool
before:
  description: The lease before the call (run_id, owner, renewed_seconds, expires_in_seconds, expired_seconds), or none.
  returned: always
  type: dict
"""

import fcntl
import json
import os
import tempfile
import time

from ansible.module_utils.ai_cs_lease import describe, release, renew, take
from ansible.module_utils.basic import AnsibleModule


def _read(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return {}  # not a lease: counts as expired


def _write(path: str, lease) -> None:
    if lease is None:
        if os.path.exists(path):
            os.unlink(path)
        return
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".lease-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(lease, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _decide(params: dict, held, now: float):
    if params["state"] == "taken":
        return take(held, params["run_id"], params["owner"], params["lease_seconds"], now)
    if params["state"] == "renewed":
        return renew(held, params["run_id"], params["lease_seconds"], now)
    if params["state"] == "read":
        return held, {"before": describe(held, now)}
    return release(held, params["run_id"], now)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "required": True, "choices": ["taken", "renewed", "released", "read"]},
            "run_id": {"type": "str"},
            "owner": {"type": "dict", "default": {}},
            "lease_seconds": {"type": "float", "default": 900},
        },
        required_if=[("state", s, ["run_id"]) for s in ("taken", "renewed", "released")],
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        if module.check_mode:
            module.exit_json(changed=False, **_decide(module.params, _read(path), time.time())[1])
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        # the guard file is the lock of the lease file, which is replaced on every write (a flock on it would be lost)
        with open(path + ".flock", "a", encoding="utf-8") as guard:
            os.chmod(path + ".flock", 0o600)
            fcntl.flock(guard, fcntl.LOCK_EX)
            held = _read(path)
            new, answer = _decide(module.params, held, time.time())
            if new != held:
                _write(path, new)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    # bookkeeping of the run, not a change to the fleet (as the database lease's)
    module.exit_json(changed=False, **answer)


if __name__ == "__main__":
    main()
