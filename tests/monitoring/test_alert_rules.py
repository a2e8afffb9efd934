"""The alert rules under `promtool check rules` and `promtool test rules`: every alert fires in its case and stays
silent in the others (tests/promtool/cases.yml), with its annotations compared whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.ai_cs_runbook import ROWS
from monitoring_util import ROOT, render

CASES = yaml.safe_load((ROOT / "tests" / "promtool" / "cases.yml").read_text())
RUNBOOK_URL = "https://runbooks.test/ai-customer-service.md"


def rules() -> dict:
    return yaml.safe_load(render("ai-customer-service.rules.yml.j2", monitoring_runbook_url=RUNBOOK_URL))


def alerts() -> dict[str, dict]:
    return {r["alert"]: r for group in rules()["groups"] for r in group["rules"] if "alert" in r}


def records() -> dict[str, tuple[str, int]]:
    """Each recorded series: its group and its place in it."""
    return {r["record"]: (g["name"], i) for g in rules()["groups"] for i, r in enumerate(g["rules"]) if "record" in r}


def reads(expr: str) -> set[str]:
    return set(re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", expr))


def test_an_alert_reads_only_series_recorded_before_it_in_its_own_group():
    # rules of a group are evaluated in order: so the alert sees what was recorded at the same evaluation
    for group in rules()["groups"]:
        for i, rule in enumerate(group["rules"]):
            for name in reads(rule["expr"]):
                assert name in records(), (rule.get("alert") or rule.get("record"), name)
                assert records()[name][0] == group["name"] and records()[name][1] < i, (rule.get("alert"), name)


def test_every_recorded_series_is_read_by_an_alert_or_the_dashboard():
    dashboard = (ROOT / "monitoring" / "grafana" / "ai-customer-service.json").read_text()
    read = set().union(*(reads(r["expr"]) for g in rules()["groups"] for r in g["rules"]))
    assert [name for name in records() if name not in read and name not in dashboard] == []


def fill(template: str, labels: dict[str, str], value: str | None) -> str:
    """The annotation as Prometheus renders it for these labels and this value (only the forms the rules use)."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)
    if value is not None:
        text = re.sub(r"\{\{ \$value( \| \w+)? \}\}", value, text)
    assert "{{" not in text, f"a template form the test cannot fill: {text}"
    return text


def series(case: dict) -> list[dict]:
    for name, values in case["series"].items():
        assert isinstance(values, str), f"{name}: quote {values!r} (YAML reads 0x20 as the number 32)"
    return [{"series": name, "values": values} for name, values in case["series"].items()]


def promtool_tests() -> dict:
    tests = []
    for name, rule in alerts().items():
        fires = CASES[name]["fires"]
        labels = {**fires.get("labels", {}), **rule["labels"]}
        annotations = {k: fill(v, labels, fires.get("value")) for k, v in rule["annotations"].items()}
        tests.append(
            {
                "name": f"{name} fires",
                "interval": "1m",
                "input_series": series(fires),
                "alert_rule_test": [
                    {
                        "eval_time": f"{fires['eval']}m",
                        "alertname": name,
                        "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
                    }
                ],
            }
        )
        for n, silent in enumerate(CASES[name]["silent"]):
            tests.append(
                {
                    "name": f"{name} silent {n + 1}",
                    "interval": "1m",
                    "input_series": series(silent),
                    "alert_rule_test": [{"eval_time": f"{silent['eval']}m", "alertname": name, "exp_alerts": []}],
                }
            )
    return {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "rules.yml").write_text(render("ai-customer-service.rules.yml.j2", monitoring_runbook_url=RUNBOOK_URL))
    (tmp_path / "test.yml").write_text(yaml.safe_dump(promtool_tests(), sort_keys=False, width=1000))
    tmp_path.chmod(0o755)
    return tmp_path


def test_promtool_checks_the_rules(tool, workdir):
    result = tool(workdir, "promtool", "check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rules()['groups'])} rules found" in result.stdout


def test_every_alert_fires_in_its_case_and_is_silent_in_the_others(tool, workdir):
    assert set(CASES) == set(alerts()), "one case per alert, no case without an alert"
    result = tool(workdir, "promtool", "test", "rules", "test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_severity_for_summary_description_and_a_runbook_anchor_that_exists():
    anchors = {row.id for row in ROWS} | {name.lower() for name in alerts()}
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        url, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert url == RUNBOOK_URL and anchor in anchors, (name, anchor)
        # every alert but the counters' (a heal or crash loop is already the end of a wait) waits out a blip
        assert "for" in rule or name in {"AiCsSelfHealed", "AiCsCrashLoop"}, name


@pytest.mark.parametrize("row_id", ["auth-4034", "auth-4033", "auth-4031", "connection-refused", "ready-postgres-down"])
def test_alerts_on_a_runbook_row_give_its_cause_and_fix(row_id):
    row = next(r for r in ROWS if r.id == row_id)
    on_row = [a for a in alerts().values() if a["annotations"]["runbook_url"].endswith(f"#{row_id}")]
    assert on_row, row_id
    for rule in on_row:
        text = " ".join(rule["annotations"]["description"].split())
        assert row.cause[:40].lower() in text.lower(), (rule["alert"], row.cause)
        assert row.fix[:40].lower() in text.lower(), (rule["alert"], row.fix)
