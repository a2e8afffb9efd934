# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module ai_cs_release, with what a switch switches taken from the run's plan, never from the task's variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ansible.module_utils
from ansible.plugins.action import ActionBase

_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if _UTILS not in ansible.module_utils.__path__:  # the project's module_utils, importable on the controller too
    ansible.module_utils.__path__.append(_UTILS)

from ansible.module_utils.ai_cs_runstate import RunState  # noqa: E402

PLANNED = ("version", "from_version", "from_mode")


class ActionModule(ActionBase):
    """action read: the module's answer is also kept in the run's state (serving-<host>), where the plan step reads
    every host's. action switch and back (in a run that has a plan): the release switched to and the one a failure
    goes back to are the plan's for this host; a host the plan does not name, or a task asking for another release
    than the plan's, is refused with nothing changed. Extra vars outrank every variable a task could read them from,
    so what switches never rests on one. Other actions, and runs without a plan (a role on its own), run the module
    as it is."""

    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        host = (task_vars or {}).get("inventory_hostname", "")
        action = args.get("action", "switch")
        state = RunState.find()
        if action in ("switch", "back") and state is not None and state.has("plan"):
            planned = state.read("plan")["hosts"].get(host)
            if planned is None:
                return {**result, "failed": True, "msg": f"{host} is not in this run's plan. Nothing was changed."}
            want = {"version": planned["target"], "from_version": planned["from"], "from_mode": planned["from_mode"]}
            given = {k: args.get(k) for k in want if args.get(k) not in (None, want[k])}
            if given:
                return {**result, "failed": True, "msg": (
                    f"{', '.join(f'{k}={v}' for k, v in given.items())} is not what this run's plan says for {host} "
                    f"({', '.join(f'{k}={want[k]}' for k in given)}; cause: a variable the switch reads was given "
                    "with -e; fix: run without it). Nothing was changed."
                )}  # fmt: skip
            args.update(want)
        answer = self._execute_module("ai_cs_release", module_args=args, task_vars=task_vars)
        if action == "read" and state is not None and not answer.get("failed"):
            keep = ("version", "link", "interrupted", "previous", "dangling", "mode", "active", "record", "on_disk",
                    "bad", "env", "store")  # fmt: skip
            state.write(f"serving-{host}", {k: answer.get(k) for k in keep})
        return {**result, **answer}
