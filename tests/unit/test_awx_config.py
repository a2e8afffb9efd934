"""awx/controller.yml and its surveys, checked offline (no controller is reachable here): every awx.awx task's
arguments, templated as ansible would template them, pass that module's own argument_spec (the module runs up to
its first request to the controller, which is stopped); the surveys follow the controller's survey_spec schema and
ask for exactly the variables the playbooks read."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from unittest import mock

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar

ROOT = Path(__file__).resolve().parents[2]
AWX = ROOT / "awx"
SECRET = "s3cr/+=@%et"
# The controller's survey question types and what each allows (API docs, Job Templates: survey_spec).
TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
QUESTION_KEYS = {
    "question_name",
    "question_description",
    "variable",
    "type",
    "required",
    "min",
    "max",
    "default",
    "choices",
    "new_question",
}


class RequestedError(Exception):
    """The module got past its argument validation and asked the controller for something."""


@pytest.fixture(scope="module", autouse=True)
def _plugins():
    init_plugin_loader()


def tasks(monkeypatch, tmp_path) -> list[tuple[str, str, dict, bool]]:
    """(task name, module, arguments, no_log) of every awx.awx task, templated with the play's vars and loop items."""
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")
    monkeypatch.setenv("AI_CS_AWX_SSH_KEY_FILE", str(key))
    monkeypatch.setenv("AI_CS_AWX_VAULT_PASSWORD", SECRET)
    loader = DataLoader()
    loader.set_basedir(str(AWX))
    play = loader.load_from_file(str(AWX / "controller.yml"), trusted_as_template=True)[0]
    variables = dict(play["vars"], awx_project_url="https://git.example.com/ai-customer-service.git")
    defaults = play["module_defaults"]["group/awx.awx.controller"]
    found = []
    for task in play["tasks"]:
        module = next((k for k in task if k.startswith("awx.awx.")), None)
        if module is None:
            continue
        items = Templar(loader=loader, variables=variables).template(task["loop"]) if "loop" in task else [None]
        for item in items:
            templar = Templar(loader=loader, variables=dict(variables, item=item))
            args = templar.template({**defaults, **task[module]})
            found.append((task["name"], module, json.loads(json.dumps(args)), task.get("no_log") is True))
    return found


def run_module(module: str, args: dict) -> str:
    """Runs the awx.awx module's main() with these arguments until its first request; returns how it ended."""
    name = module.rsplit(".", 1)[1]
    mod = importlib.import_module(f"ansible_collections.awx.awx.plugins.modules.{name}")
    api = importlib.import_module("ansible_collections.awx.awx.plugins.module_utils.controller_api")
    args = {**args, "controller_host": "https://127.0.0.1:1", "controller_oauthtoken": "token"}
    with (
        patch_module_args(args),
        mock.patch.object(api.ControllerAPIModule, "make_request", side_effect=RequestedError),
    ):
        try:
            mod.main()
        except RequestedError:
            return "validated"
        except SystemExit:
            return "exited"
    return "returned"


def test_every_task_passes_its_modules_argument_spec(monkeypatch, tmp_path, capsys):
    found = tasks(monkeypatch, tmp_path)
    modules = {module for _, module, _, _ in found}
    assert {
        "awx.awx.job_template",
        "awx.awx.schedule",
        "awx.awx.credential",
        "awx.awx.inventory_source",
        "awx.awx.execution_environment",
        "awx.awx.project",
    } <= modules
    for name, module, args, _ in found:
        ended = run_module(module, args)
        out = capsys.readouterr().out
        assert ended == "validated", f"{name} ({module}): {out[-2000:]}"


def test_a_wrong_argument_is_caught(monkeypatch, tmp_path, capsys):
    """The check above can fail: an argument the module does not have, or a value outside its choices."""
    _, module, args, _ = next(t for t in tasks(monkeypatch, tmp_path) if t[1] == "awx.awx.job_template")
    assert run_module(module, {**args, "surveys": True}) == "exited"
    assert "Unsupported parameters" in capsys.readouterr().out
    assert run_module(module, {**args, "job_type": "deploy"}) == "exited"
    assert "job_type" in capsys.readouterr().out


def test_job_templates_run_the_three_playbooks_with_both_credentials_and_diagnose_is_scheduled(monkeypatch, tmp_path):
    found = tasks(monkeypatch, tmp_path)
    templates = {args["name"]: args for _, module, args, _ in found if module == "awx.awx.job_template"}
    assert {t["playbook"] for t in templates.values()} == {
        f"playbooks/{p}.yml" for p in ("deploy", "rollback", "diagnose")
    }
    for args in templates.values():
        assert (ROOT / args["playbook"]).is_file()
        assert set(args["credentials"]) == {"ai-cs fleet ssh", "ai-cs vault"}
    assert "survey_spec" not in templates["ai-cs diagnose"]  # omitted, not empty
    schedule = next(args for _, module, args, _ in found if module == "awx.awx.schedule")
    assert schedule["unified_job_template"] == "ai-cs diagnose"
    assert re.search(r"RRULE:FREQ=MINUTELY;INTERVAL=\d+", schedule["rrule"])


def test_the_secrets_reach_the_controller_only_from_no_log_tasks(monkeypatch, tmp_path):
    carrying = [(name, no_log) for name, _, args, no_log in tasks(monkeypatch, tmp_path) if SECRET in json.dumps(args)]
    assert len(carrying) == 1 and all(no_log for _, no_log in carrying), carrying  # the vault credential
    key_tasks = [name for name, _, args, no_log in tasks(monkeypatch, tmp_path) if "PRIVATE KEY" in json.dumps(args)]
    assert key_tasks and all(no_log for name, _, _, no_log in tasks(monkeypatch, tmp_path) if name in key_tasks), (
        key_tasks
    )


def playbook_inputs(playbook: str) -> set[str]:
    """The extra vars a playbook reads: `NAME | default(` in its request step's vars."""
    return set(re.findall(r"\{\{ (\w+) \| default\(", (ROOT / "playbooks" / playbook).read_text()))


@pytest.mark.parametrize("survey,playbook", [("deploy", "deploy.yml"), ("rollback", "rollback.yml")])
def test_surveys_follow_the_controllers_schema_and_ask_what_the_playbook_reads(survey, playbook):
    spec = yaml.safe_load((AWX / "surveys" / f"{survey}.yml").read_text())
    assert set(spec) == {"name", "description", "spec"} and spec["name"] and isinstance(spec["spec"], list)
    variables = []
    for q in spec["spec"]:
        assert set(q) <= QUESTION_KEYS, set(q) - QUESTION_KEYS
        assert {"question_name", "variable", "type", "required"} <= set(q), q
        assert q["type"] in TYPES and isinstance(q["required"], bool), q
        assert re.fullmatch(r"[A-Za-z_]\w*", q["variable"]), q
        if q["type"] in {"multiplechoice", "multiselect"}:
            choices = q["choices"]
            assert isinstance(choices, list) and all(isinstance(c, str) for c in choices), q
            assert q["default"] in choices, q
        else:
            assert "choices" not in q, q
        if q["type"] in {"text", "textarea", "password"}:
            assert isinstance(q["min"], int) and isinstance(q["max"], int) and 0 <= q["min"] <= q["max"], q
            assert isinstance(q["default"], str) and (not q["default"] or q["min"] <= len(q["default"]) <= q["max"])
        variables.append(q["variable"])
    assert len(variables) == len(set(variables))
    assert set(variables) <= playbook_inputs(playbook), set(variables) - playbook_inputs(playbook)
    assert "version" in variables


def test_the_inventory_path_and_ssh_user_are_the_production_examples():
    """AWX syncs the inventory docs/production.md makes (a copy of inventories/production.example at inventories/prod)
    and logs in as its ansible_user."""
    play = yaml.safe_load((AWX / "controller.yml").read_text())[0]
    example = yaml.safe_load((ROOT / "inventories/production.example/hosts.yml").read_text())
    assert play["vars"]["awx_ssh_user"] == example["all"]["vars"]["ansible_user"]
    assert play["vars"]["awx_inventory_path"] == "inventories/prod/hosts.yml"
    assert "cp -r inventories/production.example inventories/prod" in (ROOT / "docs/production.md").read_text()
