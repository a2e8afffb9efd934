"""Check that the installed Ansible collections satisfy requirements.yml.

Galaxy is unreachable on the lab machines, so collections come with the pinned `ansible`
package; this fails with the fix when one is missing or outside the required range.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version


def installed_collections() -> dict[str, str]:
    # the .venv's own ansible-galaxy; in an execution environment, the one on PATH (pip's scripts directory)
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    out = subprocess.run(
        [str(galaxy) if galaxy.exists() else "ansible-galaxy", "collection", "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, str] = {}
    # Earlier paths take precedence, as they do for ansible itself.
    for collections in reversed(list(json.loads(out).values())):
        for name, info in collections.items():
            found[name] = info["version"]
    return found


def main(requirements: str) -> int:
    wanted = yaml.safe_load(Path(requirements).read_text())["collections"]
    have = installed_collections()
    problems = []
    for item in wanted:
        name, spec = item["name"], SpecifierSet(item.get("version", ">=0"))
        version = have.get(name)
        if version is None:
            problems.append(f"{name}: not installed, {spec} required")
        elif Version(version) not in spec:
            problems.append(f"{name}: {version} installed, {spec} required")
    if problems:
        print("setup: ERROR: collections do not satisfy requirements.yml:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "  cause: the pinned ansible package bundles other collection versions than requirements.yml asks for;\n"
            "  fix: align requirements.yml with requirements.txt's ansible pin, or where Galaxy is reachable run\n"
            "       .venv/bin/ansible-galaxy collection install -r requirements.yml",
            file=sys.stderr,
        )
        return 1
    print(f"setup: collections satisfy requirements.yml ({len(wanted)} checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
