"""callback_plugins/ai_cs_prefork.py: the controller loads the Jinja filters and tests once, before any fork."""

from __future__ import annotations

import configparser
import importlib.util
from pathlib import Path

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader, test_loader

ROOT = Path(__file__).resolve().parents[2]


class _Playbook:
    def get_loader(self) -> DataLoader:
        return DataLoader()


def test_it_is_enabled_where_the_playbooks_run():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert "ai_cs_prefork" in [name.strip() for name in cfg["defaults"]["callbacks_enabled"].split(",")]
    assert (ROOT / cfg["defaults"]["callback_plugins"] / "ai_cs_prefork.py").is_file()


def test_the_playbook_start_leaves_the_filters_and_tests_loaded_for_the_workers():
    spec = importlib.util.spec_from_file_location("ai_cs_prefork", ROOT / "callback_plugins/ai_cs_prefork.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    for loader in (filter_loader, test_loader):
        loader._cached_non_collection_wrappers.clear()  # as in a controller that has not templated yet
    plugin.CallbackModule().v2_playbook_on_start(_Playbook())
    assert "to_json" in filter_loader._cached_non_collection_wrappers
    assert "ansible.builtin.truthy" in test_loader._cached_non_collection_wrappers
