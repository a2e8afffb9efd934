"""The monitoring stack converged on one host: exporters scraped, rules loaded, routing to the pager, the watchdog
healing the hang side_effect made."""

import json
import time

testinfra_hosts = ["molecule-monitoring"]


def api(host, url):
    return json.loads(host.check_output(f"curl -sf {url!r}"))


def test_every_target_is_scraped_and_up(host):
    deadline = time.monotonic() + 30
    while True:
        targets = api(host, "http://127.0.0.1:9090/api/v1/targets")["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if set(health.values()) == {"up"} or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert health == dict.fromkeys(("ai-customer-service", "node", "postgres", "prometheus", "alertmanager"), "up")


def test_the_rules_are_loaded(host):
    groups = api(host, "http://127.0.0.1:9090/api/v1/rules")["data"]["groups"]
    names = {r["name"] for g in groups for r in g["rules"]}
    assert {"AiCsInstanceDown", "AiCsDatabaseUnreachable", "AiCsWebhookSecretMismatch", "AiCsCrashLoop"} <= names


def test_postgres_exporter_reads_the_database_without_a_password(host):
    metrics = host.check_output("curl -sf http://127.0.0.1:9187/metrics")
    assert "\npg_up 1\n" in f"\n{metrics}\n"
    assert "password=" not in host.file("/etc/default/prometheus-postgres-exporter").content_string.lower()


def test_alertmanager_routes_to_the_pager_and_keeps_its_config_private(host):
    config = host.file("/etc/prometheus/alertmanager.yml")
    assert config.mode == 0o640 and config.group == "prometheus"
    status = api(host, "http://127.0.0.1:9093/api/v2/status")
    assert "http://127.0.0.1:9095/critical" in status["config"]["original"]


def test_the_hang_was_healed_recorded_and_published(host):
    heals = [
        json.loads(line)
        for line in host.file("/var/lib/ai-customer-service/history.jsonl").content_string.splitlines()
        if '"heal"' in line
    ]
    assert heals and heals[-1]["reason"] == "hung" and "killed (SIGKILL)" in heals[-1]["detail"]
    prom = host.file("/var/lib/node_exporter/textfile_collector/ai_cs_heals.prom").content_string
    assert 'ai_cs_heals_total{reason="hung"} 1' in prom
    assert host.run("curl -sf http://127.0.0.1:8080/live").rc == 0


def test_the_pager_got_the_heal(host):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = api(host, "http://127.0.0.1:9095/notifications")
        if any(a["labels"]["alertname"] == "AiCsSelfHealed" for n in got for a in n["notification"]["alerts"]):
            return
        time.sleep(2)
    raise AssertionError(f"no AiCsSelfHealed notification: {got}")
