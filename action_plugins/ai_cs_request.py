# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pipeline's request step, on the controller: check the operator's request, describe the run, keep both."""

from __future__ import annotations

import os
import random
import stat
import time
from pathlib import Path
from typing import Any

import ansible.module_utils
import yaml
from ansible.plugins.action import ActionBase

_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if _UTILS not in ansible.module_utils.__path__:  # the project's module_utils, importable on the controller too
    ansible.module_utils.__path__.append(_UTILS)

from ansible.module_utils.ai_cs_plan import (  # noqa: E402
    BOUNDS,
    CANARY_NUMBERS,
    FLAG_DEFAULTS,
    FLAGS,
    RefusedError,
    check_request,
    hook_tasks_problem,
)
from ansible.module_utils.ai_cs_runstate import NoRunStateError, RunState  # noqa: E402

SETTINGS = (
    "pipeline_canary",
    *CANARY_NUMBERS,
    "pipeline_drain_whole_fleet",
    "pipeline_swap",
    "pipeline_alertmanager_url",
    "pipeline_alertmanager_user",
    "pipeline_alertmanager_password",
    "pipeline_hooks",
    "pipeline_notify",
    "ai_cs_env",
    "ai_cs_postgres_enabled",
)


def hook_problem(name: str, inventory_dir: str, uid: int) -> str:
    """'' for a hook the run may include, else why not. A hook is a file of the inventory's hooks directory
    (<inventory>/hooks/, named relative to the inventory or absolute), owned by the controller's user as its directory
    is, writable by no one else, that neither ends the host nor includes other files (hook_tasks_problem): hooks run
    as root with every secret in scope."""
    base = os.path.realpath(os.path.join(inventory_dir, "hooks"))
    path = os.path.realpath(name if os.path.isabs(name) else os.path.join(inventory_dir, name))
    if os.path.commonpath([base, path]) != base:
        return f"hook {name} is not in the inventory's hooks directory {base} (fix: put it there)"
    if not os.path.isfile(path):
        return f"a hook's task file is not on this controller: {name} (looked for {path})"
    for where in (base, path):
        st = os.stat(where)
        if st.st_uid != uid or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            mode = stat.S_IMODE(st.st_mode)
            return (
                f"hook {name}: {where} is owned by uid {st.st_uid} with mode {mode:04o}; a hook must be the "
                f"controller's user's (uid {uid}) and writable by no one else (fix: chown {uid}, chmod go-w)"
            )
    try:
        with open(path, encoding="utf-8") as src:
            tasks = yaml.safe_load(src) or []
    except (OSError, yaml.YAMLError) as unread:
        return f"hook {name} cannot be read as a task file: {str(unread).splitlines()[0]}"
    problem = hook_tasks_problem(tasks)
    return f"hook {name} {problem} (fix: fail the hook instead, or put what it includes in it)" if problem else ""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        names = [*SETTINGS, *(b.name for b in BOUNDS)]
        settings = {name: self._templar.template(task_vars[name]) for name in names if name in task_vars}
        inventory_dir = str(task_vars.get("inventory_dir") or Path(task_vars.get("playbook_dir", ".")).parent)

        def hook_inspect(name: str) -> str:
            return hook_problem(name, inventory_dir, os.getuid())

        operation = str(args.get("operation", ""))
        try:
            state = RunState.current()
            request = check_request(
                operation,
                args.get("version", ""),
                options={
                    "batch_size": args.get("batch_size", 1),
                    **{k: args.get(k, FLAG_DEFAULTS.get(k, False)) for k in FLAGS},
                    "restore_backup": args.get("restore_backup", ""),
                    "confirm": args.get("confirm", ""),
                },
                settings=settings,
                app_hosts=list(task_vars.get("groups", {}).get("app", [])),
                run_hosts=list(task_vars.get("ansible_play_hosts_all", [])),
                hook_inspect=hook_inspect,
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
