"""The monitoring role's templates rendered for tests, as the role renders them."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml
from ansible.plugins.filter.core import FilterModule

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "monitoring"


def role_defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def render(template: str, **overrides) -> str:
    """A role template as the role renders it: Ansible's {{ }} for the .j2 files, [[ ]] for the rules (whose {{ }}
    are Prometheus' own templates), with Ansible's core filters (regex_replace)."""
    variables = {**role_defaults(), **overrides}
    markers = {"variable_start_string": "[[", "variable_end_string": "]]"} if template.endswith(".rules.yml.j2") else {}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, **markers)  # noqa: S701
    env.filters.update(FilterModule().filters())
    return env.from_string((ROLE / "templates" / template).read_text()).render(**variables)
