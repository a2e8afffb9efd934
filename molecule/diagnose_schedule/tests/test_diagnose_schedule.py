"""The scheduled diagnostic: a systemd timer running diagnose.yml through ansible-runner, keeping the last two
runs' artifacts, the latest report and the textfile; a failing check fails the unit. The scheduled backup: a timer on
its calendar running backup.yml the same way, a verified, sealed dump and the textfile AiCsBackupStale reads."""

import json

testinfra_hosts = ["molecule-diagnose_schedule"]
DIR = "/var/lib/ai-cs-diagnose"
TEXTFILE = "/var/lib/node_exporter/textfile_collector/ai_cs_diagnose.prom"
BACKUPS = "/var/backups/ai-customer-service"
BACKUP_TEXTFILE = "/var/lib/node_exporter/textfile_collector/ai_cs_backup.prom"


def run_once(host):
    return host.run("systemctl start ai-cs-diagnose.service")


def latest(host):
    return json.loads(host.file(f"{DIR}/reports/latest.json").content_string)


def test_timer_is_enabled_every_ten_minutes(host):
    timer = host.service("ai-cs-diagnose.timer")
    assert timer.is_enabled and timer.is_running
    assert "OnUnitActiveUSec=10min ;" in host.check_output("systemctl show ai-cs-diagnose.timer -p TimersMonotonic")


def test_runs_read_a_vaulted_inventory_with_the_password_file(host):
    """The inventory's settings (the service's secrets among them) are vault-encrypted: the runs below pass only if the
    unit's environment names the password file (diagnose_schedule_vault_password_file)."""
    assert host.file("/etc/ai-cs-diagnose/inventory/group_vars/all.yml").content_string.startswith("$ANSIBLE_VAULT;")
    envvars = host.file(f"{DIR}/env/envvars").content_string
    assert "ANSIBLE_VAULT_PASSWORD_FILE: /etc/ai-cs-diagnose/vault-pass" in envvars


def test_runs_keep_two_artifacts_the_latest_report_and_the_textfile(host):
    for _ in range(3):
        result = run_once(host)
        assert result.rc == 0, host.run("journalctl -u ai-cs-diagnose.service -n 60 --no-pager").stdout
    report = latest(host)
    checks = report["hosts"]["ai-cs-local"]["checks"]
    assert report["failed"] == 0 and all(c["status"] == "OK" for c in checks), checks
    assert len(host.file(f"{DIR}/artifacts").listdir()) == 2, "--rotate-artifacts keeps the last two runs"
    textfile = host.file(TEXTFILE).content_string
    assert 'ai_cs_diagnose_check_ok{host="ai-cs-local",check="webhook"} 1' in textfile
    assert "ai_cs_diagnose_failed_checks 0" in textfile


def test_a_failing_check_fails_the_unit_and_shows_in_the_textfile(host):
    host.run("systemctl stop postgresql@15-main")
    try:
        result = run_once(host)
    finally:
        host.run("systemctl start postgresql@15-main")
    assert result.rc != 0
    assert host.service("ai-cs-diagnose.service").systemd_properties["Result"] == "exit-code"
    database = next(c for c in latest(host)["hosts"]["ai-cs-local"]["checks"] if c["name"] == "database")
    assert database["status"] == "FAIL" and database["cause"] == "PostgreSQL is not reachable"
    assert 'ai_cs_diagnose_check_ok{host="ai-cs-local",check="database"} 0' in host.file(TEXTFILE).content_string


def test_the_backup_timer_is_enabled_on_its_calendar(host):
    timer = host.service("ai-cs-backup.timer")
    assert timer.is_enabled and timer.is_running
    assert "OnCalendar=*-02-29 04:00:00" in host.check_output("systemctl cat ai-cs-backup.timer")


def test_a_scheduled_backup_is_a_verified_sealed_dump_the_alert_sees(host):
    before = set(host.file(BACKUPS).listdir()) if host.file(BACKUPS).exists else set()
    result = host.run("systemctl start ai-cs-backup.service")
    assert result.rc == 0, host.run("journalctl -u ai-cs-backup.service -n 60 --no-pager").stdout
    new = set(host.file(BACKUPS).listdir()) - before
    (dump,) = [name for name in new if name.endswith(".pgc")]
    assert "-to-on-demand-" in dump and f"{dump}.sha256" in new
    sealed = host.file(f"{BACKUPS}/{dump}")
    assert f"ai_cs_backup_last_size_bytes {sealed.size}" in host.file(BACKUP_TEXTFILE).content_string
    assert len(host.file("/var/lib/ai-cs-backup-schedule/artifacts").listdir()) == 1  # its own runner directory
