"""Role exporters on a database host: node_exporter publishing the textfile directory this project writes to, and
postgres_exporter reading PostgreSQL over the local socket as a pg_monitor role with no password anywhere."""

import time

testinfra_hosts = ["molecule-exporters"]
TEXTFILE = "/var/lib/node_exporter/textfile_collector"
PSQL = "runuser -u postgres -- psql -p 5434 -tAc {!r}"


def metrics(host, port: int) -> str:
    return host.check_output(f"curl -sf http://127.0.0.1:{port}/metrics")


def until(check, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1)
    return False


def test_both_exporters_run_now_and_at_boot(host):
    for unit in ("prometheus-node-exporter", "prometheus-postgres-exporter"):
        service = host.service(unit)
        assert service.is_enabled and service.is_running, unit
    assert "node_exporter_build_info" in metrics(host, 9100)


def test_a_prom_file_in_the_textfile_directory_is_published(host):
    """diagnose, self_heal and backup publish through it: a file written there is a series at the next scrape."""
    stamp = int(time.time()) % 100000  # below 1e6: node_exporter prints it as it was written
    written = host.run(f"echo molecule_textfile_probe {stamp} > {TEXTFILE}/.molecule.tmp && "
                       f"mv {TEXTFILE}/.molecule.tmp {TEXTFILE}/molecule.prom")  # fmt: skip
    assert written.rc == 0, written.stderr
    try:
        assert f"molecule_textfile_probe {stamp}" in metrics(host, 9100)
    finally:
        host.run(f"rm -f {TEXTFILE}/molecule.prom")


def test_postgres_exporter_reads_the_database_as_a_monitor_role_without_a_password(host):
    assert "\npg_up 1\n" in metrics(host, 9187)
    settings = host.file("/etc/default/prometheus-postgres-exporter").content_string
    dsn = next(line for line in settings.splitlines() if line.startswith("DATA_SOURCE_NAME="))
    assert "password" not in dsn and "host=/var/run/postgresql" in dsn
    role = host.check_output(PSQL.format(
        "SELECT rolsuper, rolcreaterole, pg_has_role('prometheus', 'pg_monitor', 'member') "
        "FROM pg_roles WHERE rolname = 'prometheus'"
    ))  # fmt: skip
    assert role == "f|f|t", "a pg_monitor member, nothing more"


def test_postgres_exporter_reports_the_database_down_then_up(host):
    host.run("systemctl stop postgresql@15-main")
    try:
        assert until(lambda: "\npg_up 0\n" in metrics(host, 9187)), "pg_up stayed 1 with PostgreSQL stopped"
    finally:
        host.run("systemctl start postgresql@15-main")
    assert until(lambda: "\npg_up 1\n" in metrics(host, 9187)), "pg_up did not come back"
