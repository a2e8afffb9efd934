"""deploy.yml on the lab: the issue's must-shows, against real containers, PostgreSQL, systemd and haproxy.

The tests run in order and build on each other (fresh deploy, upgrade, no-op, failures), like an operator's day.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from labutil import (
    APP_HOSTS,
    ROOT,
    as_superuser,
    current,
    exists,
    failures,
    history,
    hold_lock,
    in_host,
    leaked,
    lock_holder,
    playbook,
    print_times,
    recap,
    run,
    sql,
    under_load,
)
from receiver import Receiver, closed_port

pytestmark = pytest.mark.lab
FAST = ["-e", "verify_timeout=20"]  # the fixtures never become healthy; no need to wait the default 60 s
NOTIFY_SECRET = "hook/+=@%secret"
POINTS = [
    "before_preflight",
    "after_preflight",
    "before_stage",
    "after_stage",
    "before_migrate",
    "after_migrate",
    "before_switch",
    "after_switch",
    "on_rollback",
    "on_failure",
]


HOOKS = ROOT / "inventories/lab/hooks"  # the lab inventory's hooks directory


@pytest.fixture(autouse=True)
def no_hooks_left(tmp_path):
    yield
    (HOOKS / f"record-{tmp_path.name}.yml").unlink(missing_ok=True)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def hooked(tmp_path, receiver, fail_at: str = "") -> list[str]:
    """-e for a run with a recording hook at every point (failing at fail_at), a signed receiver, and one that is
    down. The hook appends "<point> <host> <version> <run id>" to tmp_path/hooks.log on the controller. Hooks come
    from the inventory's hooks directory only: the hook is written there, named after this test's directory."""
    HOOKS.mkdir(mode=0o755, exist_ok=True)
    hook = HOOKS / f"record-{tmp_path.name}.yml"
    hook.write_text(f"""
- name: record | Note the point
  ansible.builtin.lineinfile:
    path: {tmp_path}/hooks.log
    line: "{{{{ [pipeline_hook.point, inventory_hostname, pipeline_hook.version, pipeline_hook.run_id] | join(' ') }}}}"
    create: true
    mode: "0600"
  delegate_to: localhost
  throttle: 1
- name: record | Refuse at {fail_at or "no point"}
  ansible.builtin.fail:
    msg: the change window is closed
  when: pipeline_hook.point == '{fail_at}'
""")
    notify = [
        {"url": f"{receiver.url}/ops", "secret": NOTIFY_SECRET},
        {"url": f"http://127.0.0.1:{closed_port()}/down", "format": "slack"},
    ]
    return ["-e", json.dumps({"ai_cs_hooks": {p: [f"hooks/{hook.name}"] for p in POINTS}, "ai_cs_notify": notify})]


def hook_log(tmp_path) -> list[list[str]]:
    log = tmp_path / "hooks.log"
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def deploy(version: str, *extra: str, check: bool = True):
    return playbook("deploy", *extra, check=check, version=version)


@pytest.fixture(scope="module", autouse=True)
def times(fresh_lab):
    yield
    print_times("deploy wall times in the lab")


@pytest.mark.parametrize("bad", ["1.0.0", "v1.0", "v1.0.0;touch /tmp/pwned", "v1.0.0 --extra", "$(id)", "", "v1.0.0\n"])
def test_malformed_version_is_refused_before_any_host_is_contacted(bad):
    # Every host is pointed at an address nothing answers on (TEST-NET-1): a task that contacted one would show it
    # unreachable. The refusal must come from the controller alone.
    proc = deploy(bad, "-e", "ansible_host=192.0.2.1", check=False)
    assert proc.returncode != 0
    assert "refused: it must look like v1.2.3" in proc.stdout and "Nothing was changed" in proc.stdout
    rows = recap(proc.stdout)
    assert rows and all(r["unreachable"] == 0 for r in rows.values()), rows
    for host in APP_HOSTS:
        assert not exists(host, "/tmp/pwned")
        assert current(host) == ""


@pytest.mark.parametrize("size", ["0", "-1", "150%", "abc", "1;id", "3"])
def test_a_bad_batch_size_is_refused_before_any_host_is_contacted(size):
    """Seen: 0, -1 and 150% switched the whole fleet at once; abc and 1;id died in the switch with the lock held."""
    proc = deploy("v1.0.0", "-e", f"deploy_batch_size={size}", "-e", "ansible_host=192.0.2.1", check=False)
    assert proc.returncode != 0
    assert "deploy_batch_size must be a number of hosts (1..2" in proc.stdout and "Nothing was changed" in proc.stdout
    rows = recap(proc.stdout)
    assert rows and all(r["unreachable"] == 0 for r in rows.values()), rows
    assert "Traceback" not in proc.stdout + proc.stderr


def test_an_unknown_deploy_mode_is_refused_before_any_host_is_contacted():
    proc = deploy("v1.0.0", "-e", "ai_cs_deploy_mode=kube", "-e", "ansible_host=192.0.2.1", check=False)
    assert proc.returncode != 0
    said = " ".join(proc.stdout.split())
    assert "ai_cs_deploy_mode (pipeline_swap) is binary" in said and 'got "kube"' in said
    assert "Nothing was changed" in said
    rows = recap(proc.stdout)
    assert rows and all(r["unreachable"] == 0 for r in rows.values()), rows


@pytest.mark.parametrize(
    "setting",
    ["pipeline_canary=maybe", "pipeline_canary_window=abc", "pipeline_canary_interval=0", "pipeline_canary_window=1",
     "pipeline_canary_min_requests=0", "pipeline_canary_max_5xx_increase=5", "pipeline_canary_confidence=1"],
)  # fmt: skip
def test_bad_canary_settings_are_refused_before_any_host_is_contacted(setting):
    proc = deploy("v1.0.0", "-e", setting, "-e", "ansible_host=192.0.2.1", check=False)
    assert proc.returncode != 0
    said = " ".join(proc.stdout.split())
    assert "Nothing was changed" in said and (
        "pipeline_canary takes true or false" in said
        or ("the canary analysis' settings must be numbers" in said and "got [" in said)
    ), said
    rows = recap(proc.stdout)
    assert rows and all(r["unreachable"] == 0 for r in rows.values()), rows


@pytest.mark.parametrize(
    ("setting", "problem"),
    [("ai_cs_alertmanager_url=http://am:9093/?x=1", "pipeline_alertmanager_url (ai_cs_alertmanager_url) must be"),
     ("pipeline_silence_minutes=0", "pipeline_silence_minutes must be a whole number"),
     # seen: release_keep=1 from -e (a string) failed the prune after the switch, which went back by itself
     ("release_keep=abc", "release_keep must be a whole number from 1 to 999"),
     ("release_keep=0", "release_keep must be a whole number")],
)  # fmt: skip
def test_bad_silence_and_prune_settings_are_refused_before_any_host_is_contacted(setting, problem):
    proc = deploy("v1.0.0", "-e", setting, "-e", "ansible_host=192.0.2.1", check=False)
    said = " ".join(proc.stdout.split())
    assert proc.returncode != 0 and "Nothing was changed" in said and problem in said, said
    rows = recap(proc.stdout)
    assert rows and all(r["unreachable"] == 0 for r in rows.values()), rows


def test_unknown_version_is_refused_in_preflight_with_nothing_changed():
    # what site.yml set up on the app hosts (the release and state directories, empty), every file with its time
    tree = "find /opt /var/lib/ai-customer-service /etc/systemd/system -printf '%p %T@\\n' 2>/dev/null; true"
    before = {host: in_host(host, "sh", "-c", tree) for host in APP_HOSTS}
    proc = deploy("v9.9.9", check=False)
    assert proc.returncode != 0
    assert "unknown version v9.9.9" in proc.stdout and "known: v1.0.0, v1.1.0" in proc.stdout
    for host in APP_HOSTS:
        assert in_host(host, "ls", "-A", "/opt/ai-customer-service/releases").strip() == "", "nothing installed"
        assert in_host(host, "sh", "-c", tree) == before[host], "nothing may be changed"


def test_fresh_deploy_at_vvv_shows_no_secret():
    proc = deploy("v1.0.0", "-vvv")
    assert not leaked(proc.stdout, proc.stderr), "leaked at -vvv"
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.0.0"
        assert in_host(host, "systemctl", "is-active", "ai-customer-service").strip() == "active"
        env_mode = in_host(
            host, "stat", "-c", "%a %U", "/opt/ai-customer-service/releases/v1.0.0/ai-customer-service.env"
        )
        assert env_mode.strip() == "600 root"
        assert history(host)[-1]["result"] == "success" and history(host)[-1]["to"] == "v1.0.0"
    assert sql("SELECT version, dirty FROM schema_migrations") == "1|f"
    assert "serving v1.0.0" in proc.stdout


def test_a_hook_failing_before_the_switch_stops_the_deploy_with_nothing_switched(tmp_path, receiver):
    proc = deploy("v1.1.0", *hooked(tmp_path, receiver, fail_at="after_stage"), check=False)
    assert proc.returncode != 0
    said = " ".join(proc.stdout.split())
    assert "the after_stage hook (" in said and "the change window is closed" in said
    assert "Nothing was switched or migrated; the service still serves v1.0.0" in said
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.0.0"
    assert sql("SELECT version FROM schema_migrations") == "1"
    assert lock_holder() == ""
    points = [line[0] for line in hook_log(tmp_path)]
    assert "before_switch" not in points and "before_migrate" not in points
    assert points.count("on_failure") == 2, points  # each host stopped
    (failure,) = receiver.events("/ops", secret=NOTIFY_SECRET)
    assert failure["event"] == "failure" and failure["version"] == "v1.1.0" and failure["result"] == "failed"
    assert "the change window is closed" in failure["text"]


def test_upgrade_to_v1_1_0_with_a_verified_backup(tmp_path, receiver):
    with under_load("deploy v1.0.0 -> v1.1.0", tmp_path) as load:
        proc = deploy("v1.1.0", *hooked(tmp_path, receiver))
    assert load["failed"] == 0, f"each host is drained before it restarts: {failures(load)}"
    assert {"v1.0.0", "v1.1.0"} <= set(load["versions"]), "the load ran across the whole switch"
    assert "0002_ticket_priority.up.sql (schema 1 -> 2)" in proc.stdout
    assert "canary analysis: pass after" in proc.stdout, "ai-cs-app1, judged against ai-cs-app2 under the load"
    # the canary's 20 s window says, while it runs, what it waits for and for how long (callback ai_cs_progress)
    assert (
        "  ... still running after 10 s: pipeline : canary | Watch this batch's /metrics against the hosts not yet "
        "switched (ai-cs-app1 against ai-cs-app2) for up to 20 s"
    ) in proc.stdout
    assert "[WARNING]" not in proc.stdout + proc.stderr, "a normal run prints no warning (was: duplicate mapping key)"
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.1.0"
        fact = json.loads(in_host(host, "cat", "/etc/ansible/facts.d/ai_cs.fact"))
        assert fact["current"] == "v1.1.0" and fact["previous"] == "v1.0.0"
    backup = fact["backup"]
    assert "-v1.0.0-to-v1.1.0-" in backup
    checked = in_host("ai-cs-db", "bash", "-c", f"cd {backup.rsplit('/', 1)[0]} && sha256sum -c {backup}.sha256")
    assert checked.strip().endswith(": OK")
    assert in_host("ai-cs-db", "stat", "-c", "%a", backup).strip() == "600"
    assert "TABLE public cs_sessions" in in_host("ai-cs-db", "pg_restore", "--list", backup)
    health = json.loads(run("curl", "-sf", "http://127.0.0.1:18081/actuator/health").stdout)
    assert health["version"] == "v1.1.0"
    # the hooks ran at each point, in the pipeline's order (once around the database, per host around its switch)
    log = hook_log(tmp_path)
    assert {tuple(line[2:]) for line in log} == {("v1.1.0", re.search(r"run (\S+) by", proc.stdout)[1])}
    order = [f"{point} {host}" for point, host, *_ in log]
    app1, app2 = APP_HOSTS
    for before, after in [
        ("before_preflight", "after_preflight"),
        ("after_preflight", "before_stage"),
        ("before_stage", "after_stage"),
    ]:
        for host in APP_HOSTS:
            assert order.index(f"{before} {host}") < order.index(f"{after} {host}"), order
    migrate = [o for o in order if "_migrate" in o]
    assert len(migrate) == 2 and migrate[0].startswith("before_migrate") and migrate[1].startswith("after_migrate")
    assert order[order.index(migrate[1]) + 1 :] == [
        f"before_switch {app1}",
        f"after_switch {app1}",
        f"before_switch {app2}",
        f"after_switch {app2}",
    ], order
    # the deploy event reached the signed receiver; the one that is down made a warning, not a failure
    (event,) = receiver.events("/ops", secret=NOTIFY_SECRET)
    assert event["event"] == "deploy" and event["version"] == "v1.1.0" and event["from"] == ["v1.0.0"]
    assert event["switched"] == APP_HOSTS and event["result"] == "success"
    assert "WARNING: the deploy notification to 127.0.0.1 was not delivered" in " ".join(proc.stdout.split())
    assert not leaked(proc.stdout, proc.stderr, json.dumps(event)) and NOTIFY_SECRET not in proc.stdout


def test_signed_webhook_through_haproxy():
    proc = run("ansible-playbook", "playbooks/smoke.yml")
    assert "webhook accepted: message smoke-" in proc.stdout and "serving v1.1.0" in proc.stdout


def test_same_version_again_changes_nothing():
    proc = deploy("v1.1.0")
    rows = recap(proc.stdout)
    assert rows and all(r["changed"] == 0 and r["failed"] == 0 for r in rows.values()), rows
    assert "no change" in proc.stdout


def test_check_mode_shows_the_plan_and_changes_nothing():
    before = sql("SELECT version FROM schema_migrations")
    proc = deploy("v1.1.1-fixture.failing-migration", "--check", "--diff")
    assert "PLAN (check mode, nothing changed)" in proc.stdout
    assert "would install v1.1.1-fixture.failing-migration (now v1.1.0)" in proc.stdout
    assert "pending migrations: 0003_fixture_fails_partway.up.sql" in proc.stdout
    assert sql("SELECT version FROM schema_migrations") == before
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.1.0"
        assert "v1.1.1-fixture.failing-migration" not in in_host(host, "ls", "/opt/ai-customer-service/releases")


def test_failing_migration_leaves_database_and_service_as_they_were():
    tickets = sql("SELECT count(*), count(*) FILTER (WHERE status = 'open') FROM cs_tickets")
    proc = deploy("v1.1.1-fixture.failing-migration", check=False)
    assert proc.returncode != 0
    assert "the migration failed" in proc.stdout and "schema version stays 2 and is not dirty" in proc.stdout
    assert sql("SELECT version, dirty FROM schema_migrations") == "2|f"
    assert sql("SELECT to_regclass('cs_fixture_partial') IS NULL") == "t"
    assert sql("SELECT count(*), count(*) FILTER (WHERE status = 'open') FROM cs_tickets") == tickets
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.1.0"
    assert lock_holder() == ""


def test_a_migration_the_database_refuses_stops_before_the_switch_with_the_runbooks_row():
    """issue 38 item 3: another role owns the schema, so the service's role may not create the release's table. The
    deploy stops before any host switches, the database is as it was, and the message is the runbook's row
    (section 三: pq: permission denied -> make ai_cs own the database)."""
    owner = as_superuser("SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'public'")
    tickets = sql("SELECT count(*), count(*) FILTER (WHERE status = 'open') FROM cs_tickets")
    as_superuser("ALTER SCHEMA public OWNER TO postgres; REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    try:
        proc = deploy("v1.1.1-fixture.failing-migration", check=False)
    finally:
        as_superuser(f"ALTER SCHEMA public OWNER TO {owner}")
    said = " ".join(proc.stdout.split())
    assert proc.returncode != 0 and "permission denied for schema public" in said, said[-3000:]
    assert "cause: the database user may not create tables (runbook: pq: permission denied)" in said
    assert "fix: make ai_cs own the ai_customer_service database (or a superuser), then deploy again" in said
    assert sql("SELECT version, dirty FROM schema_migrations") == "2|f"
    assert sql("SELECT to_regclass('cs_fixture_partial') IS NULL") == "t"
    assert sql("SELECT count(*), count(*) FILTER (WHERE status = 'open') FROM cs_tickets") == tickets
    for host in APP_HOSTS:
        assert current(host) == "releases/v1.1.0"
    assert lock_holder() == ""


@pytest.mark.parametrize(
    ("fixture", "cause"),
    [
        ("v1.1.1-fixture.never-ready", "'startup': 'DOWN'"),
        ("v1.1.1-fixture.crash-at-start", "fixture build: crash at start"),
    ],
)
def test_unhealthy_release_is_rolled_back_and_marked_bad(fixture, cause, tmp_path, receiver):
    with under_load(f"deploy {fixture} (rolled back)", tmp_path) as load:
        proc = deploy(fixture, *FAST, *hooked(tmp_path, receiver), check=False)
    assert load["failed"] == 0, f"the failing host was out of rotation: {failures(load)}"
    assert fixture not in load["versions"], "the bad release never answered a client"
    assert proc.returncode != 0
    assert f"deploy {fixture} failed on ai-cs-app1 at 'Wait for live, ready and the expected version'" in proc.stdout
    assert cause in proc.stdout
    assert "Rolled back automatically: v1.1.0 is serving again and verified ready" in proc.stdout
    assert current("ai-cs-app1") == "releases/v1.1.0"
    assert current("ai-cs-app2") == "releases/v1.1.0", "the second batch must never start"
    # issue 37 item 4: the failed run's report on the controller, for CI logs and chat
    report = json.loads((ROOT / "build/runs/latest.json").read_text())
    assert (report["operation"], report["version"], report["result"]) == ("deploy", fixture, "failed")
    assert "failed on ai-cs-app1 at 'Wait for live, ready and the expected version'" in report["failure"]
    assert {h: r["outcome"] for h, r in report["hosts"].items()} == {"ai-cs-app1": "rolled_back",
                                                                     "ai-cs-app2": "not_reached"}  # fmt: skip
    assert (ROOT / f"build/runs/{report['run_id']}.md").read_text().startswith(f"### ❌ deploy {fixture}: failed")
    bad = json.loads(in_host("ai-cs-app1", "cat", f"/opt/ai-customer-service/releases/{fixture}/.bad"))
    assert bad["version"] == fixture
    last = history("ai-cs-app1")[-1]
    assert last["result"] == "rolled_back" and last["to"] == fixture and last["failed_step"]
    health = json.loads(run("curl", "-sf", "http://127.0.0.1:18081/actuator/health").stdout)
    assert health["version"] == "v1.1.0"
    fact = json.loads(in_host("ai-cs-app1", "cat", "/etc/ansible/facts.d/ai_cs.fact"))
    assert fact["current"] == "v1.1.0" and fact["previous"] == "v1.0.0"
    # the automatic rollback and the failure each reached the receiver; the on_rollback hook ran on ai-cs-app1
    rolled, failed = receiver.events("/ops", secret=NOTIFY_SECRET)
    assert rolled["event"] == "auto_rollback" and rolled["hosts"] == ["ai-cs-app1"] and rolled["from"] == "v1.1.0"
    assert failed["event"] == "failure" and failed["host"] == "ai-cs-app1"
    points = [f"{point} {host}" for point, host, *_ in hook_log(tmp_path)]
    assert "on_rollback ai-cs-app1" in points and "after_switch ai-cs-app1" not in points


def test_a_canary_failing_webhooks_is_rolled_back_after_the_first_batch(tmp_path):
    """A release that answers 500 on a quarter of the widget channel's webhooks passes verify (its probes, and the smoke
    webhook on its own channel); the canary analysis sees it against the host still on v1.1.0, under the prober's
    load, and takes it back."""
    fixture = "v1.1.1-fixture.webhook-errors"
    with under_load(f"deploy {fixture} (canary rolled back)", tmp_path) as load:
        proc = deploy(fixture, check=False)
    said = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert f"deploy {fixture} failed on ai-cs-app1 at 'canary | Roll this batch back" in said
    assert "canary degraded after" in said and "5xx ratio" in said and "on the hosts not yet switched (0 of" in said
    assert "Rolled back automatically: v1.1.0 is serving again and verified ready" in said
    assert current("ai-cs-app1") == "releases/v1.1.0"
    assert current("ai-cs-app2") == "releases/v1.1.0", "the second batch must never start"
    assert history("ai-cs-app2")[-1]["to"] != fixture
    assert json.loads(in_host("ai-cs-app1", "cat", f"/opt/ai-customer-service/releases/{fixture}/.bad"))
    records = [json.loads(line) for line in (tmp_path / "probe.jsonl").read_text().splitlines()]
    failed = [r for r in records if not r["ok"]]
    assert failed, "the canary served some of the prober's webhooks"
    causes = load["failed_by_cause"]
    assert all(r["version"] == fixture and r["error"] == "HTTP 500 CS_SYS_5000" for r in failed), causes
    served = [r for r in records if r["version"] == fixture]
    span = max(r["t"] for r in served) - min(r["t"] for r in served)
    print(f"\ncanary: {len(failed)} failed of {len(served)} requests the canary served in {span:.1f} s; "
          f"{load['requests']} sent in all")  # fmt: skip
    assert span < 30, "the canary served only during its window (20 s in the lab; it stops at the first judgement)"
    assert load["failed"] == len(failed)


def test_a_second_deploy_is_refused_naming_the_holder():
    hold_lock("other-run-1", "alice@ops1", expires_in=600)
    try:
        proc = deploy("v1.0.0", check=False)
        said = " ".join(proc.stdout.split())
        assert proc.returncode != 0
        assert "deploy refused: the deploy lock (table ai_cs_ops.deploy_lock in ai_customer_service" in said
        assert "is held by alice@ops1 (deploy v1.0.0, run other-run-1" in said and "expires in 5" in said
        assert "another deploy or rollback is running" in said
        for host in APP_HOSTS:
            assert current(host) == "releases/v1.1.0"
        assert lock_holder() == "other-run-1", "a live lock is never taken, nor released by the refused run"
    finally:
        run("ansible-playbook", "playbooks/unlock.yml", "-e", "run_id=other-run-1")
    assert lock_holder() == ""


def test_unlock_refuses_a_lease_renewed_within_the_last_minute_unless_forced():
    """issue 36 item 3: unlock.yml cleared the lock of a run that was still renewing it (alive)."""
    hold_lock("live-run-3", "carol@ops3", expires_in=600)
    sql("UPDATE ai_cs_ops.deploy_lock SET renewed_at = now()")
    refused = run("ansible-playbook", "playbooks/unlock.yml", "-e", "run_id=live-run-3", check=False)
    said = " ".join(refused.stdout.split())
    assert refused.returncode != 0 and "unlock refused: run live-run-3 renewed its lease" in said
    assert "add -e force=true" in said and lock_holder() == "live-run-3"
    run("ansible-playbook", "playbooks/unlock.yml", "-e", "run_id=live-run-3", "-e", "force=true")
    assert lock_holder() == ""


def test_an_expired_lease_is_taken_over_with_a_warning_naming_the_dead_run():
    held = time.monotonic()
    hold_lock("dead-run-7", "bob@ops2", expires_in=-30)
    wrong = run("ansible-playbook", "playbooks/unlock.yml", "-e", "run_id=not-the-holder")
    assert lock_holder() == "dead-run-7", wrong.stdout
    proc = deploy("v1.1.0")
    said = " ".join(proc.stdout.split())
    assert "WARNING: took over the deploy lock from run dead-run-7 (bob@ops2, deploy v1.0.0" in said
    expired = re.search(r"its lease expired (\d+) s ago without renewal, so that run is gone", said)
    assert expired, said[-2000:]
    # 30 s before it was written, plus however long this machine took to reach the take-over
    assert 30 <= int(expired.group(1)) <= 30 + time.monotonic() - held + 1
    assert lock_holder() == "", "released at the end of the run"


def test_failed_config_change_is_rolled_back_and_never_reaches_the_next_batch():
    # The service refuses a webhook skew of 0 at start-up; preflight keeps its own clock tolerance.
    bad = json.dumps({"ai_cs_webhook_max_skew_seconds": 0, "preflight_max_clock_skew": 300})
    proc = deploy("v1.1.0", "-e", bad, *FAST, check=False)
    assert proc.returncode != 0
    assert "invalid AI_CS_WEBHOOK_MAX_SKEW_SECONDS '0'" in proc.stdout, "the service's own error names the cause"
    assert "the configuration of v1.1.0 that served before is restored" in proc.stdout
    for host in APP_HOSTS:
        env = in_host(host, "cat", "/opt/ai-customer-service/releases/v1.1.0/ai-customer-service.env")
        assert 'AI_CS_WEBHOOK_MAX_SKEW_SECONDS="300"' in env
        assert in_host(host, "systemctl", "is-active", "ai-customer-service").strip() == "active"
    assert not exists("ai-cs-app1", "/opt/ai-customer-service/releases/v1.1.0/.bad")


def test_config_change_reaches_every_host_then_returns():
    deploy("v1.1.0", "-e", "ai_cs_log_level=debug")
    for host in APP_HOSTS:
        env = in_host(host, "cat", "/opt/ai-customer-service/releases/v1.1.0/ai-customer-service.env")
        assert 'AI_CS_LOG_LEVEL="debug"' in env
    deploy("v1.1.0")
    for host in APP_HOSTS:
        env = in_host(host, "cat", "/opt/ai-customer-service/releases/v1.1.0/ai-customer-service.env")
        assert 'AI_CS_LOG_LEVEL="info"' in env
        assert in_host(host, "ls", "-a", "/opt/ai-customer-service/releases/v1.1.0").count(".env.next") == 0
