#!/usr/bin/python3
"""The liveness watchdog of ai-customer-service on a systemd host: what Kubernetes' liveness probe does for a pod.

systemd restarts a process that exits (the unit's Restart=on-failure, within its start limit); nothing restarts one
that is alive but stuck. This watchdog probes GET /live with the inventory's liveness settings (ai_cs_probes) and,
after FAILURE_THRESHOLD answers missed in a row, kills the process with SIGKILL so that systemd starts it again
(a stuck process ignores SIGTERM, and the restart counts toward the start limit, so a release that hangs at every
start ends as a crash loop that alerts, not as an endless heal). It probes only a unit that is active and past its
start budget (STARTUP_SECONDS), so a deploy's stop and start is never mistaken for a hang, and a database outage,
which does not touch /live, never restarts anything.

Every heal is recorded: a journal line, a line in the host's history (history.jsonl, operation "heal"), and the
counter ai_cs_heals_total{reason="hung"|"crashed"} in the textfile node_exporter publishes; restarts systemd made on
its own (a crash) are counted as reason "crashed", and a unit systemd gave up on (start limit) sets
ai_cs_unit_failed 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

UNIT = os.environ.get("UNIT", "ai-customer-service")
URL = os.environ.get("URL", "http://127.0.0.1:8080/live")
PERIOD = float(os.environ.get("PERIOD_SECONDS", "10"))
TIMEOUT = float(os.environ.get("TIMEOUT_SECONDS", "2"))
THRESHOLD = int(os.environ.get("FAILURE_THRESHOLD", "3"))
STARTUP = float(os.environ.get("STARTUP_SECONDS", "30"))
HISTORY = os.environ.get("HISTORY", "/var/lib/ai-customer-service/history.jsonl")
TEXTFILE = os.environ.get("TEXTFILE", "/var/lib/node_exporter/textfile_collector/ai_cs_heals.prom")
STATE = os.environ.get("STATE", "/var/lib/ai-cs-liveness/state.json")

STOPPING = threading.Event()  # set by SIGTERM (systemctl stop): the loop ends after its current look


def say(text: str) -> None:
    print(text, flush=True)  # stdout is the journal (SyslogIdentifier=ai-cs-liveness)


def unit() -> dict[str, str]:
    props = "ActiveState,SubState,Result,MainPID,NRestarts,ActiveEnterTimestampMonotonic"
    out = subprocess.run(["systemctl", "show", "-p", props, UNIT], capture_output=True, text=True, check=False)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def live() -> str | None:
    """None when /live answered 200 in time, else what happened instead."""
    try:
        with urllib.request.urlopen(URL, timeout=TIMEOUT) as answer:  # noqa: S310 - a fixed http URL
            return None if answer.status == 200 else f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"no answer within {TIMEOUT:g}s" if "timed out" in str(reason) else str(reason)


def load() -> dict:
    try:
        with open(STATE, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"heals": {"hung": 0, "crashed": 0}, "restarts_seen": 0}


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def record(state: dict, reason: str, detail: str, **extra: object) -> None:
    state["heals"][reason] = state["heals"].get(reason, 0) + 1
    line = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "operation": "heal",
        "result": "healed",
        "reason": reason,
        "detail": detail,
        **extra,
    }
    with open(HISTORY, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    say(f"heal ({reason}): {detail}")


def publish(state: dict, failed: bool) -> None:
    lines = [
        "# HELP ai_cs_heals_total Restarts of ai-customer-service made by self-healing, by reason.",
        "# TYPE ai_cs_heals_total counter",
        *(f'ai_cs_heals_total{{reason="{r}"}} {n}' for r, n in sorted(state["heals"].items())),
        "# HELP ai_cs_unit_failed 1 when systemd gave up restarting the service (start limit hit).",
        "# TYPE ai_cs_unit_failed gauge",
        f"ai_cs_unit_failed {1 if failed else 0}",
    ]
    write_atomic(TEXTFILE, "\n".join(lines) + "\n")


def stop(*_: object) -> None:
    STOPPING.set()


def main() -> int:
    signal.signal(signal.SIGTERM, stop)
    state = load()
    missed: list[str] = []
    killed = 0  # restarts this watchdog caused, not to be counted again as crashes
    gave_up = False
    say(f"watching {UNIT}: {URL} every {PERIOD:g}s, timeout {TIMEOUT:g}s, restart after {THRESHOLD} missed")
    while not STOPPING.is_set():
        began = time.monotonic()
        u = unit()
        restarts = int(u.get("NRestarts") or 0)
        if restarts < state["restarts_seen"]:  # a start by hand or by a deploy resets systemd's count
            state["restarts_seen"] = restarts
        elif restarts > state["restarts_seen"]:
            new = restarts - state["restarts_seen"]
            ours = min(killed, new)
            for _restart in range(new - ours):
                record(state, "crashed", f"the process exited unexpectedly; systemd restarted it ({restarts} so far)")
            killed -= ours
            state["restarts_seen"] = restarts
        # failed is where systemd leaves a unit it stopped restarting (Restart=on-failure restarts any other exit;
        # a stop by hand or by a deploy is inactive); systemd 252 keeps the last exit's Result, not start-limit-hit
        failed = u.get("ActiveState") == "failed"
        if failed and not gave_up:
            say(f"{UNIT} hit its start limit: systemd stopped restarting it (crash loop); not healing it further")
        gave_up = failed
        since = (time.monotonic() * 1e6 - int(u.get("ActiveEnterTimestampMonotonic") or 0)) / 1e6
        if u.get("ActiveState") == "active" and u.get("SubState") == "running" and since >= STARTUP:
            problem = live()
            missed = [*missed, problem] if problem else []
            if len(missed) >= THRESHOLD:
                pid = u.get("MainPID", "0")
                detail = (
                    f"/live missed {len(missed)} times in a row ({missed[-1]}), every {PERIOD:g}s: process "
                    f"{pid} alive but not answering; killed (SIGKILL) for systemd to start it again"
                )
                subprocess.run(["systemctl", "kill", "--kill-who=main", "--signal=SIGKILL", UNIT], check=False)
                killed += 1
                record(state, "hung", detail, pid=int(pid))
                missed = []
        else:
            missed = []
        publish(state, failed)
        write_atomic(STATE, json.dumps(state))
        STOPPING.wait(max(0.0, PERIOD - (time.monotonic() - began)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
