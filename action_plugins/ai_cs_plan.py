# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pipeline's plan, on the controller: each app host's target, from what every host reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ansible.module_utils
from ansible.plugins.action import ActionBase

_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if _UTILS not in ansible.module_utils.__path__:  # the project's module_utils, importable on the controller too
    ansible.module_utils.__path__.append(_UTILS)

from ansible.module_utils.ai_cs_plan import RefusedError, beside_backup, choose_targets  # noqa: E402
from ansible.module_utils.ai_cs_runstate import NoRunStateError, RunState  # noqa: E402


class ActionModule(ActionBase):
    """Reads the run (request step) and each host's read (ai_cs_release action read) from the run's state, never from
    variables; refuses a host that was not read in this run (a step skipped by --start-at-task or --tags); decides
    each host's target (module_utils/ai_cs_plan.py choose_targets) and whether a rollback dumps the database beside
    its switch (beside_backup), and keeps the plan in the run's state, where the switch reads it."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        step = self._task.args.get("step", "targets")
        if step == "database":
            return {**result, **self._database(task_vars or {})}
        if step == "host":
            return {**result, **self._host(task_vars or {})}
        hosts = [h for h in (task_vars or {}).get("ansible_play_hosts_all", [])
                 if h in (task_vars or {}).get("groups", {}).get("app", [])]  # fmt: skip
        try:
            state = RunState.current()
            run, request = state.read("run"), state.read("request")
            unread = [h for h in hosts if not state.has(f"serving-{h}")]
            if unread:
                raise RefusedError(
                    run["operation"],
                    [f"the prepare step did not read {', '.join(unread)} in this run (cause: --start-at-task or --tags "
                     "left it out; fix: run the whole playbook)"],
                )  # fmt: skip
            servings = {h: state.read(f"serving-{h}") for h in hosts}
            targets = choose_targets(run, request, servings)
        except KeyError as missing:
            return {**result, "failed": True, "msg": f"the request step did not run in this run (no {missing}); run "
                    "the whole playbook. Nothing was changed."}  # fmt: skip
        except (RefusedError, NoRunStateError) as refusal:
            return {**result, "failed": True, "msg": str(refusal)}
        plan: dict[str, Any] = {
            "hosts": {
                h: {"target": targets[h], "from": servings[h]["version"], "from_mode": servings[h]["mode"]}
                for h in hosts
            }
        }
        plan["backup"] = beside_backup(request, plan["hosts"])  # a rollback's safety backup, beside its switch
        state.write("plan", plan)
        return {**result, "changed": False, **plan}

    def _database(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        """Before the database step changes anything under the fleet: what it is about to do (restore, down) must be
        what the operator's request asked for (the run's state, not a variable), and a change under every app host
        needs every app host in the play (magic variables, which -e cannot set)."""
        args = self._task.args
        try:
            state = RunState.current()
            request = state.read("request")
        except (KeyError, NoRunStateError) as missing:
            return {
                "failed": True,
                "msg": f"the request step did not run in this run ({missing}). Nothing was changed.",
            }
        restore, down = bool(args.get("restore")), bool(args.get("down"))
        problems = []
        if restore and not request.get("restore_backup"):
            problems.append("the database step was about to restore a dump this run's request did not ask for")
        if down and not request.get("migrate_down"):
            problems.append("the database step was about to migrate down, which this run's request did not ask for")
        outside = sorted(
            set(task_vars.get("groups", {}).get("app", [])) - set(task_vars.get("ansible_play_hosts_all", []))
        )
        if (restore or down or request.get("operation") == "reset") and outside:
            problems.append(f"this step changes the database under every app host, and {', '.join(outside)} would "
                            "not be in it")  # fmt: skip
        if problems:
            cause = "cause: a variable the pipeline reads was given with -e, or --limit"
            return {"failed": True, "msg": f"{'; '.join(problems)} ({cause}; fix: run the whole playbook without "
                    "them). Nothing was changed."}  # fmt: skip
        return {"changed": False, "restore": restore, "down": down}

    def _host(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        """This host's target and what it serves, as the later steps will use them (target, serving), must be the
        plan's: a variable given with -e (pipeline_target, pipeline_from) is refused here, before any host changes."""
        host = task_vars.get("inventory_hostname", "")
        try:
            planned = RunState.current().read("plan")["hosts"][host]
        except (KeyError, NoRunStateError) as missing:
            return {"failed": True, "msg": f"{host} has no plan in this run ({missing}). Nothing was changed."}
        given = {"target": self._task.args.get("target"), "serving": self._task.args.get("serving")}
        want = {"target": planned["target"], "serving": planned["from"]}
        wrong = [f"{k} {given[k]} (the plan's: {want[k]})" for k in want if given[k] != want[k]]
        if wrong:
            return {"failed": True, "msg": f"{host}'s {', '.join(wrong)} is not this run's plan (cause: a variable the "
                    "pipeline reads, pipeline_target or pipeline_from, was given with -e; fix: run without it). "
                    "Nothing was changed."}  # fmt: skip
        return {"changed": False, **planned}
