"""The artifact host serves the release directory over HTTP from a sandboxed unit."""

testinfra_hosts = ["molecule-artifact_server"]


def journal(host):
    return host.run("journalctl -u ai-cs-artifacts -n 40 --no-pager").stdout


def test_unit_runs_sandboxed(host):
    unit = host.service("ai-cs-artifacts")
    assert unit.is_running, journal(host)
    assert unit.is_enabled
    props = host.check_output("systemctl show -p DynamicUser -p ProtectSystem -p NoNewPrivileges ai-cs-artifacts")
    assert "DynamicUser=yes" in props and "ProtectSystem=strict" in props and "NoNewPrivileges=yes" in props


def test_serves_the_checksum_file(host):
    out = host.run("curl -sf http://127.0.0.1:8000/SHA256SUMS")
    assert out.rc == 0, journal(host)
    assert out.stdout.endswith("  example.tar.gz\n")


def test_process_is_not_root(host):
    pid = host.check_output("systemctl show -p MainPID --value ai-cs-artifacts")
    assert host.check_output(f"ps -o user= -p {pid}").strip() != "root"
