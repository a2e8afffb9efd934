"""A staged, swapped and started release: layout, config snapshot, hardened unit, serving."""

import json

testinfra_hosts = ["molecule-release"]
BASE = "/opt/ai-customer-service"


def journal(host):
    return host.run("journalctl -u ai-customer-service -n 40 --no-pager").stdout


def test_current_points_at_the_complete_release(host):
    current = host.file(f"{BASE}/current")
    assert current.is_symlink and current.linked_to == f"{BASE}/releases/v1.0.0"
    assert host.file(f"{BASE}/releases/v1.0.0/.complete").content_string.strip() == "v1.0.0"
    assert host.file(f"{BASE}/releases/v1.0.0/VERSION").content_string.strip() == "v1.0.0"
    assert not host.file(f"{BASE}/releases/v1.0.0.tar.gz").exists


def test_config_snapshot_is_root_only_and_complete(host):
    env = host.file(f"{BASE}/releases/v1.0.0/ai-customer-service.env")
    assert env.mode == 0o600 and env.user == "root"
    text = env.content_string
    for key in ("AI_CS_ENV", "AI_CS_POSTGRES_ENABLED", "AI_CS_POSTGRES_DSN", "AI_CS_WEBHOOK_SECRET", "AI_CS_LOG_LEVEL"):
        assert f"{key}=" in text


def test_unit_is_hardened_and_runs_as_the_service_user(host):
    unit = host.service("ai-customer-service")
    assert unit.is_running and unit.is_enabled, journal(host)
    props = host.check_output(
        "systemctl show -p User -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p CapabilityBoundingSet "
        "ai-customer-service"
    )
    assert "User=ai-cs" in props and "NoNewPrivileges=yes" in props and "ProtectSystem=strict" in props
    pid = host.check_output("systemctl show -p MainPID --value ai-customer-service")
    assert host.check_output(f"ps -o user= -p {pid}").strip() == "ai-cs"


def test_serves_the_release(host):
    health = json.loads(host.check_output("curl -sf http://127.0.0.1:8080/actuator/health"))
    assert health["version"] == "v1.0.0" and health["status"] == "UP", journal(host)


def test_prune_removed_the_unfinished_release_and_kept_current(host):
    assert not host.file(f"{BASE}/releases/v0.9.0").exists
    assert host.file(f"{BASE}/releases/v1.0.0").is_directory
