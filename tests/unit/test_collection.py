"""The collection ai_cs.ops is the project's own sources: its links, its version, and the copy the tests import."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import yaml

from conftest import COLLECTION, COLLECTIONS

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "collections" / "ansible_collections" / "ai_cs" / "ops"
LINKS = {
    "plugins/modules": "library",
    "plugins/module_utils": "module_utils",
    "plugins/action": "action_plugins",
    "plugins/filter": "filter_plugins",
    "plugins/callback": "callback_plugins",
    "roles": "roles",
    "LICENSE": "LICENSE",
}


def test_each_part_of_the_collection_is_a_link_to_the_project_directory():
    for part, project in LINKS.items():
        assert (SOURCE / part).is_symlink(), part
        assert (SOURCE / part).resolve() == ROOT / project, part


def test_the_version_is_the_changelogs_latest_release():
    galaxy = yaml.safe_load((SOURCE / "galaxy.yml").read_text())
    releases = yaml.safe_load((SOURCE / "changelogs" / "changelog.yaml").read_text())["releases"]
    latest = max(releases, key=lambda v: tuple(int(p) for p in v.split(".")))
    assert (galaxy["namespace"], galaxy["name"], galaxy["version"]) == ("ai_cs", "ops", latest)


def test_no_module_is_newer_than_the_collection():
    galaxy = yaml.safe_load((SOURCE / "galaxy.yml").read_text())
    version = tuple(int(p) for p in galaxy["version"].split("."))
    for module in (ROOT / "library").glob("*.py"):
        doc = yaml.safe_load(module.read_text().split('DOCUMENTATION = r"""')[1].split('"""')[0])
        assert tuple(int(p) for p in doc["version_added"].split(".")) <= version, module.name


def test_the_tests_import_the_collection_they_were_pointed_at():
    """AI_CS_COLLECTIONS (make collection's installed copy) or the sources: what each test imports is that copy."""
    expected = (
        Path(os.environ["AI_CS_COLLECTIONS"]).resolve() if os.environ.get("AI_CS_COLLECTIONS") else ROOT / "collections"
    )
    assert expected == COLLECTIONS
    for name in ("plugins.module_utils.ai_cs_plan", "plugins.filter.ai_cs", "plugins.callback.ai_cs_progress"):
        module = importlib.import_module(f"ansible_collections.ai_cs.ops.{name}")
        assert Path(module.__file__).is_relative_to(COLLECTION), module.__file__
        source = ROOT / dict(LINKS)[f"plugins/{name.split('.')[1]}"] / Path(module.__file__).name
        assert Path(module.__file__).read_bytes() == source.read_bytes(), "the copy is not the sources"
