"""The db host: PostgreSQL on the runbook's port, password login over TCP, the app role owns its database."""

testinfra_hosts = ["molecule-postgresql"]

PSQL = "PGPASSWORD={pw} psql -h 127.0.0.1 -p 5434 -U ai_cs -d ai_customer_service -tAc {sql!r}"


def journal(host):
    return host.run("journalctl -u postgresql@15-main -n 40 --no-pager").stdout


def test_server_runs_and_listens_on_5434(host):
    unit = host.service("postgresql@15-main")
    assert unit.is_running, journal(host)
    assert host.service("postgresql").is_enabled
    assert host.socket("tcp://0.0.0.0:5434").is_listening, journal(host)


def test_app_role_logs_in_with_its_password_and_owns_the_database(host):
    sql = "SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
    out = host.run(PSQL.format(pw="molecule-only-not-a-secret", sql=sql))
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "ai_cs|ai_cs"


def test_app_role_can_create_tables_for_migrations(host):
    sql = "CREATE TABLE molecule_probe (id int); DROP TABLE molecule_probe"
    out = host.run(PSQL.format(pw="molecule-only-not-a-secret", sql=sql))
    assert out.rc == 0, out.stderr


def test_wrong_password_is_refused(host):
    out = host.run(PSQL.format(pw="wrong", sql="SELECT 1"))
    assert out.rc != 0
    assert 'password authentication failed for user "ai_cs"' in out.stderr


def test_the_new_database_is_marked_with_the_environment_it_was_created_for(host):
    """The dev reset truncates only a database whose own comment says ai_cs_env=development; a production one
    (this scenario's inventory) says production. Converge ran twice (idempotence): the marker is written once."""
    sql = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
    out = host.run(PSQL.format(pw="molecule-only-not-a-secret", sql=sql))
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "ai_cs_env=production"
