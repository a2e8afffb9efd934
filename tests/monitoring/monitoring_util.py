"""The monitoring role's templates rendered for tests, as the role renders them."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "monitoring"


def role_defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def render(template: str, **overrides) -> str:
    """A role template as the role renders it: Ansible's {{ }} for the .j2 files, [[ ]] for the rules (whose {{ }}
    are Prometheus' own templates). Only plain variables are used in them, so jinja2 alone renders them alike."""
    variables = {**role_defaults(), **overrides}
    markers = {"variable_start_string": "[[", "variable_end_string": "]]"} if template.endswith(".rules.yml.j2") else {}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, **markers)  # noqa: S701
    return env.from_string((ROLE / "templates" / template).read_text()).render(**variables)
