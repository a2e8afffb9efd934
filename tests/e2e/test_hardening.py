"""Hardening, tried as an operator and as an attacker would, on the lab: --limit cannot reach data unguarded,
contract migrations wait for the whole fleet, secrets with special characters never leave the vault and a rotated
one survives a rollback, an interrupted switch is finished or undone by the next run, a dead run's lock is taken
over, a host that becomes unreachable stops the run before anything irreversible, and the database speaks TLS only.

Runs after test_diagnose.py on the same lab (v1.1.0 serving); run alone, it deploys v1.0.0 then v1.1.0 first.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.parse

import pytest
from labutil import (
    APP_HOSTS,
    ENV,
    ROOT,
    SECRETS,
    current,
    encoded_forms,
    exists,
    history,
    in_host,
    leaked,
    lock_holder,
    masked,
    playbook,
    print_times,
    run,
    secret,
    sql,
    wait_for,
    webhook,
)

pytestmark = pytest.mark.lab
DB = "ai_customer_service"
CRASH = "v1.1.1-fixture.crash-at-start"
CONTRACT = "v1.1.1-fixture.contract-migration"
FAST = ["-e", "verify_timeout=20"]


def said(proc) -> str:
    return " ".join(proc.stdout.split())


def messages() -> str:
    return sql("SELECT count(*) FROM cs_messages")


def unit_exec(host: str) -> str:
    return in_host(host, "systemctl", "show", "--value", "--property=ExecStart", "ai-customer-service")


@pytest.fixture(scope="module", autouse=True)
def serving(fresh_lab):
    if current(APP_HOSTS[0]) != "releases/v1.1.0" or not history(APP_HOSTS[0]):
        playbook("deploy", version="v1.0.0")
        playbook("deploy", version="v1.1.0")
    webhook(f"hardening-{time.time_ns()}")  # some data the destructive attempts must leave alone
    yield
    print_times("hardening wall times in the lab")


def run_until(pattern: str, action, *args: str, timeout: int = 600) -> tuple[int, str]:
    """ansible-playbook ARGS, calling action() once the first line matching pattern appears (the fault is injected
    at that moment of the run); returns its exit status and its whole output."""
    env = {**ENV, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(  # its own session: a kill -9 of its process group reaches every worker, not pytest
        ["ansible-playbook", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out, fired, started = [], False, time.monotonic()
    for line in proc.stdout:
        out.append(line)
        if not fired and re.search(pattern, line):
            fired = True
            action(proc)
        if time.monotonic() - started > timeout:
            proc.kill()
            break
    proc.wait()
    assert fired, f"the run never reached {pattern!r}:\n{masked(''.join(out)[-4000:])}"
    return proc.returncode, "".join(out)


# --- data and safety -------------------------------------------------------------------------------------------------


def test_a_dev_reset_limited_to_the_database_host_truncates_nothing():
    """Seen: --limit ai-cs-db skipped the guard play and the database play truncated production's tables."""
    before = messages()
    proc = playbook("reset-dev-data", "--limit", "ai-cs-db", check=False, confirm_reset=DB, ai_cs_env="development")
    assert proc.returncode != 0
    assert "reset refused: this run has no app host (ai-cs-db" in said(proc) and "Nothing was changed" in said(proc)
    assert messages() == before and int(before) > 0


@pytest.mark.parametrize("option", [{"migrate_down": True}, {"restore_backup": "auto", "confirm_data_loss": DB}])
def test_a_database_rollback_under_limit_is_refused_before_anything(option):
    before = (messages(), sql("SELECT version FROM schema_migrations"), [current(h) for h in APP_HOSTS])
    proc = playbook("rollback", "--limit", APP_HOSTS[0], check=False, version="v1.0.0", **option)
    assert proc.returncode != 0
    assert f"changes the database under every app host, and {APP_HOSTS[1]} would not be in this run" in said(proc)
    assert (messages(), sql("SELECT version FROM schema_migrations"), [current(h) for h in APP_HOSTS]) == before
    assert lock_holder() == ""


def test_contract_migrations_wait_until_every_host_runs_the_release():
    plan = playbook("deploy", "--check", version=CONTRACT)
    assert "contract migrations after the switch, once every app host runs" in said(plan)
    assert "0003_fixture_contract.up.sql" in said(plan)
    limited = playbook("deploy", "--limit", APP_HOSTS[0], version=CONTRACT)
    assert current(APP_HOSTS[0]) == f"releases/{CONTRACT}" and current(APP_HOSTS[1]) == "releases/v1.1.0"
    assert sql("SELECT version FROM schema_migrations") == "2", "no contract migration while v1.1.0 still serves"
    assert "contract migrations WAITING: 0003_fixture_contract.up.sql (not in this run" in said(limited)
    assert APP_HOSTS[1] in said(limited)
    whole = playbook("deploy", version=CONTRACT)
    assert "contract migrations, applied after every host ran" in said(whole)
    assert sql("SELECT version FROM schema_migrations") == "3"
    # back to v1.1.0 for the tests after this one (the down file drops what 0003 added)
    playbook("rollback", version="v1.1.0", migrate_down=True, confirm_data_loss=DB)
    assert sql("SELECT version FROM schema_migrations") == "2"


# --- secrets -----------------------------------------------------------------------------------------------------


def test_secrets_carry_special_characters_and_never_reach_output_hosts_or_logs():
    """Seen: a password with / + = : @ % failed the deploy and its encoded form landed in the output and on hosts."""
    for name in ("postgres_password", "webhook_secret"):
        assert set(secret(name)) & set("/+=:@%"), f"the lab's {name} must exercise special characters"
    proc = playbook("deploy", "-vvv", version="v1.1.0", ai_cs_log_level="debug")  # a config change: a real switch
    assert not leaked(proc.stdout, proc.stderr), "leaked at -vvv"
    for host in APP_HOSTS:
        on_host = in_host(host, "bash", "-c", "cat /var/lib/ai-customer-service/history.jsonl /opt/ai-customer-service/"
                          "releases/*/.bad /opt/ai-customer-service/releases/*/ai-customer-service.env* 2>/dev/null; "
                          "journalctl -u ai-customer-service --no-pager -o cat", check=False)  # fmt: skip
        assert not leaked(on_host), f"a secret on {host} outside its secrets file"
        assert in_host(host, "stat", "-c", "%a %U", "/etc/ai-customer-service/secrets.env").strip() == "600 root"
    assert webhook(f"special-{time.time_ns()}")["status"] == "accepted"
    playbook("deploy", version="v1.1.0")  # the config back


def test_a_rotated_secret_survives_a_rollback():
    """Rollback brought back the target's snapshot, old secrets included: webhooks then failed CS_AUTH_4034."""
    path = SECRETS / "webhook_secret"
    path.write_text("rotated/+=:@%" + secret("webhook_secret")[::-1] + "\n")
    playbook("deploy", version="v1.1.0")  # the new secret reaches every host, a batch at a time
    assert webhook(f"rotated-{time.time_ns()}")["status"] == "accepted"
    playbook("rollback", version="v1.0.0")
    assert webhook(f"after-rollback-{time.time_ns()}")["status"] == "accepted", "the rollback kept the vault's secret"
    for host in APP_HOSTS:
        snapshots = in_host(host, "bash", "-c", "cat /opt/ai-customer-service/releases/*/ai-customer-service.env*")
        assert "AI_CS_WEBHOOK_SECRET" not in snapshots and "AI_CS_POSTGRES_DSN" not in snapshots
    playbook("deploy", version="v1.1.0")


# --- interrupted and partial runs ----------------------------------------------------------------------------------


def kill_controller(proc: subprocess.Popen) -> None:
    """kill -9 of ansible-playbook and its workers, as a lost laptop or an OOM killer would."""
    os.killpg(proc.pid, signal.SIGKILL)


def test_an_interrupted_switch_is_undone_by_the_next_run():
    """Seen: killed right after current was renamed, a rerun left the host failed, serving the crashing release.

    The swap, the restart and the verification are one module call on the host (ai_cs_release): a run killed during
    it leaves what this test makes, deterministically: the run killed as the first host's switch begins (it holds the
    lock, the release is staged everywhere), then the swap that call had made on that host, and nothing after it."""
    code, _out = run_until(
        r"TASK \[loadbalancer : member \| Take it out of rotation \(drain\)",  # the first batch's switch begins
        kill_controller,
        "playbooks/deploy.yml", "-e", json.dumps({"version": CRASH, "deploy_lock_lease_seconds": 10}), *FAST,
    )  # fmt: skip
    swapped = {"action": "swap", "version": CRASH, "install_dir": "/opt/ai-customer-service",
               "service": "ai-customer-service", "secrets_file": "/etc/ai-customer-service/secrets.env",
               "state_dir": "/var/lib/ai-customer-service"}  # fmt: skip
    run("ansible", APP_HOSTS[0], "-m", "ai_cs_release", "-a", json.dumps(swapped))
    assert code != 0
    assert current(APP_HOSTS[0]) == f"releases/{CRASH}", "killed after the swap, before the restart"
    assert f"releases/{CRASH}" not in unit_exec(APP_HOSTS[1]), "the next batch never got the new unit"
    dead = lock_holder()
    assert dead, "a killed run leaves its lock (its lease expires)"
    wait_for("the dead run's lease to expire", lambda: sql(
        "SELECT expires_at < now() FROM ai_cs_ops.deploy_lock") == "t", 20)  # fmt: skip
    plan = playbook("rollback", "--check", "--limit", APP_HOSTS[0], version="previous")
    assert "would switch to v1.1.0" in said(plan), "previous is the last release this host verified"
    again = playbook("deploy", *FAST, check=False, version=CRASH)
    assert f"WARNING: took over the deploy lock from run {dead}" in said(again)
    assert "Rolled back automatically: v1.1.0 is serving again and verified ready" in said(again)
    assert current(APP_HOSTS[0]) == "releases/v1.1.0"
    assert "releases/v1.1.0/ai-customer-service" in unit_exec(APP_HOSTS[0]), "the unit went back with the release"
    assert in_host(APP_HOSTS[0], "systemctl", "is-active", "ai-customer-service").strip() == "active"
    assert exists(APP_HOSTS[0], f"/opt/ai-customer-service/releases/{CRASH}/.bad")
    assert lock_holder() == ""


@pytest.mark.parametrize(
    ("phase", "marker", "released"),
    [
        ("preflight", r"TASK \[preflight : host \| Read what listens", True),
        ("stage", r"TASK \[release : Look for the release on disk", True),  # runs whether or not it is staged
        ("backup", r"TASK \[backup : start \| Dump, verify and seal", True),
        # cut off during the first batch: the second never starts; the run ends without a rescue, its lease expires
        ("switch", r"TASK \[pipeline : switch \| Swap, restart, verify and record", False),
    ],
)
def test_a_host_gone_mid_run_stops_it_before_anything_irreversible(phase, marker, released):
    schema = sql("SELECT version FROM schema_migrations")
    gone = APP_HOSTS[1]

    def cut_off(_proc: subprocess.Popen) -> None:
        run("podman", "pause", gone)

    try:
        code, out = run_until(
            marker, cut_off, "playbooks/deploy.yml", "-e",
            json.dumps({"version": CONTRACT, "deploy_lock_lease_seconds": 15}),
        )  # fmt: skip
    finally:
        run("podman", "unpause", gone, check=False)
    assert code != 0 and f"[{gone}]: UNREACHABLE!" in out, f"{phase}: {masked(out[-3000:])}"
    assert current(gone) == "releases/v1.1.0", "the host that was cut off was not switched"
    assert sql("SELECT version FROM schema_migrations") == schema, "no migration with a host gone"
    if released:
        assert lock_holder() == "", "the hosts still reached released the lock"
    else:
        wait_for("the lease of the run that was cut off to expire", lambda: sql(
            "SELECT expires_at < now() FROM ai_cs_ops.deploy_lock") == "t", 30)  # fmt: skip
        playbook("rollback", version="v1.1.0")  # takes the expired lock over, and brings the switched host back
    assert [current(h) for h in APP_HOSTS] == ["releases/v1.1.0"] * 2


def test_a_release_that_cannot_be_pruned_leaves_a_warning_and_the_switch_in_place():
    """Pruning is housekeeping after the last batch: an old release that cannot be removed (a file made immutable)
    warns, naming the host and the fix; the hosts stay switched and verified, the run succeeds."""
    host, old = APP_HOSTS[0], "/opt/ai-customer-service/releases/v0.9.9"
    in_host(host, "sh", "-c", f"mkdir -p {old} && touch -d 2020-01-01 {old}/.complete && touch {old}/stuck")
    in_host(host, "chattr", "+i", f"{old}/stuck")
    try:
        proc = playbook("rollback", "-e", "release_keep=1", check=False, version="v1.0.0")
    finally:
        in_host(host, "chattr", "-i", f"{old}/stuck", check=False)
        in_host(host, "rm", "-rf", old)
    assert proc.returncode == 0, masked(proc.stdout[-3000:])
    assert f"WARNING: {host} serves v1.0.0, verified, but its releases beyond release_keep were not removed" in said(
        proc
    )
    assert [current(h) for h in APP_HOSTS] == ["releases/v1.0.0"] * 2
    assert [history(h)[-1]["result"] for h in APP_HOSTS] == ["success"] * 2
    assert lock_holder() == ""
    playbook("rollback", version="v1.1.0")


# --- network --------------------------------------------------------------------------------------------------------


def test_the_database_speaks_tls_only_and_clients_verify_its_name():
    assert sql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == "t"  # sql() connects with verify-full
    env = in_host(APP_HOSTS[0], "cat", "/etc/ai-customer-service/secrets.env")
    dsn = re.search(r'^AI_CS_POSTGRES_DSN="([^"]*)"$', env, re.MULTILINE)
    assert dsn, "the DSN is in the host's secrets file"
    options = urllib.parse.parse_qs(urllib.parse.urlsplit(dsn.group(1)).query)  # libpq decodes %XX the same way
    assert options["sslmode"] == ["verify-full"] and options["sslrootcert"] == ["/etc/ssl/certs/ai-cs-postgres-ca.pem"]
    refused = run(
        "podman", "exec", "-e", f"PGPASSWORD={secret('postgres_password')}", "-e", "PGSSLMODE=disable", APP_HOSTS[0],
        "psql", "-h", "ai-cs-db", "-p", "5434", "-U", "ai_cs", "-d", DB, "-tAc", "SELECT 1", check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "no encryption" in refused.stderr, masked(refused.stderr)


def test_the_public_front_end_hides_metrics_and_the_version_and_stats_need_a_login():
    public = "http://127.0.0.1:18080"
    for path in ("/metrics", "/actuator/health"):
        code = run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", public + path, check=False).stdout
        assert code == "404", path
    assert run("curl", "-sf", public + "/ready").returncode == 0
    answered_by = "x-ai-cs-version"  # the service names its release in every answer; haproxy drops it for the public
    assert answered_by not in run("curl", "-s", "-D", "-", "-o", "/dev/null", public + "/ready").stdout.lower()
    inside = run("curl", "-s", "-D", "-", "-o", "/dev/null", "http://127.0.0.1:18081/ready").stdout.lower()
    assert f"{answered_by}: v1.1.0" in inside
    internal = json.loads(run("curl", "-sf", "http://127.0.0.1:18081/actuator/health").stdout)
    assert internal["version"] == "v1.1.0"
    # /ready: the public answer is its state alone (down, a code: never the database's error text, issue 36 item 11);
    # a client cannot unmark its request, the internal front end removes a mark a client set
    assert json.loads(run("curl", "-sf", public + "/ready", "-H", "X-AI-CS-Exposure: internal").stdout) == {
        "status": "UP"
    }
    inner = json.loads(run("curl", "-sf", "http://127.0.0.1:18081/ready", "-H", "X-AI-CS-Exposure: public").stdout)
    assert inner["status"] == "UP" and inner["components"]["postgres"] == "UP"
    stats = "http://127.0.0.1:18404/stats"
    assert run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", stats, check=False).stdout == "401"
    login = f"ops:{secret('lb_stats_password')}"
    assert run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", login, stats, check=False).stdout == "200"


def test_encoded_forms_cover_a_dsn_and_json():
    assert {"a/b+c=d:e@f%g", "a%2Fb%2Bc%3Dd%3Ae%40f%25g"} <= encoded_forms("a/b+c=d:e@f%g")


def test_check_mode_unpacks_nothing_that_fails_its_checksum():
    """issue 36 item 14: --check unpacked the release it planned from as root, straight from its URL, unchecked.

    A directory of build/artifacts (the artifact server's, mounted read-only) with v1.1.0's tarball and a SHA256SUMS
    that does not match it, so the real artifacts stay untouched for whatever else runs beside this test."""
    name = "ai-customer-service-v1.1.0-linux-amd64.tar.gz"
    tampered = ROOT / "build/artifacts/tampered"
    tampered.mkdir(exist_ok=True)
    (tampered / name).write_bytes((ROOT / "build/artifacts" / name).read_bytes())
    (tampered / "SHA256SUMS").write_text(f"{'0' * 64}  {name}\n")
    unpacked = "ls -d /tmp/*.ai-cs-plan/db/migration 2>/dev/null | wc -l"
    before = [in_host(h, "bash", "-c", unpacked).strip() for h in APP_HOSTS]
    proc = playbook("deploy", "--check", "-e", "ai_cs_artifact_base_url=http://ai-cs-artifacts:8000/tampered",
                    check=False, version="v1.1.0")  # fmt: skip
    assert proc.returncode != 0 and "did not match" in said(proc), said(proc)[-2000:]
    assert [in_host(h, "bash", "-c", unpacked).strip() for h in APP_HOSTS] == before, "nothing unverified unpacked"


# issue 35 item 3: what the pipeline's steps hand to each other, given with -e (extra vars outrank facts and
# registered results), steers no destructive step and no target. Each is refused before anything changes.
_ASKED = {"keep_config": False, "config_only": False, "include_secrets": False, "migrate_down": True,
          "restore_backup": "auto", "confirm": DB, "batches": [1]}  # fmt: skip
STEERING = [
    ("rollback", {"__pipeline_request": _ASKED}, "about to restore a dump this run's request did not ask for"),
    ("rollback", {"pipeline_request": _ASKED}, "about to restore a dump this run's request did not ask for"),
    ("rollback", {"pipeline_schema": {"current": 2, "target": 1, "after": 1, "newer": [2], "contract": [],
                                      "unknown": [], "compatible": True, "down": True, "down_from": "v1.1.0",
                                      "down_files": ["0002_ticket_priority.down.sql"], "down_missing": []}},
     "-e confirm_data_loss=ai_customer_service (the database's name)"),
    ("deploy", {"pipeline_target": CRASH}, f"target {CRASH} (the plan's: v1.1.0) is not this run's plan"),
    ("deploy", {"pipeline_from": {"version": "v1.0.0", "mode": "binary", "on_disk": [], "active": True,
                                  "interrupted": False, "dangling": False, "record": {}}},
     "serving v1.0.0 (the plan's: v1.1.0) is not this run's plan"),
]  # fmt: skip


@pytest.mark.parametrize(("operation", "steering", "refusal"), STEERING, ids=lambda v: v if isinstance(v, str) else "")
def test_the_pipelines_own_names_given_with_extra_vars_change_nothing(operation, steering, refusal):
    playbook("deploy", version="v1.1.0")  # whatever ran before: v1.1.0 serving, verified
    schema, rows = sql("SELECT version FROM schema_migrations"), messages()
    serving = [
        (current(h), in_host(h, "systemctl", "show", "-P", "InvocationID", "ai-customer-service")) for h in APP_HOSTS
    ]
    proc = playbook(operation, "-e", json.dumps(steering), check=False, version="v1.1.0")
    assert proc.returncode != 0, f"-e {list(steering)}: the run went on"
    assert refusal in said(proc) and "Nothing was changed" in said(proc), said(proc)[-3000:]
    assert (sql("SELECT version FROM schema_migrations"), messages()) == (schema, rows), "the database changed"
    assert [(current(h), in_host(h, "systemctl", "show", "-P", "InvocationID", "ai-customer-service"))
            for h in APP_HOSTS] == serving, "a host was switched or restarted"  # fmt: skip
    assert lock_holder() == ""


def test_backup_and_restore_verify_the_databases_certificate(tmp_path):
    """issue 36 item 4: postgresql_db's dump and restore dropped ssl_mode and ca_cert, so pg_dump and pg_restore ran
    with libpq's default (prefer) and would talk to a server presenting a certificate for another name. Connecting
    by the database host's address, which its certificate (for ai-cs-db) does not name, both now refuse, with the
    runbook's cause, and change nothing."""
    address = in_host("ai-cs-db", "hostname", "-I").split()[0]
    backups = "/var/backups/ai-customer-service"
    sealed = in_host("ai-cs-db", "bash", "-c", f"ls -t {backups}/{DB}-*.pgc | head -1").strip()
    before = (in_host("ai-cs-db", "ls", backups), messages(), sql("SELECT version FROM schema_migrations"))
    play = tmp_path / "by-address.yml"
    play.write_text(f"""
- name: Back up, then restore, connecting by the database host's address
  hosts: ai-cs-db
  gather_facts: false
  vars:
    backup_postgres_host: "{address}"
  tasks:
    - name: Back up
      block:
        - name: Dump
          ansible.builtin.include_role: {{name: backup}}
          vars: {{backup_to_version: by-address, backup_timestamp: 20261206T000000Z}}
      rescue:
        - name: Say it failed
          ansible.builtin.debug: {{msg: "BACKUP FAILED {{{{ ansible_failed_result.msg }}}}"}}
    - name: Restore
      block:
        - name: Restore
          ansible.builtin.include_role: {{name: backup, tasks_from: restore}}
          vars: {{backup_restore_file: "{sealed}", backup_confirm_data_loss: {DB}}}
      rescue:
        - name: Say it failed
          ansible.builtin.debug: {{msg: "RESTORE FAILED {{{{ ansible_failed_result.msg }}}}"}}
""")
    said_ = " ".join(run("ansible-playbook", str(play)).stdout.split())
    for what in ("BACKUP FAILED", "RESTORE FAILED"):
        part = said_.split(what, 1)[1][:1500]
        assert f'does not match host name "{address}"' in part, part
        assert "fix: connect by the name on the certificate (ai_cs_postgres_host)" in part, part
    assert (in_host("ai-cs-db", "ls", backups), messages(), sql("SELECT version FROM schema_migrations")) == before


def test_a_run_whose_lease_was_taken_over_migrates_nothing(tmp_path):
    """issue 36 item 3: database.yml renewed the lease, then ran hooks, the dump and the migration with no renewal
    between; a step longer than the lease let another run take the lock while the first went on to migrate. The lease
    is a fencing token: pg_migrate checks, in the migration's own transaction, that this run still holds it."""
    playbook("rollback", version="v1.0.0", migrate_down=True, confirm_data_loss=DB)  # schema 1: v1.1.0's is pending
    assert sql("SELECT version FROM schema_migrations") == "1"
    hooks = ROOT / "inventories/lab/hooks"  # hooks come from the inventory's hooks directory only
    hooks.mkdir(mode=0o755, exist_ok=True)
    hook = hooks / f"record-outlast-{tmp_path.name}.yml"
    hook.write_text("""
- name: outlast | Outlast this run's lease (10 s)
  ansible.builtin.pause:
    seconds: 13
- name: outlast | Another run takes the expired lock over
  community.postgresql.postgresql_query:
    login_host: "{{ ai_cs_postgres_host }}"
    login_port: "{{ ai_cs_postgres_port }}"
    login_user: "{{ ai_cs_postgres_user }}"
    login_password: "{{ ai_cs_postgres_password }}"
    login_db: "{{ ai_cs_postgres_db }}"
    ssl_mode: "{{ ai_cs_postgres_sslmode }}"
    ca_cert: "{{ ai_cs_postgres_ca_file }}"
    query: >-
      UPDATE ai_cs_ops.deploy_lock SET run_id = 'taker-run', renewed_at = now(),
      expires_at = now() + interval '900 s' WHERE expires_at < now()
""")
    try:
        settings = {"ai_cs_hooks": {"before_migrate": [f"hooks/{hook.name}"]}, "deploy_lock_lease_seconds": 10}
        proc = playbook("deploy", "-e", json.dumps(settings), check=False, version="v1.1.0")
        assert proc.returncode != 0
        assert "no longer holds the deploy lock" in said(proc) and "Nothing was migrated" in said(proc)
        assert sql("SELECT version FROM schema_migrations") == "1", "the run that lost its lease migrated"
        assert [current(h) for h in APP_HOSTS] == ["releases/v1.0.0"] * 2
        assert lock_holder() == "taker-run", "the taker's lock stays; the stopped run released only its own"
    finally:
        sql("DELETE FROM ai_cs_ops.deploy_lock WHERE run_id = 'taker-run'")
        hook.unlink(missing_ok=True)
    playbook("deploy", version="v1.1.0")


def test_a_backup_on_demand_is_sealed_and_named_for_what_serves():
    """The fix the backup-stale alert gives: playbooks/backup.yml (it named a playbook that did not exist)."""
    backups = "/var/backups/ai-customer-service"
    assert "would dump ai_customer_service on ai-cs-db" in said(playbook("backup", "--check"))
    taken = re.search(r"backup: ai-cs-db:(\S+\.pgc)", said(playbook("backup")))
    assert taken and f"/{DB}-v1.1.0-to-on-demand-" in taken[1], "named for what serves"
    checked = in_host("ai-cs-db", "bash", "-c", f"cd {backups} && sha256sum -c {taken[1]}.sha256")
    assert checked.strip().endswith(": OK")
