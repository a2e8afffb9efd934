# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the playbooks and roles: the runbook judge, the service's env file, artifact and migration names,
a registry's auth file, the merged options of role entry points, a run's report (JSON, Markdown), what keeps a
host from being provisioned.

Each act lives once, in module_utils/ (shared with the modules that run on hosts); these filters only expose it
to templates on the controller.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import ansible.module_utils
import yaml
from ansible.errors import AnsibleFilterError

_MODULE_UTILS = Path(__file__).resolve().parent.parent / "module_utils"


def _load(name: str) -> Any:
    """module_utils/<name>.py as ansible.module_utils.<name>, the name the modules import it by on hosts."""
    full = f"ansible.module_utils.{name}"
    if full not in sys.modules:
        spec = importlib.util.spec_from_file_location(full, _MODULE_UTILS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        setattr(ansible.module_utils, name, module)
    return sys.modules[full]


_runbook = _load("ai_cs_runbook")
_diagnose = _load("ai_cs_diagnose")
_migrate = _load("ai_cs_migrate")
_dsn = _load("ai_cs_dsn")
for _dependency in ("ai_cs_http", "ai_cs_health", "ai_cs_webhook"):  # what ai_cs_release imports, in order
    _load(_dependency)
_release = _load("ai_cs_release")
_report = _load("ai_cs_report")
_host = _load("ai_cs_host")


def runbook(text: Any) -> dict[str, Any]:
    """The runbook row whose symptom is in text ({} when none): id, table, symptom, cause, fix, severity."""
    hit = _runbook.match(None if text is None else str(text))
    return hit.as_dict() if hit else {}


def runbook_row(row_id: str) -> dict[str, Any]:
    return _runbook.row(row_id).as_dict()


def explain(text: Any, cause: str | None = None, fix: str | None = None) -> str:
    return _runbook.explain(None if text is None else str(text), cause, fix)


def diagnose(readings: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    return _diagnose.judge(readings, settings)


_ARTIFACT = "ai-customer-service-{version}-linux-amd64.tar.gz"
_ARTIFACT_RE = re.compile(r"^\S+\s+\*?" + re.escape(_ARTIFACT).replace(r"\{version\}", r"(\S+)") + "$")


def artifact_name(version: str) -> str:
    """The release artifact's file name, as service/build.py publishes it beside SHA256SUMS."""
    return _ARTIFACT.format(version=version)


def artifact_versions(sums: list[str] | str) -> list[str]:
    """The versions a SHA256SUMS file (its text or its lines) lists artifacts of, in its order."""
    lines = sums.splitlines() if isinstance(sums, str) else sums
    return [found[1] for found in map(_ARTIFACT_RE.match, lines or []) if found]


def migration_versions(paths: list[str]) -> list[int]:
    """Sorted unique versions of migration files (NNNN_name.up.sql / .down.sql), by module_utils' own rule."""
    versions = set()
    for path in paths or []:
        found = _migrate.FILE_RE.match(Path(str(path)).name)
        if found:
            versions.add(int(found["version"]))
    return sorted(versions)


def role_options(steps: list[str], roles_dir: str) -> dict[str, Any]:
    """The options of several role entry points ("role entry", e.g. "release swap"), merged into one argument spec.

    For one validate_argument_spec call that checks, once, what a run's later steps will take. An option two entry
    points share must have one definition (the same anchor in the role's meta/argument_specs.yml); two different
    ones, or an entry point with no spec, is an error rather than a check that silently covers less.
    """
    merged: dict[str, Any] = {}
    for step in steps:
        role, _sep, entry = str(step).partition(" ")
        path = Path(roles_dir) / role / "meta" / "argument_specs.yml"
        try:
            specs = yaml.safe_load(path.read_text(encoding="utf-8"))["argument_specs"]
            options = specs[entry].get("options") or {}
        except (OSError, KeyError, TypeError, yaml.YAMLError) as e:
            raise AnsibleFilterError(f"ai_cs_role_options: no argument spec for {step!r} in {path}: {e}") from e
        for name, spec in options.items():
            if merged.setdefault(name, spec) != spec:
                raise AnsibleFilterError(f"ai_cs_role_options: {name} is specified two ways ({step!r} and before)")
    return merged


def registry_auth(registry: str, user: str, password: str) -> str:
    """The credentials podman and skopeo read with --authfile (containers-auth.json) for one registry."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"auth": token}}}, indent=2) + "\n"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "ai_cs_runbook": runbook,
            "ai_cs_runbook_row": runbook_row,
            "ai_cs_explain": explain,
            "ai_cs_diagnose": diagnose,
            "ai_cs_diagnose_secret_problem": _diagnose.webhook_secret_problem,
            "ai_cs_env": _release.parse_env,
            "ai_cs_artifact": artifact_name,
            "ai_cs_artifact_versions": artifact_versions,
            "ai_cs_migration_versions": migration_versions,
            "ai_cs_dsn": _dsn.build,
            "ai_cs_dsn_parse": _dsn.parse,
            "ai_cs_registry_auth": registry_auth,
            "ai_cs_image_digests": _release.Image.digests,
            "ai_cs_role_options": role_options,
            "ai_cs_run_report": _report.run_report,
            "ai_cs_run_report_files": _report.report_files,
            "ai_cs_host_problems": _host.problems,
        }
