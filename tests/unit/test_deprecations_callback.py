"""callback_plugins/ai_cs_deprecations.py: deprecations are shown, but for the ones the project has named."""

from __future__ import annotations

import configparser
import importlib.util
import uuid
from pathlib import Path

import pytest
from ansible.utils.display import Display

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = (
    "Use of strategy plugins not included in ansible.builtin are deprecated and do not carry any backwards "
    "compatibility guarantees."
)


@pytest.fixture(scope="module")
def plugin():
    spec = importlib.util.spec_from_file_location("ai_cs_deprecations", ROOT / "callback_plugins/ai_cs_deprecations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.CallbackModule()  # what ansible does when it loads the enabled callbacks
    return module


def test_deprecations_are_on_with_the_callback_enabled():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert cfg["defaults"].getboolean("deprecation_warnings") is True
    assert "ai_cs_deprecations" in [name.strip() for name in cfg["defaults"]["callbacks_enabled"].split(",")]


def test_a_named_deprecation_is_left_out(plugin, monkeypatch, capfd):
    monkeypatch.setenv("ANSIBLE_DEPRECATION_WARNINGS", "true")
    Display().deprecated(msg=f"{STRATEGY} {uuid.uuid4()}")
    assert "DEPRECATION" not in capfd.readouterr().err


def test_any_other_deprecation_is_shown(plugin, monkeypatch, capfd):
    monkeypatch.setenv("ANSIBLE_DEPRECATION_WARNINGS", "true")
    Display().deprecated(msg=f"The frobnicate option is deprecated {uuid.uuid4()}", version="2.99")
    assert "[DEPRECATION WARNING]: The frobnicate option is deprecated" in capfd.readouterr().err
