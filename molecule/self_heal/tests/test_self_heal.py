"""Role self_heal: the liveness watchdog restarts a process that is alive but stuck (what Kubernetes' liveness probe
does for a pod), counts a crash systemd restarted, records each heal, and leaves a database outage alone. The
inventory's probe (molecule/_shared: /live every 2 s, 1 s timeout, 3 misses) bounds the time to a heal."""

import json
import time

testinfra_hosts = ["molecule-self_heal"]
UNIT = "ai-customer-service"
HISTORY = "/var/lib/ai-customer-service/history.jsonl"
TEXTFILE = "/var/lib/node_exporter/textfile_collector/ai_cs_heals.prom"
# period x threshold + timeout, then systemd's restart and the service's start, with room for a busy machine
HEAL_BOUND = 2 * 3 + 1 + 20


def main_pid(host) -> int:
    return int(host.check_output(f"systemctl show -P MainPID {UNIT}"))


def heals(host) -> list[dict]:
    text = host.file(HISTORY).content_string if host.file(HISTORY).exists else ""
    return [r for r in map(json.loads, text.splitlines()) if r.get("operation") == "heal"]


def counted(host, reason: str) -> int:
    for line in host.file(TEXTFILE).content_string.splitlines():
        if line.startswith(f'ai_cs_heals_total{{reason="{reason}"}} '):
            return int(line.split()[-1])
    return 0


def until(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def serving(host) -> bool:
    return host.run("curl -sf -m 1 http://127.0.0.1:8080/live").rc == 0


def past_startup(host) -> None:
    """The watchdog probes only a unit active for longer than the startup budget (10 s here)."""
    up = host.check_output(f"systemctl show -P ActiveEnterTimestampMonotonic {UNIT}")
    now = float(host.check_output("cat /proc/uptime").split()[0])
    time.sleep(max(0.0, 12 - (now - int(up) / 1e6)))


def test_the_watchdog_runs_now_and_at_boot_with_the_inventorys_probe(host):
    watchdog = host.service("ai-cs-liveness")
    assert watchdog.is_enabled and watchdog.is_running
    env = host.check_output("systemctl show -P Environment ai-cs-liveness")
    assert "URL=http://127.0.0.1:8080/live" in env and "PERIOD_SECONDS=2" in env and "FAILURE_THRESHOLD=3" in env


def test_a_database_outage_restarts_nothing(host):
    """/live does not touch the database: an outage is /ready's business, and a restart would not fix it."""
    past_startup(host)
    pid, before = main_pid(host), len(heals(host))
    host.run("systemctl stop postgresql@15-main")
    try:
        time.sleep(2 * 3 + 3)  # longer than the watchdog needs to heal
        assert main_pid(host) == pid and len(heals(host)) == before
    finally:
        host.run("systemctl start postgresql@15-main")


def test_a_hung_process_is_killed_and_started_again_and_recorded(host):
    past_startup(host)
    pid, before = main_pid(host), counted(host, "hung")
    host.run(f"kill -STOP {pid}")  # alive, holding its port, answering nothing
    started = time.monotonic()
    assert until(lambda: main_pid(host) not in (pid, 0) and serving(host), HEAL_BOUND), "not healed in time"
    print(f"healed in {time.monotonic() - started:.1f} s")
    last = heals(host)[-1]
    assert last["reason"] == "hung" and last["pid"] == pid and "/live missed 3 times in a row" in last["detail"]
    assert until(lambda: counted(host, "hung") == before + 1, 5)


def test_a_crash_systemd_restarted_is_counted_as_one_not_as_a_hang(host):
    past_startup(host)
    pid, hung, crashed = main_pid(host), counted(host, "hung"), counted(host, "crashed")
    host.run(f"kill -KILL {pid}")
    assert until(lambda: main_pid(host) not in (pid, 0) and serving(host), HEAL_BOUND)
    assert until(lambda: counted(host, "crashed") == crashed + 1, 10)
    assert counted(host, "hung") == hung and heals(host)[-1]["reason"] == "crashed"
