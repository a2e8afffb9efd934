# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release on an app host: the swap modes, and the acts of one host's switch (put in place, restart, record).

A release is a directory releases/<version>/ with its VERSION, db/migration/, config snapshot and systemd unit; what
the unit runs depends on the swap mode. A mode is one entry of MODES (a class below): what a release must have to
serve in it, how to tell an installed unit runs it, and how the summary names what serves. Staging, swap, read,
prune, summary and diagnose ask the entry; a new mode is one more class, registered (tests/unit/test_release.py plugs
a fake one in without touching the pipeline).

The puts keep the property the swap always had: each is a file or link made beside its target and renamed over it
(rename(2)), so there is never a moment without a link, a unit or a config.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.ai_cs_health import probe, unhealthy
from ansible.module_utils.ai_cs_webhook import smoke

SERVICE_FILE = "ai-customer-service"  # the executable's name inside a binary release
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")  # an image's content digest, as registries and IMAGE-DIGESTS write it


class Mode:
    """How a release runs. Subclasses set name and implement need(); detect() and describe() have defaults."""

    name = ""

    def need(self, release_dir: str) -> str | None:
        """None when the release has what this mode runs, else what it lacks."""
        raise NotImplementedError

    def detect(self, exec_start: str) -> bool:
        """Whether an installed unit whose ExecStart is exec_start runs this mode."""
        return False

    def describe(self, record: dict[str, Any]) -> str:
        """What the summary adds to a host serving in this mode ('' for nothing)."""
        return ""


class Binary(Mode):
    name = "binary"

    def need(self, release_dir: str) -> str | None:
        path = os.path.join(release_dir, SERVICE_FILE)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return None
        return "no executable (staged as an image only, or removed by hand)"


class Image(Mode):
    name = "image"

    def need(self, release_dir: str) -> str | None:
        path = os.path.join(release_dir, "IMAGE")
        try:
            with open(path, encoding="utf-8") as src:
                ref = src.read().strip()
        except OSError:
            ref = ""
        if ref and subprocess.run(["podman", "image", "exists", ref], check=False).returncode == 0:
            return None
        return "no image reference, or its image is gone from podman (staged as a binary only, or removed by hand)"

    def detect(self, exec_start: str) -> bool:
        return "/podman " in exec_start

    @staticmethod
    def digests(listing: str, repository: str, version: str) -> list[str]:
        """The digests IMAGE-DIGESTS (listing: its text, SHA256SUMS' layout "<digest>  <repository>:<version>")
        gives for repository:version, in its order. Exactly one is what a caller may pull or name: none means the
        release was published without its image, two that the listing was edited by hand."""
        wanted = f"{repository}:{version}"
        return [
            fields[0]
            for fields in (line.split() for line in (listing or "").splitlines())
            if len(fields) >= 2 and fields[1] == wanted and DIGEST.fullmatch(fields[0])
        ]

    def describe(self, record: dict[str, Any]) -> str:
        image = str(record.get("image") or "")
        return f" as image {image.rsplit('@', maxsplit=1)[-1][:19]}" if image else ""


MODES: dict[str, Mode] = {}


def register(mode: Mode) -> Mode:
    MODES[mode.name] = mode
    return mode


for _mode in (Binary(), Image()):
    register(_mode)


def mode(name: str) -> Mode:
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"unknown deploy mode {name!r}: one of {', '.join(MODES)}") from None


def detect(exec_start: str) -> str:
    """The mode an installed unit runs (binary when no other mode claims it: units before modes ran binaries)."""
    return next((m.name for m in MODES.values() if m.detect(exec_start)), "binary")


@dataclass
class Paths:
    """Where one host keeps the service: install dir (releases/, current), unit, secrets, record, history."""

    install_dir: str
    service: str
    secrets_file: str
    state_dir: str
    fact_file: str = "/etc/ansible/facts.d/ai_cs.fact"
    unit_dir: str = "/etc/systemd/system"

    def release(self, version: str) -> str:
        return os.path.join(self.install_dir, "releases", version)

    def env(self, version: str) -> str:
        return os.path.join(self.release(version), f"{self.service}.env")

    def release_unit(self, version: str) -> str:
        return os.path.join(self.release(version), f"{self.service}.service")

    @property
    def unit(self) -> str:
        return os.path.join(self.unit_dir, f"{self.service}.service")

    @property
    def current(self) -> str:
        return os.path.join(self.install_dir, "current")


class StepError(Exception):
    """One step of a switch failed: the step's name and what went wrong."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(message)


def put_link(paths: Paths, version: str) -> bool:
    """Point current at releases/<version> by rename(2). True when it changed."""
    target = f"releases/{version}"
    try:
        if os.readlink(paths.current) == target:
            return False
    except OSError:
        pass
    tmp = os.path.join(paths.install_dir, ".current.next")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, paths.current)
    return True


def _same(a: str, b: str) -> bool:
    if not os.path.exists(b):
        return False
    with open(a, "rb") as one, open(b, "rb") as two:
        return one.read() == two.read()


def put_file(src: str, dest: str, keep: str = "", move: bool = False) -> bool:
    """Put src in place of dest by rename(2) when they differ, keeping the replaced dest as dest+keep ('' keeps
    nothing). move consumes src (a missing src is nothing to do); otherwise src stays (a missing src is an error).
    True when dest changed."""
    if not os.path.exists(src):
        if move:
            return False
        raise FileNotFoundError(f"no {src}: there is no such config to put back")
    if _same(src, dest):
        if move:
            os.unlink(src)
        return False
    if keep and os.path.exists(dest):
        shutil.copy2(dest, dest + keep)
        os.utime(dest + keep)  # its mtime says when it was replaced: what a retention counts from
    if move:
        os.replace(src, dest)
    else:
        shutil.copy2(src, dest + ".put")
        os.replace(dest + ".put", dest)
    return True


@dataclass
class Swapped:
    """What a swap put in place (a go-back puts back what it replaced)."""

    link: bool = False
    unit: bool = False
    config: bool = False
    secrets: bool = False
    restored: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [n for n in ("link", "unit", "config", "secrets") if getattr(self, n)] + self.restored


def swap(
    paths: Paths,
    version: str,
    mode_name: str,
    *,
    link: bool = True,
    restore: list[dict[str, str]] | None = None,
) -> Swapped:
    """Bring a staged release into service: refuse one that is incomplete or lacks what its mode runs (before anything
    is put), then current, the release's unit, its staged settings and the host's staged secrets, each atomically;
    then restore: kept configs put back ({target: env|secrets|unit, from: suffix, keep: suffix}), each copied."""
    release = paths.release(version)
    if not os.path.exists(os.path.join(release, ".complete")):
        raise StepError(
            "swap",
            f"release {version} is not complete ({release} has no .complete marker; cause: its staging did not "
            "finish; fix: stage it again)",
        )
    lacking = mode(mode_name).need(release)
    if lacking:
        raise StepError(
            "swap",
            f"{version} has {lacking}. Fix: deploy it again in {mode_name} mode (staging adds what it runs), or with "
            f"the mode it was staged in",
        )
    done = Swapped()
    if link:
        done.link = put_link(paths, version)
        done.unit = put_file(paths.release_unit(version), paths.unit, keep=".previous")
        done.config = put_file(paths.env(version) + ".next", paths.env(version), keep=".previous", move=True)
        done.secrets = put_file(paths.secrets_file + ".next", paths.secrets_file, keep=".previous", move=True)
    targets = {"env": paths.env(version), "secrets": paths.secrets_file, "unit": paths.unit}
    for put in restore or []:
        dest = targets[put["target"]]
        if put_file(dest + put["from"], dest, keep=put.get("keep", ""), move=put["from"] == ".next"):
            done.restored.append(put["target"])
    return done


VERIFY = "Wait for live, ready and the expected version"
SMOKE = "Run the signed webhook smoke test"


@dataclass
class Check:
    """How a release is verified on its host: its endpoints there, how long it may take, the smoke test's calls."""

    base_url: str
    timeout: float = 60
    smoke: bool = True
    secret: str = ""
    max_skew_seconds: int = 300
    message: dict[str, str] = field(default_factory=dict)
    # set: the smoke test signs with the webhook secret this file holds, the one the service started with (a config
    # rollback that put the earlier secrets back), not with secret (the vault's)
    secret_file: str = ""
    # set: /ready is judged as the release's settings say its store reports it (ready_expectations)
    paths: Paths | None = None

    def signing_secret(self) -> str:
        if not self.secret_file:
            return self.secret
        try:
            with open(self.secret_file, encoding="utf-8") as src:
                return parse_env(src.read()).get(WEBHOOK_SECRET, "")
        except OSError as failed:
            raise StepError(SMOKE, f"cannot read the webhook secret the service runs with: {failed}") from None


def store(settings: dict[str, str]) -> str:
    """Where a release with these settings keeps its data: memory (AI_CS_POSTGRES_ENABLED=false, test and development,
    runbook section 四) or postgres."""
    return "memory" if settings.get("AI_CS_POSTGRES_ENABLED", "").strip().lower() == "false" else "postgres"


def ready_expectations(settings: dict[str, str]) -> dict[str, str]:
    """What /ready must say for a release with these settings: its database UP, or, on the memory store, the store UP
    (it has no database)."""
    if store(settings) == "memory":
        return {"status": "UP", "components.store": "UP"}
    return {"status": "UP", "components.postgres": "UP"}


def release_settings(paths: Paths | None, version: str) -> dict[str, str]:
    """The release's own settings (its snapshot on disk); {} when there is none to read (no install directory given,
    as a bare verify of a service elsewhere)."""
    if paths is None or not paths.install_dir:
        return {}
    try:
        with open(paths.env(version), encoding="utf-8") as src:
            return parse_env(src.read())
    except OSError:
        return {}


def verify(check: Check, version: str, *, with_smoke: bool = True) -> None:
    """/live, /ready (UP, the database UP, or the memory store's UP) and /actuator/health reporting the version,
    within the timeout; then the signed webhook smoke test directly at the host. StepError names the step and what
    failed."""
    base = check.base_url.rstrip("/")
    ready = ready_expectations(release_settings(check.paths, version))
    specs = [
        {"name": "/live", "url": f"{base}/live", "status": [200], "json": {}},
        {"name": "/ready", "url": f"{base}/ready", "status": [200], "json": ready},
        {"name": "/actuator/health", "url": f"{base}/actuator/health", "status": [200], "json": {},
         "version": version, "version_field": "version"},
    ]  # fmt: skip
    healthy, state, _seconds = probe(specs, timeout=check.timeout, interval=1)
    if not healthy:
        raise StepError(VERIFY, unhealthy(state, check.timeout))
    if with_smoke and check.smoke:
        message = {"channel": "ops-smoke", "open_id": "ops-smoke", "content": "health check", **check.message}
        message.setdefault("message_id", f"smoke-{int(time.time())}")
        url = f"{base}/api/v1/customer-service/webhook"
        problem, _answers = smoke(url, check.signing_secret(), message, max_skew_seconds=check.max_skew_seconds)
        if problem:
            raise StepError(SMOKE, problem)


def systemctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)


def restart(service: str) -> None:
    """Reload the units, enable the service and restart it (what systemd_service restarted+enabled does)."""
    for args in (("daemon-reload",), ("enable", service), ("restart", service)):
        done = systemctl(*args)
        if done.returncode != 0:
            raise StepError("restart", f"systemctl {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")


def stop(service: str) -> None:
    done = systemctl("stop", service)
    if done.returncode != 0:
        raise StepError("stop", f"systemctl stop {service} failed: {(done.stderr or done.stdout).strip()}")


def service_errors(service: str, since: float) -> list[str]:
    """The service's own ERROR lines since then (its journal; read-only), each once, in order."""
    done = subprocess.run(
        ["journalctl", f"--unit={service}", f"--since=@{int(since)}", "--output=cat", "--no-pager"],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line.split("\t", 1)[-1] for line in done.stdout.splitlines() if "\tERROR\t" in line]
    return list(dict.fromkeys(lines))


def now_utc(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if at is None else at))


def _write(path: str, text: str, mode_bits: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode_bits), "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, mode_bits)
    os.replace(tmp, path)


# The host's secrets file, KEY="value" with backslashes and quotes escaped (systemd's EnvironmentFile; the release
# role's env_file.j2 writes the settings the same way), and the webhook secret's rotation window in it.
_ENV_LINE = re.compile(r"^(AI_CS_[A-Z0-9_]+)=(.*)$")
WEBHOOK_SECRET = "AI_CS_WEBHOOK_SECRET"  # noqa: S105 - a setting's name, not a secret
PREVIOUS_SECRET = "AI_CS_WEBHOOK_SECRET_PREVIOUS"  # noqa: S105 - a setting's name, not a secret
PREVIOUS_UNTIL = "AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL"
ROTATION_WINDOW_MAX = 7 * 24 * 3600


def parse_env(content: str) -> dict[str, str]:
    """An env file as the release role writes it (KEY="value", backslash-escaped) as a dict; other lines ignored."""
    parsed = {}
    for line in (content or "").splitlines():
        found = _ENV_LINE.match(line.strip())
        if not found:
            continue
        key, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        parsed[key] = value
    return parsed


def render_env(values: dict[str, str], title: str) -> str:
    """values as an env file parse_env reads back (a value on one line: a newline would end it early)."""
    lines = [f"# {title}"]
    for key in sorted(values):
        value = str(values[key])
        if "\n" in value or "\r" in value:
            raise StepError("secrets", f"{key} holds a line break, which an env file cannot carry; fix: remove it")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{key}="{escaped}"')
    return "\n".join(lines) + "\n"


def secrets_wanted(serving: dict[str, str], vault: dict[str, str], window: int, now: int) -> dict[str, str]:
    """What the host's secrets file should hold: the vault's secrets and, while a rotation window is open, the
    webhook secret the host served before the vault's (AI_CS_WEBHOOK_SECRET_PREVIOUS, accepted by the service until
    AI_CS_WEBHOOK_SECRET_PREVIOUS_UNTIL, unix seconds), so upstreams still signing with it are not refused while they
    move. A rotation opens a window of window seconds (0: none, the old secret is refused at once); a window still
    open is kept as it is by later runs; a closed one leaves the file."""
    wanted = dict(vault)
    new, old = vault.get(WEBHOOK_SECRET, ""), serving.get(WEBHOOK_SECRET, "")
    if old and new and old != new:
        if window > 0:
            wanted[PREVIOUS_SECRET], wanted[PREVIOUS_UNTIL] = old, str(now + window)
        return wanted
    previous, until = serving.get(PREVIOUS_SECRET, ""), serving.get(PREVIOUS_UNTIL, "")
    if window > 0 and previous and previous != new and until.isdigit() and int(until) > now:
        wanted[PREVIOUS_SECRET], wanted[PREVIOUS_UNTIL] = previous, until
    return wanted


def expire_kept_secrets(paths: Paths, keep_seconds: int, now: int, check: bool) -> list[str]:
    """Remove the secrets a swap or a config rollback kept (secrets_file.previous, .before-rollback) once they were
    replaced keep_seconds ago (put_file sets a kept file's mtime when it keeps it): they are kept for a config
    rollback (-e include_secrets=true) and no longer. Returns the suffixes removed."""
    removed = []
    for suffix in (".previous", ".before-rollback"):
        try:
            if now - os.stat(paths.secrets_file + suffix).st_mtime >= keep_seconds:
                removed.append(suffix)
        except FileNotFoundError:
            continue
    if not check:
        for suffix in removed:
            os.unlink(paths.secrets_file + suffix)
    return removed


def stage_secrets(paths: Paths, vault: dict[str, str] | None, window: int, now: int, check: bool) -> dict[str, Any]:
    """Stage the host's secrets (secrets_file.next, 0600) when what they should hold differs from what serves, by
    value (a header or a quoting style is no change); remove a staged file no longer wanted. The swap puts a staged
    file in place, a batch at a time. vault None: keep what serves (a config rollback that puts the earlier secrets
    back itself). Returns staged, changed, and the rotation window: rotation_until (unix seconds) and rotation
    (opened, open, closed or none), never a secret."""
    if not 0 <= window <= ROTATION_WINDOW_MAX:
        raise StepError("secrets", f"rotation_window {window} is out of range: 0 to {ROTATION_WINDOW_MAX} seconds")
    try:
        with open(paths.secrets_file, encoding="utf-8") as src:
            serving = parse_env(src.read())
    except FileNotFoundError:
        serving = {}
    wanted = dict(serving) if vault is None else secrets_wanted(serving, vault, window, now)
    staged = wanted != serving
    until = int(wanted.get(PREVIOUS_UNTIL, 0) or 0)
    if until and serving.get(PREVIOUS_UNTIL) != wanted[PREVIOUS_UNTIL]:
        rotation = "opened"
    elif until:
        rotation = "open"
    elif serving.get(PREVIOUS_SECRET):
        rotation = "closed"
    else:
        rotation = "none"
    pending = paths.secrets_file + ".next"
    text = render_env(wanted, "Secrets of this host's service, from the vault (never snapshotted); ai_cs_release")
    try:
        with open(pending, encoding="utf-8") as src:
            current_pending = src.read()
    except FileNotFoundError:
        current_pending = None
    changed = (current_pending != text) if staged else current_pending is not None
    directory = os.path.dirname(paths.secrets_file)
    try:
        private = os.stat(directory).st_mode & 0o777 == 0o700
    except FileNotFoundError:
        private = False
    changed = changed or not private
    if changed and not check:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)  # root's only, as the files in it
        if staged:
            _write(pending, text, 0o600)
        elif current_pending is not None:
            os.unlink(pending)
    return {"staged": staged, "changed": changed, "rotation": rotation, "rotation_until": until}


def read_record(paths: Paths) -> dict[str, Any]:
    try:
        with open(paths.fact_file, encoding="utf-8") as src:
            data = json.load(src)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def record(paths: Paths, entry: dict[str, Any]) -> None:
    """Append the run's entry to the host's history; after a success also clear the release's bad mark and record in
    the host's local facts (ansible_local.ai_cs) what runs now, what ran before, and its backup."""
    os.makedirs(paths.state_dir, exist_ok=True)
    line = json.dumps({"when": now_utc(), **entry}, separators=(",", ":"))
    history = os.path.join(paths.state_dir, "history.jsonl")
    fd = os.open(history, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(line + "\n")
    if entry.get("result") != "success":
        return
    bad = os.path.join(paths.release(entry["to"]), ".bad")
    if os.path.exists(bad):
        os.unlink(bad)
    old = read_record(paths)
    came_from = entry.get("from")
    fact = {
        "current": entry["to"],
        "mode": entry.get("mode") or "binary",
        "image": entry.get("image"),
        # a config-only change keeps the same version: what ran before stays what it was
        "previous": came_from if came_from not in ("none", entry["to"], None) else old.get("previous"),
        "backup": entry.get("backup"),
        "changed_at": now_utc(),
        "run_id": entry.get("run_id"),
    }
    _write(paths.fact_file, json.dumps(fact, indent=4, sort_keys=True) + "\n", 0o644)


def mark_bad(paths: Paths, version: str, reason: str) -> None:
    """Mark a release bad, so it is never chosen as a rollback target (a deploy clears the mark once it verifies)."""
    text = json.dumps({"version": version, "marked_at": now_utc(), "reason": reason}) + "\n"
    _write(os.path.join(paths.release(version), ".bad"), text, 0o644)


@dataclass
class Switch:
    """One host's switch: to version in mode, from what served verified before (what a failure goes back to)."""

    version: str
    from_version: str
    mode: str = "binary"
    from_mode: str = "binary"
    link: bool = True  # False: the config alone (runbook 6.2), current stays
    restore: list[dict[str, str]] = field(default_factory=list)
    mark_bad: bool = False  # a deploy marks a release that failed and was left bad
    since: float = 0.0  # when the run began (the record's duration)
    record: dict[str, Any] = field(default_factory=dict)


def go_back(paths: Paths, check: Check, sw: Switch, done: list[str]) -> tuple[str, str]:
    """Back to what served before, with the same puts, restart and verification (no smoke): (result, outcome).
    Another version brings its own unit and config; the same version gets back what the switch replaced; with
    nothing to go back to, the service is stopped."""
    target, came_from = sw.version, sw.from_version
    back_to = came_from if came_from not in ("none", target) else (target if came_from == target else None)
    if back_to is None:
        try:
            stop(paths.service)
        except StepError as failed:
            return "failed", f"Nothing served on this host before, and stopping {target} failed too: {failed}."
        bad = f" and {target} is marked bad" if sw.mark_bad else ""
        return "failed", (
            f"Nothing served on this host before ({came_from}), so there is nothing to go back to: the service was "
            f"stopped{bad}. Fix the cause and run again."
        )
    same = back_to == target
    restore = []
    if same and (not sw.link or "config" in done):
        restore.append({"target": "env", "from": ".previous" if sw.link else ".before-rollback", "keep": ""})
    if same and "unit" in done:
        restore.append({"target": "unit", "from": ".previous", "keep": ""})
    if "secrets" in done:
        restore.append({"target": "secrets", "from": ".previous", "keep": ""})
    try:
        swap(paths, back_to, sw.from_mode, link=not same, restore=restore)
        restart(paths.service)
        verify(check, back_to, with_smoke=False)
    except (StepError, OSError) as failed:
        step = failed.step if isinstance(failed, StepError) else f"Swap back to {back_to}"
        return "failed", (
            f"Going back to {back_to} failed as well at '{step}': {failed}. The service is NOT serving on this host: "
            f"look at journalctl -u {paths.service} there, then put the earlier release back: ansible-playbook "
            f"playbooks/rollback.yml -e version={back_to} --limit <this host>."
        )
    if same:
        return "rolled_back", (
            f"Rolled back automatically: the configuration of {target} that served before is restored, serving and "
            "verified ready; hosts in later batches never received the new one."
        )
    bad = f"; {target} is marked bad" if sw.mark_bad else ""
    return "rolled_back", (
        f"Rolled back automatically: {back_to} is serving again and verified ready{bad}. The database keeps the "
        "schema it has now."
    )


def back(
    paths: Paths,
    check: Check,
    sw: Switch,
    *,
    failure: StepError,
    cause: str,
    done: list[str],
    record_before: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """After a failed switch (inside it, or a later step of it such as the canary): go back (go_back), mark a deploy's
    failed release bad, put the host's record back as it was before the switch (when the switch had recorded its
    success), and record the failure. Returns the result: rolled_back or failed, the step, the cause, the outcome."""
    result, outcome = go_back(paths, check, sw, done)
    if sw.mark_bad and sw.from_version != sw.version:
        mark_bad(paths, sw.version, f"{failure.step}: {cause}")
    if record_before and result == "rolled_back":
        _write(paths.fact_file, json.dumps(record_before, indent=4, sort_keys=True) + "\n", 0o644)
    entry = {**sw.record, "result": result, "failed_step": failure.step, "cause": cause[:500]}
    entry["duration_seconds"] = round(time.time() - sw.since, 1)
    record(paths, entry)
    return {"result": result, "failed_step": failure.step, "cause": cause, "outcome": outcome, "swapped": done}


def switch(paths: Paths, check: Check, sw: Switch, explain: Any = None) -> dict[str, Any]:
    """Swap, restart, verify and record one host; on any failure, back() (go back by itself, mark, record). The
    cause carries the service's last ERROR lines and, through explain(text), the runbook's cause and fix."""
    started = time.time()
    done: list[str] = []
    try:
        try:
            done = swap(paths, sw.version, sw.mode, link=sw.link, restore=sw.restore).names()
        except OSError as failed:
            raise StepError(f"Swap to {sw.version}", str(failed)) from failed
        restart(paths.service)
        verify(check, sw.version)
    except StepError as failed:
        errors = service_errors(paths.service, started)
        cause = str(failed).rstrip(".")
        cause += f". Service log: {' / '.join(errors[-3:])}" if errors else ""
        # the service's own words when it said any (an HTTP "Connection refused" of a service that crashed is not
        # the database's), else what the step saw
        cause += explain(" / ".join(errors) if errors else str(failed)) if explain else ""
        return {
            **back(paths, check, sw, failure=failed, cause=cause, done=done),
            "seconds": round(time.time() - started, 1),
        }
    record(paths, {**sw.record, "result": "success", "duration_seconds": round(time.time() - sw.since, 1)})
    return {"result": "success", "seconds": round(time.time() - started, 1), "swapped": done}


UNIT_PROPERTIES = ("ActiveState", "SubState", "MainPID", "NRestarts", "InvocationID")


def read(paths: Paths) -> dict[str, Any]:
    """What this host serves and has on disk, read-only; works on a partly broken host (service stopped, current
    missing or pointing at a release that is gone):
      version      what this host last served verified: the release current points at, or, when a switch was cut
                   short (current points elsewhere than the host's record says it last verified), the recorded one;
                   'none' when neither is complete on disk. What a failed switch goes back to.
      link         the release current points at ('' when there is no link), complete or not
      interrupted  current points elsewhere than the release last verified (a switch killed before it verified)
      previous     the release that served verified before version (what "rollback to previous" means)
      dangling     current points at a release that is not (completely) on disk
      mode         what the installed unit runs (a name of MODES)
      env, store   the serving release's AI_CS_ENV and its store (postgres or memory), from its settings on disk
      active       the service is active
      unit         the service's systemd state (UNIT_PROPERTIES)
      record       the host's record (local facts): current, previous, backup ...
      on_disk      the complete releases on disk, sorted
      bad          the releases on disk marked bad, each with the reason recorded (a rollback never goes to one)"""
    try:
        link = os.path.basename(os.readlink(paths.current)) if os.path.islink(paths.current) else ""
    except OSError:
        link = ""
    releases = os.path.join(paths.install_dir, "releases")
    on_disk = sorted(
        name
        for name in (os.listdir(releases) if os.path.isdir(releases) else [])
        if os.path.exists(os.path.join(releases, name, ".complete"))
    )
    shown = systemctl("show", f"--property={','.join((*UNIT_PROPERTIES, 'ExecStart'))}", paths.service)
    status = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    record_ = read_record(paths)
    recorded = record_.get("current") or ""
    interrupted = bool(recorded) and recorded != link
    last_good = link if link in on_disk else "none"
    serving_settings = release_settings(paths, last_good) if last_good in on_disk else {}
    return {
        "version": recorded if interrupted and recorded in on_disk else last_good,
        "link": link,
        "interrupted": interrupted,
        "previous": recorded if interrupted else (record_.get("previous") or ""),
        "dangling": bool(link) and link not in on_disk,
        "active": status.get("ActiveState", "") == "active",
        "mode": detect(status.get("ExecStart", "")),
        # the environment and the store the serving release runs with (its settings on disk; '' when none serves)
        "env": serving_settings.get("AI_CS_ENV", ""),
        "store": store(serving_settings) if serving_settings else "",
        "unit": {name: status.get(name) for name in UNIT_PROPERTIES},
        "record": record_,
        "on_disk": on_disk,
        "bad": {
            name: _bad_reason(os.path.join(releases, name, ".bad"))
            for name in on_disk
            if os.path.exists(os.path.join(releases, name, ".bad"))
        },
    }


def _bad_reason(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as src:
            return str(json.load(src).get("reason") or "no reason recorded")
    except (OSError, ValueError, AttributeError):
        return "no reason recorded"
