"""inventories/production.example gives every role site.yml runs what its argument spec requires, on the group the
role runs on: a copy of the example, filled in, passes site.yml's spec checks (one rule per test)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "production.example"
# A role site.yml includes only where a setting asks for it, and that setting read from the example's variables.
GATED = {"registry": lambda v: v.get("ai_cs_registry_provision", v.get("ai_cs_deploy_mode") == "image")}


def plays(playbook: Path) -> list[dict]:
    """The plays of a playbook, those of the playbooks it imports in their place."""
    found = []
    for play in yaml.safe_load(playbook.read_text()):
        if imported := play.get("ansible.builtin.import_playbook"):
            found += plays(playbook.parent / imported)
        else:
            found.append(play)
    return found


def applied(play: dict) -> list[tuple[str, str]]:
    """(role, entry point) that a play applies: its roles, and the roles its tasks include or import."""
    found = [(r["role"] if isinstance(r, dict) else r, "main") for r in play.get("roles", [])]
    for task in play.get("tasks", []):
        call = task.get("ansible.builtin.include_role") or task.get("ansible.builtin.import_role")
        if call:
            found.append((call["name"], call.get("tasks_from", "main")))
    return found


def example_vars(group: str) -> dict:
    """The example's variables for a host of group: hosts.yml's all.vars, group_vars/all/*.yml, group_vars/<group>."""
    found = dict(yaml.safe_load((EXAMPLE / "hosts.yml").read_text())["all"].get("vars", {}))
    for path in [*sorted((EXAMPLE / "group_vars" / "all").glob("*.yml")), EXAMPLE / "group_vars" / f"{group}.yml"]:
        if path.exists():
            found.update(yaml.safe_load(path.read_text()) or {})
    return found


def required(role: str, entry: str) -> list[str]:
    spec = ROOT / "roles" / role / "meta" / "argument_specs.yml"
    options = yaml.safe_load(spec.read_text())["argument_specs"][entry].get("options") or {}
    return sorted(name for name, option in options.items() if option.get("required"))


SITE = [
    (play["hosts"], role, entry) for play in plays(ROOT / "playbooks" / "site.yml") for role, entry in applied(play)
]


def test_site_applies_the_roles_a_fleet_needs():
    assert {role for _, role, _ in SITE} >= {
        "postgresql", "artifact_server", "registry", "loadbalancer", "release", "exporters", "monitoring",
        "self_heal", "diagnose_schedule",
    }  # fmt: skip


@pytest.mark.parametrize(("group", "role", "entry"), SITE, ids=[f"{g}-{r}-{e}" for g, r, e in SITE])
def test_the_example_gives_each_role_what_its_spec_requires(group, role, entry):
    variables = example_vars(group)
    if role in GATED and not GATED[role](variables):
        pytest.skip(f"the example does not run {role} (site.yml includes it only where it is asked for)")
    assert [name for name in required(role, entry) if name not in variables] == []


def test_the_registry_is_included_only_where_asked_for():
    (task,) = [
        t for play in plays(ROOT / "playbooks" / "site.yml") for t in play.get("tasks", [])
        if (t.get("ansible.builtin.include_role") or {}).get("name") == "registry"
    ]  # fmt: skip
    assert "ai_cs_registry_provision" in task["when"] and "ai_cs_deploy_mode" in task["when"]
    assert not GATED["registry"](example_vars("artifacts")), "the example deploys binaries: no registry of its own"
    assert GATED["registry"]({**example_vars("artifacts"), "ai_cs_deploy_mode": "image"})
