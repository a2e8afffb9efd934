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
    for key in ("AI_CS_ENV", "AI_CS_POSTGRES_ENABLED", "AI_CS_LOG_LEVEL", "AI_CS_ADDR"):
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


def test_prune_keeps_the_newest_staged_not_the_most_recently_touched(host):
    assert not host.file(f"{BASE}/releases/v0.9.0").exists, "an unfinished release is removed"
    assert host.file(f"{BASE}/releases/v1.0.0").is_directory, "the current release is protected"
    assert host.file(f"{BASE}/releases/v1.1.1-fixture.never-ready/.complete").exists, "the newest staged is kept"
    assert not host.file(f"{BASE}/releases/v1.1.0").exists, "a .bad mark does not make a release look newer"


def test_the_unit_is_the_releases_own_and_secrets_are_not_in_the_snapshot(host):
    installed = host.file("/etc/systemd/system/ai-customer-service.service")
    own = host.file(f"{BASE}/releases/v1.0.0/ai-customer-service.service")
    assert not installed.is_symlink and installed.content_string == own.content_string
    assert f"ExecStart={BASE}/releases/v1.0.0/ai-customer-service" in own.content_string
    secrets = host.file("/etc/ai-customer-service/secrets.env")
    assert secrets.mode == 0o600 and secrets.user == "root"
    assert "AI_CS_POSTGRES_DSN=" in secrets.content_string and "AI_CS_WEBHOOK_SECRET=" in secrets.content_string
    snapshot = host.file(f"{BASE}/releases/v1.0.0/ai-customer-service.env").content_string
    assert "AI_CS_POSTGRES_DSN" not in snapshot and "AI_CS_WEBHOOK_SECRET" not in snapshot
