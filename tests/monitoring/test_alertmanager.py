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


def test_a_receiver_that_takes_basic_auth_gets_its_account(tool, tmp_path):
    password = "p/+=:@%'\"x"  # every character a YAML or URL could trip on
    hooks = {"critical": [{"url": "http://127.0.0.1:9095/critical", "username": "ai-cs-pager", "password": password}]}
    text = render("alertmanager.yml.j2", monitoring_alert_webhooks={**WEBHOOKS, **hooks}, ansible_managed="test")
    (tmp_path / "alertmanager.yml").write_text(text)
    tmp_path.chmod(0o755)
    result = tool(tmp_path, "amtool", "check-config", "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    receivers = {r["name"]: r for r in yaml.safe_load(text)["receivers"]}
    hook = receivers["critical"]["webhook_configs"][0]
    assert hook["http_config"]["basic_auth"] == {"username": "ai-cs-pager", "password": password}
    assert "http_config" not in receivers["warning"]["webhook_configs"][0]


def test_prometheus_reaches_alertmanager_and_itself_over_tls_as_the_hosts_account(tool, tmp_path):
    text = render(
        "prometheus.yml.j2",
        ansible_managed="test",
        monitoring_app_hosts=["app1"],
        monitoring_node_hosts=["app1"],
        monitoring_db_hosts=["db1"],
        monitoring_lb_hosts=["lb1"],
        monitoring_app_port=8080,
        monitoring_web_server_name="mon1",
    )
    (tmp_path / "prometheus.yml").write_text(text)
    tmp_path.chmod(0o755)
    result = tool(tmp_path, "promtool", "check", "config", "--syntax-only", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(text)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    clients = {
        "alerting": config["alerting"]["alertmanagers"][0],
        **{k: jobs[k] for k in ("prometheus", "alertmanager")},
    }
    for name, client in clients.items():
        assert client["scheme"] == "https", name
        assert client["basic_auth"] == {
            "username": "ai-cs-monitoring",
            "password_file": "/etc/prometheus/web-local.password",
        }
        assert client["tls_config"] == {"ca_file": "/etc/prometheus/web-ca.crt", "server_name": "mon1"}
