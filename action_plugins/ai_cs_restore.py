# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module ai_cs_restore, with the operator's confirmation taken from the run's request, never from a variable."""

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
    """In a pipeline run (its state directory holds the request step's request), the restore runs only when the
    operator's request asked for one (restore_backup: auto, or the file itself) and typed the database's name
    (confirm_data_loss); the confirmation the module checks is the request's, whatever the task was given. Extra
    vars outrank every variable a task could read the request from, so it is never read from one. Outside a
    pipeline run (the backup role on its own) the task's own confirmation is checked by the module."""

    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        state = RunState.find()
        if state is not None and state.has("request"):
            request = state.read("request")
            asked = request.get("restore_backup") or ""
            if not asked or asked not in ("auto", args.get("file")):
                return {**result, "failed": True, "msg": (
                    f"restoring {args.get('file')} refused: this run's request asked for "
                    f"{'restore_backup=' + asked if asked else 'no restore'} (cause: a variable the database step "
                    "reads was given with -e; fix: run without it). Nothing was restored."
                )}  # fmt: skip
            args["confirm_data_loss"] = request.get("confirm") or ""
            args["fence_run_id"] = state.read("run")["run_id"]  # the deploy lock this run took
        return {**result, **self._execute_module("ai_cs_restore", module_args=args, task_vars=task_vars)}
