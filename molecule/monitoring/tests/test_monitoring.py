"""The monitoring stack converged on one host: exporters scraped, rules loaded, routing to the pager, the watchdog
healing the hang side_effect made; Prometheus, Alertmanager and the pager answer their accounts only, over TLS."""

import json
import os
import shlex
import time
from pathlib import Path

testinfra_hosts = ["molecule-monitoring"]
NAME = "molecule-monitoring"
SECRETS = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "build" / "molecule-monitoring-ca"
CA = "/etc/prometheus/web-ca.crt"
PROMETHEUS = f"https://{NAME}:9090"
ALERTMANAGER = f"https://{NAME}:9093"
PAGER = "http://127.0.0.1:9095"


def account(name: str) -> str:
    """curl's -u for an account whose password the converge generated (read back from the controller)."""
    user = {"pipeline": "ai-cs-pipeline", "local": "ai-cs-monitoring", "pager": "ai-cs-pager"}[name]
    return shlex.quote(f"{user}:{(SECRETS / name).read_text().strip()}")


def api(host, url, who="pipeline"):
    return json.loads(host.check_output(f"curl -sf --cacert {CA} -u {account(who)} {url!r}"))


def status(host, *curl: str) -> str:
    return host.run("curl -s -o /dev/null -w '%{http_code}' " + " ".join(curl)).stdout


def test_every_target_is_scraped_and_up(host):
    deadline = time.monotonic() + 30
    while True:
        targets = api(host, f"{PROMETHEUS}/api/v1/targets")["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if set(health.values()) == {"up"} or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert health == dict.fromkeys(("ai-customer-service", "node", "postgres", "prometheus", "alertmanager"), "up")


def test_the_rules_are_loaded(host):
    groups = api(host, f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
    names = {r["name"] for g in groups for r in g["rules"]}
    assert {"AiCsInstanceDown", "AiCsDatabaseUnreachable", "AiCsWebhookSecretMismatch", "AiCsCrashLoop"} <= names


def test_postgres_exporter_reads_the_database_without_a_password(host):
    metrics = host.check_output("curl -sf http://127.0.0.1:9187/metrics")
    assert "\npg_up 1\n" in f"\n{metrics}\n"
    assert "password=" not in host.file("/etc/default/prometheus-postgres-exporter").content_string.lower()


def test_alertmanager_routes_to_the_pager_and_keeps_its_config_private(host):
    config = host.file("/etc/prometheus/alertmanager.yml")
    assert config.mode == 0o640 and config.group == "prometheus"
    answer = api(host, f"{ALERTMANAGER}/api/v2/status")
    assert "http://127.0.0.1:9095/critical" in answer["config"]["original"]


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
        got = api(host, f"{PAGER}/notifications", who="pager")
        if any(a["labels"]["alertname"] == "AiCsSelfHealed" for n in got for a in n["notification"]["alerts"]):
            return
        time.sleep(2)
    raise AssertionError(f"no AiCsSelfHealed notification: {got}")


def test_prometheus_and_alertmanager_answer_their_accounts_only_over_tls(host):
    silence = "-X POST -H 'Content-Type: application/json' -d '{}'"
    for base in (PROMETHEUS, ALERTMANAGER):
        assert status(host, base.replace("https", "http") + "/-/ready") == "400", "plain HTTP to a TLS port"
        assert status(host, f"{base}/-/ready") == "000", "not trusted without the CA"
        assert status(host, "--cacert", CA, f"{base}/-/ready") == "401"
        assert status(host, "--cacert", CA, "-u", "ai-cs-pipeline:wrong", f"{base}/-/ready") == "401"
        assert status(host, "--cacert", CA, "-u", account("pipeline"), f"{base}/-/ready") == "200"
    assert status(host, "--cacert", CA, silence, f"{ALERTMANAGER}/api/v2/silences") == "401"


def test_amtool_on_the_host_reaches_alertmanager_as_the_hosts_account(host):
    mine = host.run("amtool silence query -o json")
    assert mine.rc == 0 and isinstance(json.loads(mine.stdout), list), mine.stderr
    host.run(f"printf 'tls_config:\\n  ca_file: {CA}\\n  server_name: {NAME}\\n' > /tmp/anonymous.yml")
    anonymous = host.run("amtool --http.config.file=/tmp/anonymous.yml silence query -o json")
    assert anonymous.rc != 0 and "401" in anonymous.stderr + anonymous.stdout
    assert host.file("/etc/prometheus/amtool-http.yml").mode == 0o600
    web = host.file("/etc/prometheus/web-config.yml")
    assert (web.mode, web.group) == (0o640, "prometheus")
    assert "$2" in web.content_string and (SECRETS / "pipeline").read_text().strip() not in web.content_string


def test_the_pager_answers_its_account_only(host):
    assert status(host, f"{PAGER}/notifications") == "401"
    assert status(host, "-X POST -d '{}'", f"{PAGER}/critical") == "401"
    assert status(host, "-u", "ai-cs-pager:wrong", f"{PAGER}/notifications") == "401"
    assert status(host, "-u", account("pager"), f"{PAGER}/notifications") == "200"
