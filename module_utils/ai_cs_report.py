# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run's summary as data (JSON, for CI logs and tools) and as Markdown (for chat), from what the pipeline's steps
published: the run, the request, each host's serving release, target and switch, and the database's part. The
plain-text summary the run prints (roles/pipeline/templates/summary.j2) is carried as it is, rendered once.

Only these named fields are copied: a host's facts hold its secrets (the settings it was staged with), and a report
must never carry one.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA = 1  # the JSON document's version: a field's meaning changes only with it


def host_outcome(host: dict[str, Any]) -> str:
    """What became of one app host: switched (verified on the target), unchanged (nothing to do), rolled_back (went
    back to what it served after its verification failed), failed (left as the switch failed), not_reached (the run
    stopped before its batch)."""
    result = (host.get("pipeline_switch") or {}).get("result")
    if result == "success":
        return "switched" if host.get("pipeline_needed") else "unchanged"
    if result in ("rolled_back", "failed"):
        return str(result)
    if host.get("pipeline_needed") is False:
        return "unchanged"
    return "not_reached"


def run_report(
    run: dict[str, Any],
    request: dict[str, Any],
    hosts: dict[str, dict[str, Any]],
    database: dict[str, Any],
    text: str,
    *,
    failure: str = "",
) -> dict[str, Any]:
    """The run as one JSON document. hosts: each app host's facts (only named ones are read); database: the
    controller's facts of the run (pipeline_backup, pipeline_migration, pipeline_restored, pipeline_schema_version,
    pipeline_marks); failure: the stop's message when the run failed."""
    rows = {}
    for name, facts in sorted(hosts.items()):
        switch = facts.get("pipeline_switch") or {}
        outcome = host_outcome(facts)
        if run.get("check_mode") and outcome == "not_reached":
            outcome = "would_change"  # the plan: nothing was switched, by design
        rows[name] = {
            "from": (facts.get("pipeline_from") or {}).get("version"),
            "target": facts.get("pipeline_target"),
            "outcome": outcome,
            "switch_seconds": switch.get("seconds"),
            "failed_step": switch.get("failed_step"),
        }
    backup = database.get("pipeline_backup") or None
    migration = database.get("pipeline_migration") or {}
    restored = database.get("pipeline_restored") or None
    marks = database.get("pipeline_marks") or {}
    return {
        "schema": SCHEMA,
        "run_id": run.get("run_id"),
        "operation": run.get("operation"),
        "version": run.get("version"),
        "who": run.get("who"),
        "since": run.get("since"),
        "check_mode": bool(run.get("check_mode")),
        "options": {k: request[k] for k in sorted(request) if k != "confirm"},  # the typed confirmation stays out
        "result": "failed" if failure else "success",
        "failure": failure or None,
        "hosts": rows,
        "backup": {k: backup.get(k) for k in ("host", "file", "sha256", "size")} if backup else None,
        "backup_failed": database.get("pipeline_backup_failed"),
        "migrations": [m.get("file") for m in migration.get("applied") or []],
        "schema_version": database.get("pipeline_schema_version"),
        "restored": restored.get("file") if isinstance(restored, dict) else None,
        "marks": {k: float(v) for k, v in marks.items()},
        "summary": text,
    }


def report_markdown(report: dict[str, Any]) -> str:
    """The run for a chat message or a CI job's page: a headline, a table of the hosts, the summary as printed."""
    mark = "✅" if report["result"] == "success" else "❌"
    what = "PLAN (check mode) for " if report["check_mode"] else ""
    lines = [
        f"### {mark} {what}{report['operation']} {report['version'] or ''}: {report['result']}".rstrip(),
        "",
        f"run `{report['run_id']}` by {report['who']}, since {report['since']}",
        "",
    ]
    if report["failure"]:
        lines += [f"> {report['failure']}", ""]
    lines += ["| host | from | target | outcome | switch (s) |", "|---|---|---|---|---|"]
    for name, row in report["hosts"].items():
        seconds = "" if row["switch_seconds"] is None else f"{row['switch_seconds']}"
        lines.append(f"| {name} | {row['from'] or ''} | {row['target'] or ''} | {row['outcome']} | {seconds} |")
    lines += ["", "```text", report["summary"].rstrip(), "```", ""]
    return "\n".join(lines)


def report_files(report: dict[str, Any]) -> list[dict[str, str]]:
    """The files a run's report is written as, each rendered once: <run id>.json and .md, and latest.json / latest.md
    with the same text."""
    text = {
        "json": json.dumps(report, indent=4, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n",
        "md": report_markdown(report),
    }
    return [{"name": f"{stem}.{kind}", "content": text[kind]} for stem in (report["run_id"], "latest") for kind in text]
