# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pipeline's request step, on the controller: check the operator's request, describe the run, keep both."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import ansible.module_utils
from ansible.plugins.action import ActionBase

_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if _UTILS not in ansible.module_utils.__path__:  # the project's module_utils, importable on the controller too
    ansible.module_utils.__path__.append(_UTILS)

from ansible.module_utils.ai_cs_plan import BOUNDS, CANARY_NUMBERS, RefusedError, check_request  # noqa: E402
from ansible.module_utils.ai_cs_runstate import NoRunStateError, RunState  # noqa: E402

SETTINGS = (
    "pipeline_canary",
    *CANARY_NUMBERS,
    "pipeline_drain_whole_fleet",
    "pipeline_swap",
    "pipeline_alertmanager_url",
    "pipeline_hooks",
    "pipeline_notify",
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        names = [*SETTINGS, *(b.name for b in BOUNDS)]
        settings = {name: self._templar.template(task_vars[name]) for name in names if name in task_vars}
        checkout = Path(task_vars.get("playbook_dir", ".")).parent

        def hook_exists(path: str) -> bool:
            return (checkout / path if not os.path.isabs(path) else Path(path)).is_file()

        operation = str(args.get("operation", ""))
        try:
            state = RunState.current()
            request = check_request(
                operation,
                args.get("version", ""),
                options={
                    "batch_size": args.get("batch_size", 1),
                    **{k: args.get(k, False) for k in ("keep_config", "config_only", "migrate_down")},
                    "restore_backup": args.get("restore_backup", ""),
                    "confirm": args.get("confirm", ""),
                },
                settings=settings,
                app_hosts=list(task_vars.get("groups", {}).get("app", [])),
                run_hosts=list(task_vars.get("ansible_play_hosts_all", [])),
                hook_exists=hook_exists,
            )
        except (RefusedError, NoRunStateError) as refusal:
            return {**result, "failed": True, "msg": str(refusal)}
        now = time.time()
        run = {
            "run_id": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + f"-{random.randrange(1000000)}",  # noqa: S311 - a label, not a secret
            "operation": operation,
            "version": request.version,
            "who": str(args["who"]),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "since_epoch": int(now),
            "check_mode": bool(self._play_context.check_mode),
        }
        state.write("run", run)
        state.write("request", request.as_dict())
        return {**result, "changed": False, "run": run, "request": request.as_dict()}
