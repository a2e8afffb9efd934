# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The 60-second diagnostic's judge: one app host's readings -> checks, each OK/FAIL/SKIP with the runbook's
cause and fix (ai_cs_runbook.match). Pure: the readings are gathered by the diagnose role's read-only tasks.

readings: unit (systemd status), link (what current points at, '' if missing), env (the serving release's
settings), http (health_probe endpoints), ss (lines of `ss -Htlnp`: every listening TCP socket, with the processes
holding it where they can be inspected), db (the
database query's result, or {"error": ...}, or None when there was no DSN), journal (`journalctl --output=json`
lines, newest first), webhook (webhook_sign's result, None when not sent), df (lines of `df -Pk`), controller_time
(the controller's clock just after the probe; controller_time_before, optional: just before it),
container (image mode: the service container's state, pid and image reference from podman inspect; None in binary
mode).
settings: service_name, install_dir, app_port, slow_ms, max_skew, journal_since, disk_min_free_mb,
disk_max_used_pct, message_id, channel.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ansible.module_utils.ai_cs_runbook import Row, match, row

ENVIRONMENTS = ("production", "test", "development")
REQUIRED_TABLES = ("cs_sessions", "cs_messages", "cs_tickets", "cs_audit_logs", "cs_message_dedup")


def webhook_secret_problem(host: str, host_env: str, inventorys: bool) -> str:
    """'' when diagnose may sign its webhook with the secret it was given, else why not (runbook style).

    The runbook's script signs with a test secret against a test instance. A secret other than the inventory's is
    refused for a host whose own serving settings (AI_CS_ENV, read from the host, never from a variable) do not say
    test or development: against production it proves nothing and writes a refused call into its audit log.
    """
    if inventorys or host_env in ("test", "development"):
        return ""
    said = f"AI_CS_ENV={host_env}" if host_env else "no AI_CS_ENV (no serving release's settings)"
    return (
        f"diagnose on {host}: a webhook secret other than the inventory's (diagnose_webhook_secret) was given, and "
        f"the host's serving settings say {said}. Cause: a test secret signs against a test or development instance "
        "only; against production the call is refused (CS_AUTH_4034) and shows nothing. Fix: drop "
        "-e diagnose_webhook_secret for production hosts (diagnose signs with the vault's secret, as the upstream "
        "does), or --limit the run to test instances."
    )


def _check(
    name: str, ok: bool, detail: str, hit: Row | None = None, *, cause: str | None = None, fix: str | None = None
) -> dict[str, Any]:
    """A check; when it fails, the runbook row's cause and fix win over the fallbacks given."""
    if ok:
        return {"name": name, "status": "OK", "detail": detail, "cause": None, "fix": None, "table": None}
    return {
        "name": name,
        "status": "FAIL",
        "detail": detail,
        "cause": hit.cause if hit else cause,
        "fix": hit.fix if hit else fix,
        "table": hit.table if hit else None,
    }


def _truncate(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


def journal_errors(lines: list[str], unit: dict[str, Any]) -> tuple[list[str], int]:
    """The service's ERROR lines of the runs judged: the current one and the automatic restarts before it.

    systemd's own lines carry INVOCATION_ID, the service's _SYSTEMD_INVOCATION_ID; NRestarts is reset by every start
    from a person or a deploy, so a crash loop is judged by its crashed runs even while a fresh run has not logged
    yet, and errors from before the last manual start are not.
    """
    records = []
    for line in reversed(lines):  # journalctl gave them newest first
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    runs: list[str] = []
    for record in records:
        run_id = record.get("_SYSTEMD_INVOCATION_ID") or record.get("INVOCATION_ID") or ""
        if run_id and run_id not in runs:
            runs.append(run_id)
    restarts = int(unit.get("NRestarts") or 0)
    judged = set(runs[-(restarts + 1) :]) | {unit.get("InvocationID") or ""}
    errors = []
    for record in records:
        message = record.get("MESSAGE")
        if record.get("_SYSTEMD_INVOCATION_ID") in judged and isinstance(message, str) and "\tERROR\t" in message:
            errors.append(re.sub(r"^[^\t]*\tERROR\t", "", message).replace("\t", " "))
    return errors, restarts


def _service(
    unit: dict[str, Any], version: str | None, http: dict, errors: list[str], svc: str, *, container: dict | None
) -> dict[str, Any]:
    active = unit.get("ActiveState") == "active"
    answering = (http.get("/live") or {}).get("status") is not None
    body = (http.get("/actuator/health") or {}).get("body")
    uptime = body.get("uptime_seconds", "?") if isinstance(body, dict) else "?"
    running = container is None or container.get("state") == "running"
    detail = (
        f"systemd {unit.get('ActiveState', 'unknown')}/{unit.get('SubState', 'unknown')}, pid {unit.get('MainPID', 0)}"
        f", up {uptime} s, restarts {unit.get('NRestarts', '?')}, release {version or 'none (current missing)'}"
        + (
            ""
            if container is None
            else f", container {container.get('state') or 'missing'} (pid {container.get('pid') or 0})"
            f" from {container.get('image') or 'no image'}"
        )
        + ("" if answering or not active else ", not answering on /live")
    )
    return _check(
        "service",
        active and running and answering,
        detail,
        match(" / ".join(errors)),
        cause="the service is not running; its journal names no runbook error",
        fix=f"journalctl -u {svc} -n 50 on the host, then redeploy or roll back",
    )


def _config(env: dict[str, str], settings: dict[str, Any]) -> dict[str, Any]:
    problems = []
    if not env:
        problems.append(f"no config: {settings['install_dir']}/current/{settings['service_name']}.env is missing")
    else:
        if env.get("AI_CS_ENV", "") not in ENVIRONMENTS:
            problems.append(f"AI_CS_ENV={json.dumps(env.get('AI_CS_ENV', ''))}")
        if env.get("AI_CS_ENV") == "production" and env.get("AI_CS_POSTGRES_ENABLED", "") != "true":
            enabled = json.dumps(env.get("AI_CS_POSTGRES_ENABLED", ""))
            problems.append(
                f"memory fallback is not allowed: AI_CS_ENV=production with AI_CS_POSTGRES_ENABLED={enabled}"
            )
        if env.get("AI_CS_POSTGRES_ENABLED") == "true" and not env.get("AI_CS_POSTGRES_DSN"):
            problems.append("AI_CS_POSTGRES_DSN is required")
        if not env.get("AI_CS_WEBHOOK_SECRET"):
            problems.append("AI_CS_WEBHOOK_SECRET is not set")
    detail = (
        "; ".join(problems)
        if problems
        else f"AI_CS_ENV={env.get('AI_CS_ENV')} AI_CS_POSTGRES_ENABLED={env.get('AI_CS_POSTGRES_ENABLED', '')} "
        f"AI_CS_POSTGRES_DSN=[SET] AI_CS_WEBHOOK_SECRET=[SET] AI_CS_LOG_LEVEL={env.get('AI_CS_LOG_LEVEL', '')}"
    )
    return _check(
        "config",
        not problems,
        detail,
        match(" / ".join(problems)),
        cause="the settings of the serving release are incomplete",
        fix="set them in the inventory and deploy again",
    )


_SS_USER = re.compile(r'\("([^"]*)",pid=([0-9]+)')


def _port(port: int, pids: set[int], active: bool, ss: list[str]) -> dict[str, Any]:
    """pids: the service's (its main process, and in image mode the container's, which is what listens)."""
    pid = max(pids)
    sockets = [line for line in ss if re.search(rf":{port}\s", line)]
    # users:(("name",pid=N,fd=M),...): absent for a socket whose process this user may not inspect
    holders = [(name, int(held)) for line in sockets for name, held in _SS_USER.findall(line)]
    others = [{"name": name, "pid": held} for name, held in holders if held not in pids]
    held_by_other = bool(others) or (bool(sockets) and not active)
    other = f"{others[0].get('name')} (pid {others[0].get('pid')})" if others else "a process that cannot be inspected"
    if held_by_other:
        detail = f"port {port} is held by {other}, not by the service" + ("" if active else " (not running)")
        return _check("port", False, detail, row("port-in-use"))
    if not sockets:
        return _check(
            "port",
            False,
            f"nothing listens on port {port}",
            None,
            cause="the service is not listening",
            fix="see the service check",
        )
    return _check("port", True, f"port {port} held by the service (pid {pid})")


def _database(db: dict[str, Any] | None) -> tuple[dict[str, Any], Row | None]:
    if db is None:
        error = "no AI_CS_POSTGRES_DSN to connect with"
    else:
        error = "" if "row" in db else re.sub(r"\s+", " ", str(db.get("error") or "no answer"))
    row_ = (db or {}).get("row") or {}
    missing = row_.get("missing_tables") or ""
    dirty = bool(row_.get("dirty"))
    if error:
        hit = match(error)
    elif missing:
        hit = match(f'pq: relation "{missing.split(",")[0]}" does not exist')
    elif dirty:
        hit = match(f"schema version {row_.get('schema_version')} is dirty")
    else:
        hit = None
    ok = not error and not missing and not dirty and row_.get("schema_version") is not None
    detail = (
        _truncate(error, 240)
        if error
        else f"connected as the service; tickets {row_.get('tickets', '?')}, schema version "
        f"{row_.get('schema_version') if row_.get('schema_version') is not None else 'none'}"
        + (" DIRTY" if dirty else "")
        + (f", missing tables: {missing}" if missing else "")
    )
    check = _check(
        "database",
        ok,
        detail,
        hit,
        cause="no migration has run (schema_migrations is missing)",
        fix="apply the migrations with deploy.yml",
    )
    return check, (hit if not ok else None)


def _endpoint(path: str, ep: dict[str, Any], slow_ms: float, db_hit: Row | None) -> dict[str, Any]:
    healthy = bool(ep.get("healthy"))
    latency = ep.get("latency_ms")
    slow = float(latency or 0) > float(slow_ms)
    body = ep.get("body")
    down_why = json.dumps(body.get("components", {})) if isinstance(body, dict) else _truncate(str(body or ""), 120)
    status = ep.get("status")
    detail = f"HTTP {status if status is not None else 'no answer'} in {latency if latency is not None else '?'} ms" + (
        "" if healthy else f": {_truncate(str(ep.get('problem') or ''), 200)}"
    )
    if healthy and slow:
        return _check(
            path,
            False,
            detail,
            None,
            cause=f"answers slower than {slow_ms} ms",
            fix="see the service, database and journal checks",
        )
    hit = db_hit or match(down_why)
    cause = "the service does not answer" if status is None else f"unhealthy: {down_why}"
    return _check(path, healthy, detail, hit, cause=cause, fix="see the service, database and journal checks")


def _journal(errors: list[str], restarts: int, settings: dict[str, Any]) -> dict[str, Any]:
    matched = []
    for line in dict.fromkeys(errors):
        hit = match(line)
        if hit and hit.severity == "info":
            continue
        matched.append((line, hit))
    if not matched:
        since = str(settings["journal_since"]).replace("-", "")
        detail = f"no ERROR lines in the last {since} of the current run" + (
            f" and the {restarts} automatic restart(s) before it" if restarts else ""
        )
        return _check("journal", True, detail)
    causes = [hit.cause if hit else "not in the runbook" for _line, hit in matched]
    fixes = [
        hit.fix if hit else f"read the full journal: journalctl -u {settings['service_name']}" for _l, hit in matched
    ]
    tables = [hit.table for _line, hit in matched if hit]
    return {
        "name": "journal",
        "status": "FAIL",
        "detail": " / ".join(_truncate(line, 200) for line, _hit in matched[-3:]),
        "cause": "; ".join(dict.fromkeys(causes)),
        "fix": "; ".join(dict.fromkeys(fixes)),
        "table": tables[0] if tables else None,
    }


def _webhook(wh: dict[str, Any] | None, settings: dict[str, Any]) -> dict[str, Any]:
    if not wh:
        return {
            "name": "webhook",
            "status": "SKIP",
            "detail": "not sent under --check",
            "cause": None,
            "fix": None,
            "table": None,
        }
    response = wh.get("response") if isinstance(wh.get("response"), dict) else {}
    ok = wh.get("status") == 200 and response.get("status") in ("accepted", "duplicate")
    status = wh.get("status")
    detail = (
        f"HTTP {status or 'no answer'} {wh.get('code') or response.get('status', '')} for message "
        f"{settings['message_id']} on channel {settings['channel']}"
        + ("" if status else f": {_truncate(str(wh.get('msg') or ''), 160)}")
    )
    return _check(
        "webhook",
        ok,
        detail,
        match(wh.get("code") or ""),
        cause="the service did not accept a correctly signed webhook",
        fix="see the service and database checks",
    )


def _disk(df: list[str], settings: dict[str, Any]) -> dict[str, Any]:
    rows = [line.split() for line in df[1:] if len(line.split()) >= 6]
    low, seen, mounts = [], [], set()
    for r in rows:
        if r[5] in mounts:
            continue
        mounts.add(r[5])
        line = f"{r[5]} {int(r[3]) // 1024} MiB free ({r[4]} used)"
        seen.append(line)
        if int(r[3]) < int(settings["disk_min_free_mb"]) * 1024 or int(r[4].rstrip("%")) > int(
            settings["disk_max_used_pct"]
        ):
            low.append(line)
    if low:
        return _check(
            "disk",
            False,
            ", ".join(low),
            None,
            cause="too little free disk space",
            fix="free space (old releases are pruned by deploy, backups by backup_keep), or grow the filesystem",
        )
    if not rows:
        return _check("disk", False, "df gave nothing", cause="df could not be read")
    return _check("disk", True, ", ".join(seen))


def _outside(moment: float, before: float, after: float) -> float:
    """How far a host's clock reading lies outside the controller's window around the probe (0 inside it)."""
    return moment - before if moment < before else moment - after if moment > after else 0.0


def _clock(live: dict[str, Any], before: float, after: float, max_skew: float) -> tuple[dict[str, Any], dict]:
    # The host's clock against the controller's: its reading at the probe's answer must fall between the controller's
    # readings just before and just after the probe task; a loaded controller's delay is not skew. The service's
    # clock against the host's at the same moment (its Date header, whole seconds) adds to that.
    probed, served = live.get("probed_at"), live.get("server_time")
    host = round(_outside(float(probed), before, after), 1) if probed else None
    if served and probed:
        service = round((host or 0.0) + float(served) - float(probed), 1)
    else:
        service = round(_outside(float(served), before, after), 1) if served else None
    worst = max(abs(host or 0), abs(service or 0))
    detail = (
        f"host {host if host is not None else '?'} s, service "
        f"{service if service is not None else '? (no answer)'} s off the controller (tolerance {max_skew:g} s)"
    )
    return _check("clock", worst <= max_skew, detail, row("clock-drift")), {
        "host": host,
        "service": service,
    }


def judge(readings: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """{facts, checks} for one app host; secrets never enter the output."""
    unit = readings.get("unit") or {}
    env = readings.get("env") or {}
    http = readings.get("http") or {}
    link = readings.get("link") or ""
    version = link.rstrip("/").rsplit("/", 1)[-1] or None
    addr = env.get("AI_CS_ADDR") or f":{settings['app_port']}"
    port = int(addr.rsplit(":", 1)[-1])
    pid = int(unit.get("MainPID") or 0)
    container = readings.get("container")
    pids = {pid, int((container or {}).get("pid") or 0)}
    active = unit.get("ActiveState") == "active"
    errors, restarts = journal_errors(readings.get("journal") or [], unit)

    database, db_hit = _database(readings.get("db"))
    after = float(readings["controller_time"])
    before = float(readings.get("controller_time_before", after))
    clock, skew = _clock(http.get("/live") or {}, before, after, float(settings["max_skew"]))
    checks = [
        _service(unit, version, http, errors, settings["service_name"], container=container),
        _config(env, settings),
        _port(port, pids, active, readings.get("ss") or []),
        database,
        *(
            _endpoint(path, http.get(path) or {}, settings["slow_ms"], db_hit)
            for path in ("/live", "/ready", "/actuator/health")
        ),
        _journal(errors, restarts, settings),
        _webhook(readings.get("webhook"), settings),
        _disk(readings.get("df") or [], settings),
        clock,
    ]
    body = (http.get("/actuator/health") or {}).get("body")
    return {
        "facts": {
            "version": version,
            "state": unit.get("ActiveState", "unknown"),
            "pid": pid,
            "restarts": unit.get("NRestarts"),
            "mode": "binary" if container is None else "image",
            "image": (container or {}).get("image"),
            "uptime_seconds": body.get("uptime_seconds") if isinstance(body, dict) else None,
            "latency_ms": {path: (ep or {}).get("latency_ms") for path, ep in http.items()},
            "clock_skew_seconds": skew,
        },
        "checks": checks,
    }
