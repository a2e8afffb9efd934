"""Role interfaces hold: defaults and argument_specs agree in both directions, required means not defaulted, every
variable carries its role's prefix, and playbooks never read a role's internals. Reports every finding at once.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
ROLE_NAMES = {p.name for p in ROLES}
JINJA_INTERNAL = re.compile(r"\b(__[a-z][a-z0-9_]*)")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def load(path: Path) -> object:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def specs(role: Path) -> dict[str, dict]:
    return (load(role / "meta" / "argument_specs.yml") or {}).get("argument_specs", {})


def defaults(role: Path) -> dict:
    return load(role / "defaults" / "main.yml") or {}


def tasks(role: Path):
    """Every task dict in the role's task files, blocks flattened."""

    def walk(items):
        for item in items or []:
            if isinstance(item, dict):
                yield item
                for key in ("block", "rescue", "always"):
                    yield from walk(item.get(key))

    for path in sorted((role / "tasks").glob("*.yml")):
        yield from ((path, task) for task in walk(load(path)))


def interface_findings(role: Path) -> list[str]:
    name, found = role.name, []
    entry_points = specs(role)
    defaulted = defaults(role)
    options: dict[str, list[tuple[str, dict]]] = {}
    for entry, spec in entry_points.items():
        for option, meta in (spec.get("options") or {}).items():
            options.setdefault(option, []).append((entry, meta or {}))
    for key in defaulted:
        if key not in options:
            found.append(f"{name}: defaults/main.yml has {key}, which no entry point of argument_specs lists")
    for option, uses in options.items():
        for entry, meta in uses:
            if meta.get("required") and option in defaulted:
                found.append(f"{name}: {option} is required in '{entry}' yet defaulted in defaults/main.yml")
            if meta.get("required") and "default" in meta:
                found.append(f"{name}: {option} is required in '{entry}' yet has a default in argument_specs")
            if not meta.get("required") and option not in defaulted:
                found.append(f"{name}: {option} (entry point '{entry}') is optional but missing from defaults/main.yml")
            if "default" in meta and option in defaulted and meta["default"] != defaulted[option]:
                found.append(
                    f"{name}: {option} defaults to {meta['default']!r} in '{entry}' but {defaulted[option]!r} in "
                    "defaults/main.yml"
                )
    for variable in [*defaulted, *options]:
        if not variable.startswith(f"{name}_"):
            found.append(f"{name}: input {variable} lacks the role's prefix {name}_")
    return found


def naming_findings(role: Path) -> list[str]:
    """Registers, facts and task-level vars: __<role>_ (internal), <role>_ (published) or another role's input."""
    name, found = role.name, []
    allowed = (f"__{name}_", f"{name}_", "ansible_", *(f"{other}_" for other in ROLE_NAMES if other != name))
    for path, task in tasks(role):
        where = f"{rel(path)} '{task.get('name', '?')}'"
        register = task.get("register")
        if register and not register.startswith((f"__{name}_", f"{name}_")):
            found.append(f"{where}: register {register} lacks the prefix __{name}_ (or {name}_ for an output)")
        for key in task.get("ansible.builtin.set_fact") or {}:
            if key != "cacheable" and not key.startswith((f"__{name}_", f"{name}_")):
                found.append(f"{where}: fact {key} lacks the prefix __{name}_ (or {name}_ for an output)")
        for key in task.get("vars") or {}:
            if not key.startswith(allowed):
                found.append(f"{where}: var {key} is neither this role's nor another role's input")
        loop_var = (task.get("loop_control") or {}).get("loop_var")
        if loop_var and not loop_var.startswith(f"__{name}_"):
            found.append(f"{where}: loop_var {loop_var} lacks the prefix __{name}_")
    for path in (role / "vars").glob("*.yml"):
        for key in load(path) or {}:
            if not key.startswith(f"__{name}_"):
                found.append(f"{rel(path)}: {key} lacks the internal prefix __{name}_")
    return found


def comment_findings(role: Path) -> list[str]:
    """Every input in defaults/main.yml sits under a comment (a run of keys may share one)."""
    path = role / "defaults" / "main.yml"
    if not path.is_file():
        return []
    found, state = [], "none"  # what the last top-level line was: comment, key, or none (blank / start)
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            state = "comment"
        elif re.match(r"^[a-z_][a-z0-9_]*:", line):
            if state not in ("comment", "key"):
                found.append(f"{rel(path)}: {line.split(':')[0]} has no comment above it")
            state = "key"
        elif not line.strip() or line == "---":
            state = "none"
    return found


def playbook_findings() -> list[str]:
    found = []
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        for internal in sorted(set(JINJA_INTERNAL.findall(path.read_text()))):
            found.append(f"{rel(path)} reads {internal}, a role internal (__ names are not an interface)")
    return found


def all_findings() -> list[str]:
    found = playbook_findings()
    for role in ROLES:
        found += interface_findings(role) + naming_findings(role) + comment_findings(role)
    return found


def test_role_interfaces_hold_with_zero_findings():
    found = all_findings()
    print(f"\ninterfaces: {len(ROLES)} roles, {len(found)} findings")
    assert found == [], "\n".join(found)


def test_the_checker_finds_what_it_guards(tmp_path):
    """A role with each kind of mistake gives one finding per mistake."""
    role = tmp_path / "roles" / "demo"
    for folder in ("defaults", "meta", "tasks"):
        (role / folder).mkdir(parents=True)
    (role / "defaults" / "main.yml").write_text(
        "---\n# documented\ndemo_a: 1\ndemo_req: x\n\nstray: 2\n",
    )
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      demo_a: {type: int, default: 2}\n"
        "      demo_req: {type: str, required: true}\n      demo_b: {type: str}\n",
    )
    (role / "tasks" / "main.yml").write_text(
        "- name: X\n  ansible.builtin.set_fact:\n    loose: 1\n  register: r\n",
    )
    found = interface_findings(role) + naming_findings(role) + comment_findings(role)
    expected = [
        "defaults/main.yml has stray",
        "demo_req is required in 'main' yet defaulted",
        "demo_b (entry point 'main') is optional but missing",
        "demo_a defaults to 2 in 'main' but 1",
        "input stray lacks the role's prefix",
        "register r lacks the prefix",
        "fact loose lacks the prefix",
        "stray has no comment above it",
    ]
    for text in expected:
        assert any(text in f for f in found), (text, found)
    assert len(found) == len(expected), found


# Roles without a Molecule scenario of their own, and the README's reason: lab creates podman containers on the
# controller, which a scenario's container cannot host (tests/lab and every e2e suite stand in for it).
WITHOUT_SCENARIO = {"lab"}


def test_every_role_has_its_molecule_scenario_but_the_ones_the_readme_names():
    roles = {p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()}
    missing = sorted(r for r in roles - WITHOUT_SCENARIO if not (ROOT / "molecule" / r / "molecule.yml").is_file())
    assert missing == [], f"roles without molecule/<role>/molecule.yml: {missing}"
    readme = (ROOT / "README.md").read_text()
    assert all(f"but `{r}`" in readme for r in WITHOUT_SCENARIO), "the README names each exception and why"
