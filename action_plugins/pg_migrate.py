# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module pg_migrate, with a migration down's confirmation taken from the run's request, never from a variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ansible.module_utils
from ansible.plugins.action import ActionBase

_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if _UTILS not in ansible.module_utils.__path__:  # the project's module_utils, importable on the controller too
    ansible.module_utils.__path__.append(_UTILS)

from ansible.module_utils.ai_cs_runstate import RunState  # noqa: E402


class ActionModule(ActionBase):
    """In a pipeline run (its state directory holds the request step's request), the confirmation pg_migrate asks of
    a migration down (its .down.sql files drop data) is the operator's request's: its confirm_data_loss when it asked
    for migrate_down, else none, so a down migration nobody asked for is refused whatever a variable says; and every
    migration is fenced by this run's lease on the deploy lock (fence_run_id: the run's id). Outside a pipeline run
    (role migrate on its own) the task's own arguments are used."""

    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        state = RunState.find()
        if state and state.has("request"):
            request = state.read("request")
            args["confirm_data_loss"] = (request.get("confirm") or "") if request.get("migrate_down") else ""
            args["fence_run_id"] = state.read("run")["run_id"]  # the deploy lock this run took
        return {**result, **self._execute_module("pg_migrate", module_args=args, task_vars=task_vars)}
