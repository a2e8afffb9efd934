# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pipeline's decisions, as data in and data out, with no Ansible in them.

The request step (action plugin ai_cs_request) asks check_request() whether the operator's request can run and
how it is cut into batches, before any host is contacted; every rule is one function below, each with its own unit
test (tests/unit/test_plan.py). A refusal lists every problem at once, each saying what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.ai_cs_release import MODES
from ansible.module_utils.ai_cs_runbook import explain

OPERATIONS = ("deploy", "rollback", "reset")
# vMAJOR.MINOR.PATCH with an optional pre-release suffix, matched whole (fullmatch: "v1.0.0\n" is refused too)
VERSION = re.compile(r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z]+([.-][0-9A-Za-z]+)*)?")
# a restore's dump named by the operator: an absolute .pgc path of plain characters, no ..
DUMP_PATH = re.compile(r"/[A-Za-z0-9._/-]+\.pgc")
TRUE = (True, "true", "yes", "True")
FALSE = (False, "false", "no", "False")
HOOK_POINTS = {  # the hook points, and whether a failing hook there stops the run (before the switch)
    "before_preflight": True,
    "after_preflight": True,
    "before_stage": True,
    "after_stage": True,
    "before_migrate": True,
    "after_migrate": True,
    "before_switch": True,
    "after_switch": False,
    "on_rollback": False,
    "on_failure": False,
}
NOTIFY_EVENTS = ("deploy", "rollback", "auto_rollback", "failure", "diagnose_failure")
_BATCH = re.compile(r"(?P<canary>canary,)?(?P<count>[0-9]{1,6})(?P<percent>%?)")
_ALERTMANAGER_URL = re.compile(r"(https?://[^\s?#@]+)?")
_NOTIFY_URL = re.compile(r"https?://\S+")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class Bound:
    """A numeric setting's range, checked with the request before any host is contacted."""

    name: str
    low: float
    high: float
    whole: bool
    what: str

    def problem(self, value: Any) -> str:
        """'' when value is in range, else what is wrong: the option, the value, the range."""
        text = str(value).strip()
        number: float | None = None
        if not isinstance(value, bool) and re.fullmatch(r"-?[0-9]+" if self.whole else r"-?[0-9]+(\.[0-9]+)?", text):
            number = float(text)
        if number is not None and self.low <= number <= self.high:
            return ""
        kind = "a whole number" if self.whole else "a number"
        low, high = (int(self.low), int(self.high)) if self.whole else (self.low, self.high)
        return f"{self.name} must be {kind} from {low} to {high} ({self.what}); got {_shown(value)}"


# Every numeric option of the run's steps, with its range. Role inputs are checked here, with the request, because
# the steps that read them run after hosts have changed (seen: -e verify_timeout=-5 let a deploy change the hosts).
BOUNDS = (
    Bound("verify_timeout", 1, 3600, whole=True, what="seconds a switched host may take to become ready"),
    Bound("loadbalancer_drain_timeout", 1, 3600, whole=True, what="seconds a host's requests may take to finish"),
    Bound("loadbalancer_enable_timeout", 1, 3600, whole=True, what="seconds haproxy may take to see a host UP"),
    Bound("deploy_lock_lease_seconds", 5, 86400, whole=True, what="the deploy lock's lease, in seconds"),
    Bound("release_keep", 1, 999, whole=True, what="the newest releases kept on each app host"),
    Bound("backup_keep", 1, 999, whole=True, what="the newest verified dumps kept on the backup host"),
    Bound("pipeline_rollback_backup_seconds", 60, 86400, whole=True, what="seconds a rollback's dump may run"),
    Bound("migrate_lock_timeout", 1, 3600, whole=True, what="seconds a migration waits for the migration lock"),
    Bound("migrate_statement_lock_timeout", 0, 600, whole=True, what="seconds a migration statement waits for a lock"),
    Bound("migrate_statement_timeout", 0, 86400, whole=True, what="seconds a migration statement may run, 0 none"),
    Bound("migrate_lock_retries", 0, 100, whole=True, what="retries of a migration that waited too long for a lock"),
    Bound(
        "pipeline_silence_minutes",
        1,
        9999,
        whole=True,
        what="how long a silence lasts when a killed run cannot lift it",
    ),
    Bound("pipeline_notify_timeout", 1, 300, whole=False, what="seconds a receiver may take to answer"),
)
CANARY_NUMBERS = (
    "pipeline_canary_window",
    "pipeline_canary_interval",
    "pipeline_canary_min_requests",
    "pipeline_canary_max_5xx_increase",
    "pipeline_canary_max_reject_increase",
    "pipeline_canary_confidence",
)


FLAGS = ("keep_config", "config_only", "include_secrets", "migrate_down", "rollback_backup")  # rollback's true/false
FLAG_DEFAULTS = {"rollback_backup": True}  # the others are false unless asked for


@dataclass
class Request:
    """What the operator asked for, checked: the options as booleans and strings, the switch's batch sizes."""

    operation: str
    version: str
    keep_config: bool = False
    config_only: bool = False
    include_secrets: bool = False  # with config_only: the host's secrets from before their last change too
    migrate_down: bool = False
    rollback_backup: bool = True  # runbook 6.1 step 3: a safety backup beside a rollback's switch (false: none)
    restore_backup: str = ""
    confirm: str = ""
    batches: list[int] = field(default_factory=lambda: [1])
    # where the service keeps its data: postgres, or memory (AI_CS_POSTGRES_ENABLED=false, test and development only,
    # runbook section 四: no database, so no backup, no migration, no restore)
    store: str = "postgres"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RefusedError(Exception):
    """The request cannot run: every problem found, each saying what is wrong and how to fix it."""

    def __init__(self, operation: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{operation} refused: {' | '.join(problems)}. Nothing was changed.")


def _shown(value: Any, width: int = 60) -> str:
    """A value as an operator reads it in a message: JSON-quoted, cut to width."""
    text = str(value)
    text = text if len(text) <= width else text[: width - 3] + "..."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def is_true(value: Any) -> bool:
    return value in TRUE


def is_boolean(value: Any) -> bool:
    return value in TRUE or value in FALSE


def version_problem(version: Any) -> str:
    """'' for a well-formed version, else the refusal (no version, or not vMAJOR.MINOR.PATCH[-pre])."""
    if isinstance(version, str) and VERSION.fullmatch(version):
        return ""
    cause = (
        "no version given"
        if str(version) == ""
        else "not vMAJOR.MINOR.PATCH with an optional -pre-release suffix (no spaces, quotes or shell characters)"
    )
    return (
        f"version {_shown(version)} refused: it must look like v1.2.3 or v1.2.3-rc.1. Cause: {cause}. "
        "Fix: run with -e version=vX.Y.Z"
    )


def batches(spec: Any, fleet: int) -> tuple[list[int], str]:
    """The switch's batch sizes for deploy_batch_size over `fleet` app hosts, and '' or what is wrong.

    Forms: N hosts (1..fleet), N% of the fleet (1..100, at least one host), canary,N or canary,N% (one host first,
    then N or N% at a time). The sizes go to `serial:` (its last size repeats).
    """
    fleet = int(fleet)
    text = "" if isinstance(spec, bool) else str(spec).strip().replace(" ", "")
    found = _BATCH.fullmatch(text)
    problem = (
        f"deploy_batch_size must be a number of hosts (1..{fleet}, the app hosts of this run), a percentage "
        f"(1%..100%), or canary,N / canary,N% (one host first, then N or N% at a time); got {str(spec)[:40]!r}"
    )
    if not found or fleet < 1:
        return [], problem
    count = int(found["count"])
    if found["percent"]:
        if not 1 <= count <= 100:
            return [], problem
        size = max(1, fleet * count // 100)
    else:
        if not 1 <= count <= fleet:
            return [], problem
        size = count
    return ([1, size] if found["canary"] and fleet > 1 else [size]), ""


def rollback_options_problems(request: Request, flags: dict[str, Any]) -> list[str]:
    """The rollback options' own rules: booleans, the dump's path, which go together, which are rollback's."""
    problems = []
    if any(not is_boolean(flags.get(name, FLAG_DEFAULTS.get(name, False))) for name in FLAGS):
        problems.append(
            "keep_config, config_only, include_secrets, migrate_down and rollback_backup take true or false"
        )
    if request.include_secrets and not request.config_only:
        problems.append(
            "include_secrets goes with config_only=true (runbook 6.2: the config rollback, secrets included); a code "
            "rollback keeps the vault's secrets"
        )
    restore = request.restore_backup
    if not (restore in ("", "auto") or (DUMP_PATH.fullmatch(restore) and ".." not in restore)):
        problems.append(
            "restore_backup must be auto or the absolute path of a .pgc dump on the backup host "
            f"(letters, digits, . _ - / only); got {_shown(restore, 80)}"
        )
    if restore and request.migrate_down:
        problems.append("restore_backup and migrate_down are two different ways back; choose one")
    if request.config_only and (restore or request.migrate_down or request.keep_config):
        problems.append(
            "config_only changes the config alone; it does not go with keep_config, restore_backup or migrate_down"
        )
    if request.operation != "rollback" and (
        restore or request.migrate_down or request.keep_config or request.config_only or not request.rollback_backup
    ):
        problems.append(
            "keep_config, config_only, restore_backup, migrate_down and rollback_backup are rollback options"
        )
    return problems


def beside_backup(request: dict[str, Any], plan_hosts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Whether a rollback dumps the database beside its switch (runbook 6.1 step 3, "optional, recommended"), and
    what the dump is named for: by default (rollback_backup=false skips it), when the plan moves a host to another
    version. Not for a config-only rollback (runbook 6.2 takes none), nor beside a restore or down migrations,
    which take their safety backup first, with the service stopped.
    Returns {"beside": bool, "from": version left, "to": target} (the first host that changes version)."""
    changing = [h for h, p in sorted(plan_hosts.items()) if p.get("target") != p.get("from")]
    beside = (
        request.get("operation") == "rollback"
        and bool(request.get("rollback_backup", True))
        and not request.get("config_only")
        and not (request.get("restore_backup") or request.get("migrate_down"))
        and request.get("store", "postgres") != "memory"  # no database to dump
        and len(changing) > 0
    )
    # named for a host that served a release (one being repaired may serve none), as the backup role names a first
    # deploy's: "none"
    named = [h for h in changing if plan_hosts[h].get("from")] or changing
    first = plan_hosts[named[0]] if named else {}
    return {"beside": beside, "from": str(first.get("from") or "none"), "to": str(first.get("target") or "")}


def store_problems(request: Request, env: Any) -> list[str]:
    """The memory store is for test and development only (runbook section 四), and has no database to restore or
    migrate down."""
    if request.store != "memory":
        return []
    problems = []
    if str(env) == "production":
        # the service's own words and the runbook's row, as preflight and diagnose say it
        said = "memory fallback is not allowed: AI_CS_ENV=production but AI_CS_POSTGRES_ENABLED is not true"
        problems.append(said + explain(said))
    if request.operation == "reset":
        problems.append(
            "the dev reset truncates the database's tables, and the memory store (ai_cs_postgres_enabled false) has "
            "none (fix: restart the service, which empties the memory store: systemctl restart ai-customer-service)"
        )
    if request.restore_backup or request.migrate_down:
        problems.append(
            "restore_backup and migrate_down change the database, and the memory store (ai_cs_postgres_enabled "
            "false) has none (fix: leave them out)"
        )
    return problems


def fleet_problem(request: Request, outside: list[str]) -> str:
    """A step that changes the database under every app host needs every app host in the run."""
    if not outside or not (request.operation == "reset" or request.restore_backup or request.migrate_down):
        return ""
    what = (
        "the dev reset"
        if request.operation == "reset"
        else ("restore_backup" if request.restore_backup else "migrate_down")
    )
    return (
        f"{what} changes the database under every app host, and {', '.join(outside)} would not be in this run "
        "(cause: --limit; fix: run it without --limit, so every host stops and restarts with it)"
    )


def canary_problems(settings: dict[str, Any]) -> list[str]:
    """pipeline_canary is a boolean; the analysis' numbers are numbers, in range and in order."""
    problems = []
    if not is_boolean(settings.get("pipeline_canary", True)):
        problems.append("pipeline_canary takes true or false")
    numbers = [settings.get(name) for name in CANARY_NUMBERS]
    good = all(_NUMBER.fullmatch(str(n)) for n in numbers)
    if good:
        window, interval, minimum, max_5xx, max_reject, confidence = (float(n) for n in numbers)
        good = (
            0 < interval <= window
            and re.fullmatch(r"[1-9][0-9]*", str(numbers[2])) is not None
            and minimum >= 1
            and max_5xx <= 1
            and max_reject <= 1
            and 0.5 <= confidence < 1
        )
    if not good:
        problems.append(
            "the canary analysis' settings must be numbers: pipeline_canary_window (seconds) >= "
            "pipeline_canary_interval (seconds) > 0, pipeline_canary_min_requests a whole number >= 1, "
            "pipeline_canary_max_5xx_increase and pipeline_canary_max_reject_increase ratios from 0 to 1 (0.01 = one "
            "point), pipeline_canary_confidence from 0.5 to below 1; got "
            + "["
            + ", ".join(_shown(n, 20) for n in numbers)
            + "]"
        )
    return problems


def bounds_problems(settings: dict[str, Any]) -> list[str]:
    """Every numeric option given (from the inventory or -e) in its range."""
    return [p for b in BOUNDS if b.name in settings and (p := b.problem(settings[b.name]))]


def alertmanager_problem(url: Any, user: Any = "", password_set: bool = False) -> str:
    """Alertmanager's URL is http(s) without query or credentials (they would be printed with it); an account is
    sent over https only, and has a password."""
    if not _ALERTMANAGER_URL.fullmatch(str(url)):
        return (
            "pipeline_alertmanager_url (ai_cs_alertmanager_url) must be an http(s) URL of Alertmanager, without query "
            f"or credentials (ai_cs_alertmanager_user and _password carry those), or empty for no silences; got "
            f"{_shown(url, 80)}"
        )
    if user and str(url).startswith("http://"):
        return (
            f"pipeline_alertmanager_url is {_shown(url, 80)}: the pipeline's account would be sent unencrypted. Fix: "
            "serve Alertmanager over https (role monitoring does) and give its https URL"
        )
    if user and not password_set:
        return (
            f"pipeline_alertmanager_user is {_shown(user, 40)} but pipeline_alertmanager_password "
            "(ai_cs_alertmanager_password) is empty. Fix: put the account's password in the vault"
        )
    return ""


def swap_problem(mode: Any) -> str:
    """The deploy mode is one of the swap modes (module_utils/ai_cs_release.py's MODES)."""
    if isinstance(mode, str) and mode in MODES:
        return ""
    return (
        f"ai_cs_deploy_mode (pipeline_swap) is {' or '.join(MODES)} (binary: the release's executable; image: its "
        f"container image); got {_shown(mode, 40)}"
    )


def flag_problems(settings: dict[str, Any]) -> list[str]:
    return [
        f"{name} takes true or false"
        for name in ("pipeline_drain_whole_fleet",)
        if name in settings and not is_boolean(settings[name])
    ]


def hooks_problems(hooks: Any, inspect: Any) -> list[str]:
    """ai_cs_hooks maps known points to lists of task files; inspect(name) says what is wrong with one file ('' for
    nothing): hook_problem, on the controller."""
    good = (
        isinstance(hooks, dict)
        and not set(hooks) - set(HOOK_POINTS)
        and all(isinstance(files, list) and all(isinstance(f, str) for f in files) for files in hooks.values())
    )
    if not good:
        return [
            f"ai_cs_hooks (pipeline_hooks) must map points ({', '.join(HOOK_POINTS)}) to lists of task files; "
            f"got {_shown(hooks, 120)}"
        ]
    return [problem for files in hooks.values() for name in files if (problem := inspect(name))]


# What a hook's tasks may not do: end the host or the play (the pipeline's rescue, which releases the lock and lifts
# the silences, would never run), or bring in task files the checks below did not read.
_HOOK_ENDS = ("end_host", "end_play", "end_batch", "end_role")
_HOOK_INCLUDES = ("include_tasks", "import_tasks", "include_role", "import_role", "include", "import_playbook")


def _short(action: str) -> str:
    return action.rsplit(".", 1)[-1]


def hook_tasks_problem(tasks: Any) -> str:
    """'' when a hook's parsed task list neither ends the host nor includes other files, else what it does."""
    stack = list(tasks) if isinstance(tasks, list) else [tasks]
    while stack:
        task = stack.pop()
        if not isinstance(task, dict):
            return "is not a list of tasks"
        for key in ("block", "rescue", "always"):
            stack += task.get(key) or []
        for action, value in task.items():
            if _short(action) == "meta" and str(value).strip() in _HOOK_ENDS:
                return f"ends the host or the play (meta: {str(value).strip()}), which would skip its run's rescue"
            if _short(action) in _HOOK_INCLUDES:
                return f"brings in other task files ({action}), which these checks cannot read"
    return ""


def notify_problem(receivers: Any) -> str:
    """ai_cs_notify is a list of receivers: url, format, secret, events. Its value is never shown (secrets)."""
    good = isinstance(receivers, list) and all(
        isinstance(r, dict)
        and _NOTIFY_URL.fullmatch(str(r.get("url", "")))
        and r.get("format", "json") in ("slack", "json")
        and isinstance(r.get("events", []), list)
        and set(r.get("events", [])) <= set(NOTIFY_EVENTS)
        for r in receivers
    )
    if good:
        return ""
    return (
        "ai_cs_notify (pipeline_notify) must be a list of receivers, each a mapping of url (http:// or https://), "
        "format (slack or json, default json), secret (optional, to sign the body) and events (optional, of "
        f"{', '.join(NOTIFY_EVENTS)}); the value is not shown, a receiver's URL or secret may be a secret"
    )


def check_request(
    operation: str,
    version: Any,
    *,
    options: dict[str, Any],
    settings: dict[str, Any],
    app_hosts: list[str],
    run_hosts: list[str],
    hook_inspect: Any = None,
) -> Request:
    """The request checked whole, before any host is contacted: a Request, or RefusedError listing every problem.

    options: what the operator typed (-e version, deploy_batch_size, keep_config, config_only, migrate_down,
    restore_backup, confirm_data_loss/confirm_reset). settings: the run's other inputs, from the inventory or -e
    (the canary's, silences', hooks', receivers', the deploy mode, every option BOUNDS knows). app_hosts: the
    inventory's group app; run_hosts: the hosts this run may contact (--limit).
    """
    if operation not in OPERATIONS:
        raise RefusedError(str(operation), [f"the operation is one of {', '.join(OPERATIONS)}"])
    in_run = [h for h in app_hosts if h in run_hosts]
    if not in_run:
        raise RefusedError(
            operation,
            [
                f"this run has no app host ({', '.join(run_hosts)}; cause: --limit leaves out every host of group "
                "app, and every step works through them, the database's too; fix: --limit the app hosts to work on, "
                "or leave --limit out)"
            ],
        )
    version = "" if version is None else version
    request = Request(
        operation=operation,
        version=str(version),
        keep_config=is_true(options.get("keep_config", False)),
        config_only=is_true(options.get("config_only", False)),
        include_secrets=is_true(options.get("include_secrets", False)),
        migrate_down=is_true(options.get("migrate_down", False)),
        rollback_backup=is_true(options.get("rollback_backup", True)),
        restore_backup=str(options.get("restore_backup", "") or ""),
        confirm=str(options.get("confirm", "") or ""),
        store="postgres" if is_true(settings.get("ai_cs_postgres_enabled", True)) else "memory",
    )
    named = operation == "deploy" or (
        operation == "rollback" and version != "previous" and not (version == "" and request.config_only)
    )
    if named and (problem := version_problem(version)):
        raise RefusedError(operation, [problem])
    flags = {name: options.get(name, FLAG_DEFAULTS.get(name, False)) for name in FLAGS}
    problems = rollback_options_problems(request, flags)
    problems += [p for p in [fleet_problem(request, [h for h in app_hosts if h not in run_hosts])] if p]
    if operation != "reset":
        sizes, problem = batches(options.get("batch_size", 1), len(in_run))
        problems += [problem] if problem else []
        request.batches = sizes or [1]
    problems += store_problems(request, settings.get("ai_cs_env", "production"))
    problems += canary_problems(settings)
    problems += flag_problems(settings)
    problems += [p for p in [swap_problem(settings.get("pipeline_swap", "binary"))] if p]
    problems += [
        p
        for p in [
            alertmanager_problem(
                settings.get("pipeline_alertmanager_url", ""),
                settings.get("pipeline_alertmanager_user", ""),
                bool(settings.get("pipeline_alertmanager_password")),
            )
        ]
        if p
    ]
    problems += bounds_problems(settings)
    problems += hooks_problems(settings.get("pipeline_hooks", {}), hook_inspect or (lambda _name: ""))
    problems += [p for p in [notify_problem(settings.get("pipeline_notify", []))] if p]
    if problems:
        raise RefusedError(operation, problems)
    return request


def choose_targets(run: dict[str, Any], request: dict[str, Any], servings: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each app host's target, from what it serves (servings: each host's read): a deploy's the version asked for;
    a rollback's the version named, the previous one (the host's record), or for config_only the serving one; a
    reset's what serves. Refused (every problem at once, each naming its host) when a target cannot be named, is
    not a version, differs between hosts, or is marked bad there."""
    operation, asked = run["operation"], run["version"]
    targets: dict[str, str] = {}
    problems: list[str] = []
    for host, serving in servings.items():
        serves = serving["version"]
        if request.get("store") == "memory" and serving.get("env") == "production":
            problems.append(
                f"{host} serves AI_CS_ENV=production (its serving release's settings), and this run would put it on "
                "the memory store (cause: ai_cs_env and ai_cs_postgres_enabled, in the inventory or given with -e, "
                "name a test or development environment for a production host; fix: run with the production "
                "inventory; a production host never leaves PostgreSQL)"
            )
            continue
        if operation == "deploy":
            targets[host] = asked
            continue
        if operation == "reset" or (request.get("config_only") and asked in ("", serves)):
            targets[host] = serves
        else:
            targets[host] = (serving.get("previous") or "") if asked == "previous" else asked
        target = targets[host]
        if operation == "reset":
            continue
        if request.get("config_only") and target != serves:
            problems.append(
                f"config_only rolls back the config of the version that serves ({serves} on {host}), not of "
                f"{asked} (fix: drop -e version, or use the serving one)"
            )
        elif not target:
            problems.append(
                f"no previous version is recorded on {host} (cause: it had one deploy only, or its record "
                f"(ansible_local.ai_cs) is missing; fix: name the version, -e version=vX.Y.Z; releases on disk: "
                f"{', '.join(serving.get('on_disk') or []) or 'none'})"
            )
        elif asked in ("previous", "") and (problem := version_problem(target)):
            problems.append(f"{host}'s record names {problem}")
        elif target in (serving.get("bad") or {}):
            problems.append(
                f"{target} is marked bad on {host}: {serving['bad'][target][:300]} (cause: it failed verification when "
                "it was deployed; fix: choose another version, or fix the cause and deploy it with deploy.yml, which "
                "clears the mark)"
            )
    if operation == "rollback" and not problems and len(set(targets.values())) > 1:
        listed = ", ".join(f"{host}: {target}" for host, target in targets.items())
        problems.append(
            f"the app hosts' previous versions differ ({listed}; cause: they were deployed separately; fix: name the "
            "version, -e version=vX.Y.Z)"
        )
    if problems:
        raise RefusedError(operation, problems)
    return targets
