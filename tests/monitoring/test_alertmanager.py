"""The Alertmanager configuration under amtool: valid, and every kind of alert routed to the receiver it must reach."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from monitoring_util import render

WEBHOOKS = {
    "critical": ["http://pager.test:9095/critical?token=a/b+c=d@e%25f"],  # a token full of URL-special characters
    "warning": ["http://pager.test:9095/warning", "http://chat.test/hook"],
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    text = render("alertmanager.yml.j2", monitoring_alert_webhooks=WEBHOOKS, ansible_managed="test")
    (tmp_path / "alertmanager.yml").write_text(text)
    tmp_path.chmod(0o755)
    return tmp_path


def test_amtool_accepts_the_config_with_both_receivers(tool, config):
    result = tool(config, "amtool", "check-config", "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found:" in result.stdout and " - 2 receivers" in result.stdout and " - 2 inhibit rules" in result.stdout
    receivers = {r["name"]: r for r in yaml.safe_load((config / "alertmanager.yml").read_text())["receivers"]}
    assert [w["url"] for w in receivers["critical"]["webhook_configs"]] == WEBHOOKS["critical"], "URL kept as is"


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=PostgresDown", "severity=critical", "service=ai-customer-service"], "critical"),
        (["alertname=AiCsWebhookSecretMismatch", "severity=critical", "code=CS_AUTH_4034"], "critical"),
        (["alertname=AiCsNotReady", "severity=warning", "instance=ai-cs-app1:8080"], "warning"),
        (["alertname=ScrapeTargetDown", "severity=warning", "job=node"], "warning"),
        (["alertname=SomethingUnlabelled"], "warning"),  # no severity: never dropped, the team's queue sees it
    ],
)
def test_each_alert_reaches_its_receiver(tool, config, labels, receiver):
    result = tool(config, "amtool", "config", "routes", "test", "--config.file=alertmanager.yml", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver, (labels, result.stdout)


def test_amtool_refuses_a_broken_config(tool, config):
    """The check above can fail: a route to a receiver that does not exist is refused."""
    path = config / "alertmanager.yml"
    path.write_text(path.read_text().replace("receiver: critical", "receiver: pager-that-does-not-exist"))
    result = tool(config, "amtool", "check-config", "alertmanager.yml")
    assert result.returncode != 0 and "pager-that-does-not-exist" in result.stdout + result.stderr


def test_without_webhooks_the_receivers_exist_but_send_nowhere(tool, tmp_path):
    (tmp_path / "alertmanager.yml").write_text(render("alertmanager.yml.j2", ansible_managed="test"))
    tmp_path.chmod(0o755)
    result = tool(tmp_path, "amtool", "check-config", "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
