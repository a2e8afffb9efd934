# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module ai_cs_backup, renewing the run's own lease on the deploy lock while pg_dump runs."""

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
    """In a pipeline run (its state directory holds the run), the lease the dump renews while it runs is this run's
    (fence_run_id: the run's id, from the state, never a variable): a long dump no longer lets it expire under a live
    run. Outside a pipeline run (role backup on its own), nothing is renewed."""

    TRANSFERS_FILES = False
    _supports_async = True  # a rollback's dump runs beside its switch (role backup, start.yml then wait.yml)

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        state = RunState.find()
        if state and state.has("run"):
            args["fence_run_id"] = state.read("run")["run_id"]
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async  # cleanup() keeps its tmp
        done = self._execute_module("ai_cs_backup", module_args=args, task_vars=task_vars, wrap_async=wrap_async)
        return {**result, **done}
