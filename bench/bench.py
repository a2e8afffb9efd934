#!/usr/bin/env python3
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""make bench: deploy, rollback and diagnose on lab fleets of 1, 2, 4 and 8 app hosts, against their floor.

    bench/bench.py [--hosts 1,2,4,8] [--reps 3] [--db-mb 200] [--batch canary,25%] [--out build/bench]

For each fleet size N the lab is brought to N app hosts (AI_CS_LAB_APP_HOSTS=N playbooks/lab.yml), the database is
filled to --db-mb (a table of its own, bench_fill, written once), and then, each --reps times and each under the
project's load prober (scripts/probe.py through haproxy, 50 requests/s, a quarter signed webhooks):
  upgrade     deploy.yml v1.0.0 -> v1.1.0 (preflight, lock, verified backup, migration, drained switch, canary)
  no-op       deploy.yml of the version already serving
  config      deploy.yml of the same version with a changed setting (ai_cs_log_level=debug)
  config-rb   rollback.yml config_only=true (runbook 6.2: the config before that change)
  rollback    rollback.yml v1.0.0 (code, a release on disk; its safety backup dumped beside the switch)
  diagnose    diagnose.yml (the 60-second diagnostic)
  rollback-nb rollback.yml v1.0.0 with rollback_backup=false (after an unmeasured rollback to v1.1.0, also without):
              the rollback above less its safety backup, so the report says what the backup costs
  upgrade-b   the upgrade again with another deploy_batch_size (--batch-b, canary,100%: two batches from 2 hosts
              on), after which an unmeasured rollback.yml v1.0.0 (no backup) goes back: at one fleet size the two
              upgrades differ by their batches only, so their difference is the cost of a batch; between two fleet
              sizes with as many batches, the difference is the cost of the hosts added. Both are measured apart
              (with the spread of the runs), and the report's estimate for 100 and 1,000 hosts rests on them.
first, once, the load alone (the prober for LOAD_ALONE seconds with nothing else run: what the fleet's services, the
database and haproxy carry on this machine before any playbook runs; where it already fails requests or answers
slowly, the operations' failed requests on that fleet measure the machine, and the report says so);
then, --linear-reps times, the same engine comparison (ANSIBLE_STRATEGY=linear: ansible's own strategy, without
ansible.cfg's Mitogen):
  upgrade-linear, rollback-linear, diagnose-linear   as upgrade, rollback and diagnose above
then, as baselines on the same lab under the same load:
  bare-swap   bench/bare-swap.yml v1.1.0: only what ansistrano's download_unarchive strategy does
  runbook-rb  bench/runbook-rollback.sh: the runbook's own manual rollback (section 6.1), one host after another
and, without load, the work no deploy can avoid (the floor): pg_dump -Fc and a full pg_restore read of the same
database, download + checksum + unpack of the artifact on an app host, the service's start-to-ready time, and the
v1.1.0 migration (run in a transaction that is rolled back); and, in no ratio, what any playbook pays before its
first task's work: `ansible app -m ping` (start, inventory, a connection to every app host, one module call).

Writes build/bench/results.json (every run, its 12 slowest tasks, its prober summary, the machine's cores and load),
results.md (the table, the ratios, the costs per batch and per host) and results.png (wall time against fleet size,
the floor drawn).
Each run's wall time is reported beside its failed requests; a failed run stops the bench (its output is kept in
build/bench/logs/).

The playbooks and the runbook's script run at nice AI_CS_LOAD_NICE (10), as the tests' runs under load do
(tests/labutil.py says why): the controller shares the lab's cores, and at nice 0 the kernel weighs each of its
processes as much as all the lab's containers together, so the fleet's failed requests measured the controller's
weight on this machine, not the operation. In production the controller is another machine.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import ansible.module_utils  # noqa: E402

ansible.module_utils.__path__.append(str(ROOT / "module_utils"))  # the project's module_utils, as ansible loads them

from ansible.module_utils.ai_cs_plan import batches as pipeline_batches  # noqa: E402 - the pipeline's own rule
from ansible_run import json_document  # noqa: E402 - the tests' helpers, one level up
from labutil import DB_PSQL, ENV, LOAD_NICE, NICE, in_host, run, scheduled_diagnose, under_load  # noqa: E402

OLD, NEW = "v1.0.0", "v1.1.0"
DB = "ai_customer_service"
INSTALL = "/opt/ai-customer-service"
OPERATIONS = [
    "upgrade",
    "upgrade-b",
    "no-op",
    "config",
    "config-rb",
    "rollback",
    "rollback-nb",
    "diagnose",
    "bare-swap",
    "runbook-rb",
    "upgrade-linear",
    "rollback-linear",
    "diagnose-linear",
]
LABELS = {
    "upgrade": "deploy (upgrade)",
    "upgrade-b": "deploy (upgrade), --batch-b",
    "no-op": "deploy (same version)",
    "config": "deploy (config change)",
    "config-rb": "rollback (config only)",
    "rollback": "rollback (code, on disk)",
    "rollback-nb": "rollback (code, on disk), no safety backup",
    "diagnose": "diagnose",
    "bare-swap": "bare swap (ansistrano-like)",
    "runbook-rb": "runbook 6.1 by hand",
    "upgrade-linear": "deploy (upgrade), stock strategy",
    "rollback-linear": "rollback (code), stock strategy",
    "diagnose-linear": "diagnose, stock strategy",
}
# diagnose's last task, failing when a check failed (roles/diagnose/tasks/report.yml), as the JSON callback names it
DIAGNOSE_VERDICT = "diagnose : report | Fail when any check failed, naming them"
# the same playbook run with ansible's own linear strategy instead of ansible.cfg's (Mitogen)
LINEAR = {"upgrade-linear": "upgrade", "rollback-linear": "rollback", "diagnose-linear": "diagnose"}
# the upgrade's canary analysis: time spent watching on purpose (pipeline_canary_window), not work
CANARY_WATCH = "canary | Watch this batch's /metrics"
# each operation's floor: the irreducible steps it must take (ready: per batch, one host's start-to-ready)
FLOOR = {
    "upgrade": ("dump", "restore_read", "fetch", "migration", "ready"),
    "bare-swap": ("fetch", "ready"),
    "rollback": ("ready",),
    "rollback-nb": ("ready",),
    "config-rb": ("ready",),
    "config": ("ready",),
    "runbook-rb": ("ready",),
}
FLOOR["upgrade-b"] = FLOOR["upgrade"]  # the same upgrade, in other batches
PER_BATCH = {"ready"}
# the load alone: seconds of the prober with nothing else run, and the p99 latency (ms) above which the machine is
# taken as not carrying the load (the services' own answers take about 10 ms; a drained switch's retries stay below)
LOAD_ALONE, SLOW_P99_MS = 15, 1000


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def batches(spec: str, fleet: int) -> list[int]:
    """The switch's batch sizes for deploy_batch_size=spec over fleet hosts (as the pipeline's serial: runs them)."""
    sizes = pipeline_batches(spec, fleet)[0] or [1]
    out, left = [], fleet
    for size in sizes + [sizes[-1]] * fleet:
        if left <= 0:
            break
        out.append(min(size, left))
        left -= size
    return out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.calls = 0  # playbook runs so far (their logs are numbered)
        self.env: dict[str, str] = {}
        (self.out / "logs").mkdir(parents=True, exist_ok=True)
        self.results: dict = {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "settings": {"hosts": args.hosts, "reps": args.reps, "db_mb": args.db_mb, "batch": args.batch,
                         "batch_b": args.batch_b, "rate": args.rate, "webhook_share": 0.25,
                         "linear_reps": args.linear_reps,
                         "nice": LOAD_NICE},
            "runs": [],
            "floor": {},
            "lab": {},
        }  # fmt: skip

    # -- running things ------------------------------------------------------------------------------------------
    def playbook(
        self, path: str, *extra: str, strategy: str | None = None, verdict: str = "", **variables: object
    ) -> tuple[float, dict]:
        """ansible-playbook with the JSON callback; (wall seconds, its tasks' profile). A failure stops the bench,
        except the task named verdict failing alone (diagnose's "a check failed": the run did its work, and what it
        found goes into the profile as verdict)."""
        env = {**ENV, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", **self.env}
        if strategy:
            env["ANSIBLE_STRATEGY"] = strategy
        cmd = [*NICE, "ansible-playbook", path, "-e", json.dumps(variables), *extra]
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False)
        seconds = time.monotonic() - started
        self.calls += 1
        name = f"{self.calls:03d}-{Path(path).stem}.json"
        (self.out / "logs" / name).write_text(proc.stdout + proc.stderr)
        try:
            document = json_document(proc.stdout, proc.stderr)
        except (AssertionError, ValueError):  # no JSON document: a run that broke before or while it printed
            document = None
        found = verdict_of(document, verdict) if proc.returncode != 0 else None
        if document is None or (proc.returncode != 0 and found is None):
            raise SystemExit(f"bench: {' '.join(cmd)} failed ({proc.returncode}); its output: {self.out}/logs/{name}")
        return seconds, profile(document) | ({"verdict": found} if found is not None else {})

    def measured(self, fleet: int, operation: str, rep: int, action) -> dict:
        """action() under the prober; recorded (and returned) with its wall time, its slowest tasks and the failed
        requests."""
        directory = self.out / "logs" / f"n{fleet}-{operation}-{rep}"
        directory.mkdir(parents=True, exist_ok=True)
        load_before, pressure_before = os.getloadavg()[0], cpu_pressure()
        with under_load(operation, directory, rate=self.args.rate) as load:
            seconds, tasks = action()
        probe = {k: load.get(k) for k in ("requests", "ok", "failed", "failed_by_cause", "latency_ms", "versions")}
        probe["outage_seconds"] = round(sum(w["seconds"] for w in load.get("outage_windows", [])), 2)
        entry = {
            "hosts": fleet, "operation": operation, "rep": rep, "seconds": round(seconds, 2), "tasks": tasks,
            "load": probe, "loadavg_before": round(load_before, 2), "cpu_pressure_before": pressure_before,
        }  # fmt: skip
        self.results["runs"].append(entry)
        log(f"N={fleet} {operation:<10} #{rep}: {seconds:6.1f} s, {probe['failed']} of {probe['requests']} failed")
        self.save()
        return entry

    def save(self) -> None:
        (self.out / "results.json").write_text(json.dumps(self.results, indent=2, sort_keys=True) + "\n")

    # -- the lab -------------------------------------------------------------------------------------------------
    def lab(self, fleet: int) -> None:
        self.env = {"AI_CS_LAB_APP_HOSTS": str(fleet)}
        log(f"lab with {fleet} app hosts")
        started = time.monotonic()
        self.playbook("playbooks/lab.yml")
        self.results["lab"][str(fleet)] = {"up_seconds": round(time.monotonic() - started, 1)}
        scheduled_diagnose(on=False)  # its runs would land in the measurements (started again when the bench ends)
        # every app host on v1.0.0 with the lab's settings (new hosts get their first deploy; a shrunk fleet's
        # hosts are already there)
        self.playbook("playbooks/deploy.yml", version=OLD)
        self.fill()

    def fill(self) -> None:
        """The database to --db-mb: bench_fill rows of random text (compresses about as a message table does)."""
        target = self.args.db_mb * 1024 * 1024
        size = int(self.db_sql("SELECT pg_database_size(current_database())"))
        if size < target * 0.95:
            rows = int((target - size) / 1100)  # ~1 KB of text per row plus its header
            log(f"filling {DB} from {size >> 20} MB to {self.args.db_mb} MB ({rows} rows)")
            self.db_sql(
                "CREATE TABLE IF NOT EXISTS bench_fill (id bigserial PRIMARY KEY, body text NOT NULL);"
                "ALTER TABLE bench_fill OWNER TO ai_cs;"
                f"INSERT INTO bench_fill (body) SELECT string_agg(md5(random()::text), ' ') FROM "
                f"generate_series(1, {rows}) g, generate_series(1, 30) p GROUP BY g;"
            )
            self.db_sql("VACUUM ANALYZE bench_fill")  # psql -c runs one string as one transaction
        self.results["db_bytes"] = int(self.db_sql("SELECT pg_database_size(current_database())"))

    @staticmethod
    def db_sql(query: str) -> str:
        return in_host("ai-cs-db", *DB_PSQL, "-tAq", "-c", query).strip()

    # -- the floor -----------------------------------------------------------------------------------------------
    def floor(self, fleet: int) -> None:
        """The irreducible work, measured on this lab without load (median of reps)."""
        app = "ai-cs-app1"
        tarball = f"ai-customer-service-{NEW}-linux-amd64.tar.gz"
        steps = {
            "dump": ("ai-cs-db", "runuser -u postgres -- pg_dump -p 5434 -Fc -f /tmp/bench.pgc " + DB),
            "restore_read": ("ai-cs-db", "pg_restore --file=/dev/null /tmp/bench.pgc"),
            "fetch": (app, f"rm -rf /tmp/bench-fetch && mkdir /tmp/bench-fetch && cd /tmp/bench-fetch && "
                           f"curl -sfO http://ai-cs-artifacts:8000/{tarball} && "
                           f"curl -sf http://ai-cs-artifacts:8000/SHA256SUMS | grep ' {tarball}$' | sha256sum -c - "
                           f">/dev/null && tar -xzf {tarball}"),
            "ready": (app, "systemctl restart ai-customer-service && "
                           "until curl -sf -o /dev/null http://127.0.0.1:8080/ready; do sleep 0.05; done"),
        }  # fmt: skip
        figures: dict[str, list[float]] = {name: [] for name in [*steps, "migration", "ansible_ping"]}
        migration = (ROOT / "service/db/migration/0002_ticket_priority.up.sql").read_text()
        for _ in range(self.args.reps):
            for name, (host, script) in steps.items():
                started = time.monotonic()
                in_host(host, "bash", "-c", f"set -euo pipefail; {script}")
                figures[name].append(time.monotonic() - started)
            # v1.1.0's migration on a schema without it, rolled back: the same ALTERs and index on the same rows
            started = time.monotonic()
            self.db_sql(
                "BEGIN; ALTER TABLE cs_tickets DROP COLUMN IF EXISTS priority;"
                "ALTER TABLE cs_messages DROP COLUMN IF EXISTS content_length;"
                "DROP INDEX IF EXISTS cs_tickets_status_priority_idx;" + migration + "ROLLBACK;"
            )
            figures["migration"].append(time.monotonic() - started)
            started = time.monotonic()
            run("ansible", "app", "-m", "ansible.builtin.ping")
            figures["ansible_ping"].append(time.monotonic() - started)
        in_host("ai-cs-db", "rm", "-f", "/tmp/bench.pgc")
        in_host(app, "rm", "-rf", "/tmp/bench-fetch")
        self.results["floor"][str(fleet)] = {k: round(statistics.median(v), 3) for k, v in figures.items()}
        log(f"N={fleet} floor: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.results["floor"][str(fleet)].items()))

    # -- one fleet size ------------------------------------------------------------------------------------------
    def fleet(self, fleet: int) -> None:
        self.lab(fleet)
        self.floor(fleet)
        alone = self.measured(fleet, "load-alone", 1, self.sleep_under_load)["load"]
        if not carried(alone):
            log(
                f"N={fleet}: this machine does not carry {self.args.rate:g} requests/s with {fleet} app hosts and "
                f"nothing else running ({alone['failed']} failed, p99 {alone['latency_ms']['p99']} ms): failed "
                "requests below measure the machine, not the operations (a lower --rate, or a faster machine)"
            )
        batch = ["-e", f"deploy_batch_size={self.args.batch}"]
        # each operation's playbook run; the stock-strategy rows (LINEAR) run the same ones with strategy="linear"
        plays = {
            "upgrade": ("playbooks/deploy.yml", batch, {"version": NEW}),
            "no-op": ("playbooks/deploy.yml", batch, {"version": NEW}),
            "config": ("playbooks/deploy.yml", batch, {"version": NEW, "ai_cs_log_level": "debug"}),
            "config-rb": ("playbooks/rollback.yml", batch, {"version": NEW, "config_only": True}),
            "rollback": ("playbooks/rollback.yml", batch, {"version": OLD}),
            "diagnose": ("playbooks/diagnose.yml", [], {}),
            # back to v1.1.0 (not timed), then the rollback above without its safety backup
            "forward": ("playbooks/rollback.yml", batch, {"version": NEW, "rollback_backup": False}),
            "rollback-nb": ("playbooks/rollback.yml", batch, {"version": OLD, "rollback_backup": False}),
            # the upgrade with the other batches, then back to v1.0.0 (not timed) for the next rep's upgrade
            "upgrade-b": ("playbooks/deploy.yml", ["-e", f"deploy_batch_size={self.args.batch_b}"], {"version": NEW}),
            "back": ("playbooks/rollback.yml", batch, {"version": OLD, "rollback_backup": False}),
        }
        if not self.args.batch_b:
            del plays["upgrade-b"], plays["back"]
        only = self.args.only

        def action(operation: str, strategy: str | None = None):
            path, extra, variables = plays[operation]
            # diagnose exits non-zero when it finds a failed check, which a lab under load can give it (a slow
            # /live, the journal's statement timeouts): timed all the same, and what it found is recorded
            verdict = DIAGNOSE_VERDICT if path.endswith("diagnose.yml") else ""
            return lambda: self.playbook(path, *extra, strategy=strategy, verdict=verdict, **variables)

        for rep in range(1, self.args.reps + 1):
            order = list(plays)
            if rep % 2 == 0:  # every other rep the rollback without its backup runs first, right after the upgrade,
                # so that neither variant always follows the same operation (an upgrade leaves the machine busier)
                first, second = order.index("rollback"), order.index("rollback-nb")
                order[first], order[second] = "rollback-nb", "rollback"
            untimed = {"forward": "rollback-nb", "back": "upgrade-b"}  # run for the operation they set up
            for operation in order:
                if operation in untimed and (not only or untimed[operation] in only):
                    action(operation)()
                elif operation not in untimed and (not only or operation in only):
                    if operation in ("upgrade", "upgrade-b"):
                        self.at_old(batch)  # with --only, the operation before may not have gone back
                    self.measured(fleet, operation, rep, action(operation))
        if only:  # the operations asked for, alone
            return
        for rep in range(1, self.args.linear_reps + 1):  # from v1.0.0 (the rollback above), back to it
            for operation, base in LINEAR.items():
                self.measured(fleet, operation, rep, action(base, "linear"))
        for rep in range(1, self.args.reps + 1):
            self.measured(fleet, "bare-swap", rep, lambda: self.playbook("bench/bare-swap.yml", version=NEW))
            self.measured(fleet, "runbook-rb", rep, self.runbook_rollback)

    def at_old(self, batch: list[str]) -> None:
        """Back to v1.0.0 (untimed) unless the first app host serves it already: an upgrade is timed from there."""
        if in_host("ai-cs-app1", "readlink", f"{INSTALL}/current", check=False).strip() != f"releases/{OLD}":
            log(f"back to {OLD} first (not timed)")
            self.playbook("playbooks/rollback.yml", *batch, version=OLD, rollback_backup=False)

    @staticmethod
    def sleep_under_load() -> tuple[float, dict]:
        time.sleep(LOAD_ALONE)
        return LOAD_ALONE, {}

    def runbook_rollback(self) -> tuple[float, dict]:
        started = time.monotonic()
        apps = json.loads((ROOT / "build/lab-ssh/lab.json").read_text())["app_hosts"]
        run(*NICE, "bench/runbook-rollback.sh", OLD, *apps)
        return time.monotonic() - started, {}

    def main(self) -> bool:
        try:
            for fleet in self.args.hosts:
                self.fleet(fleet)
        finally:
            scheduled_diagnose(on=True)
        self.results["ended"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        self.save()
        return report(self.results, self.out)


def machine() -> dict:
    mem = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {
        "cores": os.cpu_count(),
        "cpu": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), platform.processor()),
        "mem_gb": round(int(mem["MemTotal"].split()[0]) / 1024**2, 1),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_pressure_start": cpu_pressure(),
        "kernel": platform.release(),
        "ansible_forks": 10,
        "ansible_strategy": strategy(),
    }  # fmt: skip


def cpu_pressure() -> dict[str, float] | None:
    """The kernel's CPU pressure (/proc/pressure/cpu, "some": the share of time runnable tasks waited for a core, over
    10, 60 and 300 s): a shared or throttled machine shows here when the load average does not."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    fields = dict(field.split("=") for field in line.split()[1:])
    return {key: float(fields[key]) for key in ("avg10", "avg60", "avg300") if key in fields}


def strategy() -> str:
    """The strategy the playbooks run with: ANSIBLE_STRATEGY, else ansible.cfg's."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "ansible.cfg")
    return os.environ.get("ANSIBLE_STRATEGY") or parser.get("defaults", "strategy", fallback="linear")


def canary_watch(run: dict) -> float:
    """Seconds an upgrade spent in the canary's watch window (0 when it had none: one app host, or no canary)."""
    return sum(t["seconds"] for t in run.get("tasks", {}).get("slowest", []) if CANARY_WATCH in t["task"])


def failures(document: dict) -> list[tuple[str, str]]:
    """(task name, message) of every host's failed task, in the order they ran."""
    return [
        (task["task"]["name"], str(result.get("msg", "")))
        for play in document.get("plays", [])
        for task in play.get("tasks", [])
        for result in task.get("hosts", {}).values()
        if result.get("failed")
    ]


def carried(load: dict) -> bool:
    """Whether the prober's run saw every request answered, the slowest in SLOW_P99_MS."""
    return not load["failed"] and (load["latency_ms"]["p99"] or 0) <= SLOW_P99_MS


def verdict_of(document: dict | None, verdict: str) -> str | None:
    """The verdict task's message when it is the only task that failed, on any host; else None."""
    failed = failures(document) if document else []
    if verdict and failed and all(task == verdict for task, _ in failed):
        return failed[0][1][:500]
    return None


def profile(document: dict, keep: int = 12) -> dict:
    """How many tasks ran, their wall time together, and the slowest (a task's first start to its last end, over its
    hosts; a task run in several plays or batches adds up), as the timing callback would list them."""
    spent: dict[str, float] = {}
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            duration = task["task"].get("duration", {})
            if "start" in duration and "end" in duration:
                start = datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
                name = task["task"]["name"] or "(unnamed)"
                spent[name] = spent.get(name, 0.0) + (end - start).total_seconds()
    ran = sum(len(play.get("tasks", [])) for play in document.get("plays", []))
    top = sorted(spent.items(), key=lambda item: -item[1])[:keep]
    return {
        "count": ran,
        "seconds": round(sum(spent.values()), 1),
        "slowest": [{"task": name, "seconds": round(seconds, 2)} for name, seconds in top],
    }


# -- the report --------------------------------------------------------------------------------------------------
def summarize(results: dict) -> dict[str, dict[int, dict]]:
    """operation -> hosts -> {median, min, max, failed, requests, outage}."""
    table: dict[str, dict[int, dict]] = {}
    for entry in results["runs"]:
        empty = {"s": [], "failed": 0, "req": 0, "outage": 0.0, "verdicts": 0}
        cell = table.setdefault(entry["operation"], {}).setdefault(entry["hosts"], empty)
        cell["s"].append(entry["seconds"])
        cell["verdicts"] += "verdict" in entry.get("tasks", {})
        cell["failed"] += entry["load"]["failed"] or 0
        cell["req"] += entry["load"]["requests"] or 0
        cell["outage"] = max(cell["outage"], entry["load"]["outage_seconds"])
    for per_host in table.values():
        for cell in per_host.values():
            cell.update(median=statistics.median(cell["s"]), min=min(cell["s"]), max=max(cell["s"]))
    return table


def _spec(results: dict, operation: str) -> str:
    """The deploy_batch_size the operation's runs switched with."""
    return results["settings"]["batch_b"] if operation == "upgrade-b" else results["settings"]["batch"]


def floor_of(results: dict, operation: str, fleet: int) -> float | None:
    """The operation's irreducible seconds on that fleet (per-batch steps times the number of batches)."""
    figures = results["floor"].get(str(fleet))
    if operation not in FLOOR or not figures:
        return None
    runs = len(batches(_spec(results, operation), fleet))
    if operation in ("bare-swap", "runbook-rb"):
        runs = fleet  # one host at a time
    return sum(figures[step] * (runs if step in PER_BATCH else 1) for step in FLOOR[operation])


Span = tuple[float, float, float]  # (median, low, high)


def _seconds(table: dict, operation: str, fleet: int) -> Span:
    cell = table[operation][fleet]
    return cell["median"], cell["min"], cell["max"]


def per_batch_cost(results: dict, table: dict) -> tuple[Span, str] | None:
    """The upgrade's seconds per batch, measured at one fleet size: the two batch settings' upgrades differ there by
    their batches only. The largest fleet where their batch counts differ; low and high from the runs' spread (the
    fastest of one less the slowest of the other, and the other way). None when no fleet tells."""
    both = sorted(set(table.get("upgrade", {})) & set(table.get("upgrade-b", {})), reverse=True)
    for fleet in both:
        (a, b) = (len(batches(_spec(results, op), fleet)) for op in ("upgrade", "upgrade-b"))
        if a == b:
            continue
        (more, fewer) = ("upgrade", "upgrade-b") if a > b else ("upgrade-b", "upgrade")
        m, f, extra = _seconds(table, more, fleet), _seconds(table, fewer, fleet), abs(a - b)
        span = ((m[0] - f[0]) / extra, (m[1] - f[2]) / extra, (m[2] - f[1]) / extra)
        return span, f"N={fleet}: {max(a, b)} batches against {min(a, b)}"
    return None


def per_host_cost(results: dict, table: dict) -> tuple[Span, str, str, int] | None:
    """The upgrade's seconds per host, measured between two fleet sizes that one batch setting switches in as many
    batches (canary,100%: two, from 2 hosts on): the widest such pair of either setting. Returns the span, how it was
    measured, and the operation and fleet the estimate starts from (the larger of the pair). None when none tells."""
    best = None
    for operation in ("upgrade-b", "upgrade"):
        fleets = sorted(table.get(operation, {}))
        for small in fleets:
            for large in fleets:
                same = len(batches(_spec(results, operation), small)) == len(batches(_spec(results, operation), large))
                if large > small and same and (best is None or large - small > best[2] - best[1]):
                    best = (operation, small, large)
    if best is None:
        return None
    operation, small, large = best
    hi, lo, added = _seconds(table, operation, large), _seconds(table, operation, small), large - small
    span = ((hi[0] - lo[0]) / added, (hi[1] - lo[2]) / added, (hi[2] - lo[1]) / added)
    how = f"{LABELS[operation]} ({_spec(results, operation)}), N={small} against N={large}, as many batches"
    return span, how, operation, large


def costs(results: dict, table: dict) -> list[str]:
    """The report's section on what a batch and a host cost, measured apart, and the estimate for large fleets they
    give, labelled as the bound it is."""
    batch, host = per_batch_cost(results, table), per_host_cost(results, table)
    if batch is None or host is None:
        missing = "per batch (two batch settings at one fleet size: --batch-b)" if batch is None else (
            "per host (two fleet sizes one setting switches in as many batches)")  # fmt: skip
        return ["", f"Costs per batch and per host: not measured, no runs tell the cost {missing}."]
    (b, b_how), (h, h_how, start, fleet) = batch, host
    base = _seconds(table, start, fleet)
    lines = [
        "",
        "Costs measured apart (deploy, upgrade; median, and low-high from the fastest and slowest runs):",
        "",
        f"- per batch: **{b[0]:.1f} s** ({b[1]:.1f} to {b[2]:.1f}), {b_how}, the difference over the batches added",
        f"- per host: **{h[0]:.2f} s** ({h[1]:.2f} to {h[2]:.2f}), {h_how}",
        "",
        f"Estimate for larger fleets, from {LABELS[start]} at N={fleet} ({base[0]:.1f} s) plus those costs for the "
        "batches and hosts added. **A bound, not a prediction**: it holds only while nothing but the batches and the "
        "hosts grows (the controller keeps up, with forks at least the largest batch; the database's dump, haproxy "
        "and Alertmanager do not slow with the fleet), which N <= "
        f"{max(table[start])} cannot show; the high end takes every cost at its slowest.",
        "",
    ]
    for size, spec in ((100, "canary,10%"), (100, "canary,25%"), (1000, "canary,10%"), (1000, "canary,25%")):
        sizes = batches(spec, size)
        added_batches = len(sizes) - len(batches(_spec(results, start), fleet))
        estimate = [base[i] + b[i] * added_batches + h[i] * (size - fleet) for i in range(3)]
        lines.append(
            f"- {size} app hosts, deploy_batch_size={spec} ({len(sizes)} batches, the largest {max(sizes)} hosts): "
            f"**{estimate[0] / 60:.1f} min** ({estimate[1] / 60:.1f} to {estimate[2] / 60:.1f})"
        )
    return lines


def load_alone(results: dict, fleets: list[int]) -> list[str]:
    """The load-alone runs, one line, and a warning naming the fleets where the machine did not carry the load."""
    alone = {r["hosts"]: r["load"] for r in results["runs"] if r["operation"] == "load-alone"}
    if not alone:
        return []
    figures = "; ".join(
        f"N={n}: {alone[n]['failed']}/{alone[n]['requests']} failed, latency p50 {alone[n]['latency_ms']['p50']} ms, "
        f"p99 {alone[n]['latency_ms']['p99']} ms" for n in fleets if n in alone
    )  # fmt: skip
    lines = ["", f"The load alone ({LOAD_ALONE} s of the prober, nothing else run): {figures}"]
    short = [str(n) for n in fleets if n in alone and not carried(alone[n])]
    if short:
        lines += ["", f"**At N = {', '.join(short)} this machine did not carry the load with nothing else running "
                  f"(a request failed, or p99 above {SLOW_P99_MS} ms): the failed requests at those N measure the "
                  "machine, not the operations.**"]  # fmt: skip
    return lines


def where_the_time_goes(results: dict, fleets: list[int]) -> list[str]:
    """Per playbook operation, on the fleet of 2 (else the smallest): the run of median wall time, its task count and
    its five slowest tasks."""
    fleet = 2 if 2 in fleets else fleets[0]
    lines = ["", f"Where the time goes (N={fleet}, the run of median wall time): tasks run, then the slowest five.", ""]
    for operation in OPERATIONS:
        runs = sorted((r for r in results["runs"] if r["operation"] == operation and r["hosts"] == fleet
                       and r.get("tasks", {}).get("count")), key=lambda r: r["seconds"])  # fmt: skip
        if not runs:
            continue
        median = runs[len(runs) // 2]
        slowest = "; ".join(f"{t['task']} {t['seconds']:.1f} s" for t in median["tasks"]["slowest"][:5])
        lines.append(f"- {LABELS[operation]}: {median['seconds']:.1f} s, {median['tasks']['count']} tasks. {slowest}")
    return lines


def time_cells(results: dict, row: dict, fleets: list[int]) -> list[str]:
    """One operation's cells of the wall-time table: median (min-max), failed requests, the longest outage."""
    cells = []
    for fleet in fleets:
        c = row.get(fleet)
        if not c:
            cells.append("")
            continue
        outage = f", outage {c['outage']:.1f} s" if c["outage"] else ""
        count = len(c["s"])
        runs = "" if count == results["settings"]["reps"] else f", {count} run" + "s" * (count > 1)
        found = f"; found failed checks in {c['verdicts']} of {count}" if c["verdicts"] else ""
        cells.append(
            f"**{c['median']:.1f}** ({c['min']:.1f}-{c['max']:.1f}{runs}); {c['failed']}/{c['req']} failed{outage}"
            f"{found}"
        )
    return cells


DIAGNOSE_BUDGET = 60.0  # seconds: the runbook's 60-second diagnostic (section 七)


def diagnose_budget(results: dict) -> tuple[list[str], bool]:
    """The slowest diagnose run (the project's strategy) of each fleet size against the runbook's 60 s: the report's
    lines, and whether every run kept within it (make bench exits 1 otherwise, once its report is written)."""
    slowest: dict[int, float] = {}
    for run_ in results["runs"]:
        if run_["operation"] == "diagnose":
            slowest[run_["hosts"]] = max(slowest.get(run_["hosts"], 0.0), run_["seconds"])
    if not slowest:
        return [], True
    over = {n: s for n, s in slowest.items() if s >= DIAGNOSE_BUDGET}
    verdict = (
        f"OVER {DIAGNOSE_BUDGET:.0f} s at " + ", ".join(f"N={n}" for n in sorted(over)) + ": the bench fails"
        if over
        else f"every run within {DIAGNOSE_BUDGET:.0f} s"
    )
    line = "The 60-second diagnostic (runbook section 七), the slowest run at each fleet size: " + ", ".join(
        f"N={n}: {s:.1f} s" for n, s in sorted(slowest.items())
    )
    return ["", f"{line}; {verdict}."], not over


def report(results: dict, out: Path) -> bool:
    """Writes results.md and results.png from results; False when a diagnose run went over the runbook's 60 s."""
    table = summarize(results)
    fleets = sorted({entry["hosts"] for entry in results["runs"]})
    head = "| operation | " + " | ".join(f"N={n}" for n in fleets) + " |"
    waited = (results["machine"].get("cpu_pressure_start") or {}).get("avg300")
    pressure = f" (runnable tasks waited for a core {waited:.0f} % of the 5 min before)" if waited is not None else ""
    lines = [
        f"Measured {results['started']} on {results['machine']['cores']} cores ({results['machine']['cpu']}), "
        f"load {results['machine']['loadavg_start'][0]} at the start{pressure}; "
        f"database {results.get('db_bytes', 0) >> 20} MB; "
        f"deploy_batch_size={results['settings']['batch']} (--batch-b {results['settings'].get('batch_b') or 'none'}); "
        f"under {results['settings']['rate']:g} requests/s; "
        f"the playbooks at nice {results['settings'].get('nice', 0)}. "
        "Wall seconds, median of "
        f"{results['settings']['reps']} (min-max), then failed requests of all runs / requests, the longest outage.",
        "",
        head,
        "|---|" + "---|" * len(fleets),
    ]
    lines += [f"| {LABELS[op]} | " + " | ".join(time_cells(results, table[op], fleets)) + " |"
              for op in OPERATIONS if op in table]  # fmt: skip
    lines += load_alone(results, fleets)
    budget, within = diagnose_budget(results)
    lines += budget
    lines += [
        "",
        "Ratios: wall time (median) over the floor (the irreducible work of that operation on that fleet).",
        "",
    ]
    lines += [head, "|---|" + "---|" * len(fleets)]
    for operation in OPERATIONS:
        if operation not in table or operation not in FLOOR:
            continue
        cells = []
        for fleet in fleets:
            c, floor = table[operation].get(fleet), floor_of(results, operation, fleet)
            cells.append(f"{c['median'] / floor:.1f}x (floor {floor:.1f} s)" if c and floor else "")
        lines.append(f"| {LABELS[operation]} | " + " | ".join(cells) + " |")
    watched = [(n, statistics.median(r["seconds"] - canary_watch(r) for r in results["runs"]
                                     if r["operation"] == "upgrade" and r["hosts"] == n)) for n in fleets
               if n in table.get("upgrade", {}) and floor_of(results, "upgrade", n)]  # fmt: skip
    if watched:
        lines += ["", "Deploy (upgrade) less the canary's watch window (pipeline_canary_window: time spent watching on "
                  "purpose, not work), over its floor: " + ", ".join(
                      f"N={n}: {s:.1f} s, {s / floor_of(results, 'upgrade', n):.1f}x" for n, s in watched)]  # fmt: skip
    # (results before 2026-12-07 also recorded each fleet's batches there)
    lines += ["", "Floor per fleet (median seconds): " + "; ".join(
        f"N={n}: " + ", ".join(f"{k} {v:.2f}" for k, v in results["floor"][str(n)].items() if k != "batches")
        for n in fleets if str(n) in results["floor"])]  # fmt: skip
    if "upgrade" in table and "bare-swap" in table:
        ratios = [f"N={n}: {table['upgrade'][n]['median'] / table['bare-swap'][n]['median']:.2f}x"
                  for n in fleets if n in table["upgrade"] and n in table["bare-swap"]]  # fmt: skip
        lines += ["", "Full deploy over the bare swap: " + ", ".join(ratios)]
    engine = [f"{LABELS[base]} N={n}: {table[base][n]['median'] / table[linear][n]['median']:.2f}x"
              for linear, base in LINEAR.items() if linear in table and base in table
              for n in fleets if n in table[linear] and n in table[base]]  # fmt: skip
    if engine:
        lines += ["", f"Mitogen ({results['machine'].get('ansible_strategy', '?')}) over the stock strategy, the same "
                  "playbook on the same lab (median over median): " + ", ".join(engine)]  # fmt: skip
    if "upgrade" in table and len(fleets) > 1:
        lines += ["", f"Deploy on N={fleets[-1]} over N={fleets[0]}: "
                  f"{table['upgrade'][fleets[-1]]['median'] / table['upgrade'][fleets[0]]['median']:.2f}x"]  # fmt: skip
    lines += where_the_time_goes(results, fleets)
    lines += costs(results, table)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    plot(results, table, fleets, out / "results.png")
    print("\n".join(lines))
    log(f"wrote {out}/results.json, results.md and results.png")
    return within


def plot(results: dict, table: dict, fleets: list[int], path: Path) -> list[str]:
    """Small multiples, one panel per operation (its stock-strategy runs beside it, dashed): wall seconds (median,
    min-max) against app hosts, its floor where it has one, and the requests that failed during it (hatched bars in
    the series' colour, right axis: failed of all requests sent, per cent). Returns the panels' operations."""
    import matplotlib  # noqa: PLC0415 - only the report needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels = [op for op in OPERATIONS if op in table and op not in LINEAR]
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.3 * rows), squeeze=False)
    linear_of = {base: linear for linear, base in LINEAR.items()}
    for axes, operation in zip(grid.flat, panels, strict=False):
        series = [(operation, "-", "C0", "wall time")]
        if linear_of.get(operation) in table:
            series = [(operation, "-", "C0", "ansible.cfg's strategy (Mitogen)"),
                      (linear_of[operation], "--", "C1", "ansible's own linear")]  # fmt: skip
        for name, style, colour, label in series:
            ns = [n for n in fleets if n in table[name]]
            med = [table[name][n]["median"] for n in ns]
            err = [[m - table[name][n]["min"] for m, n in zip(med, ns, strict=True)],
                   [table[name][n]["max"] - m for m, n in zip(med, ns, strict=True)]]  # fmt: skip
            axes.errorbar(ns, med, yerr=err, marker="o", capsize=3, linestyle=style, color=colour, label=label)
        floors = [(n, floor_of(results, operation, n)) for n in fleets if n in table[operation]]
        if any(f for _, f in floors):
            axes.plot([n for n, f in floors if f], [f for _, f in floors if f], "k:", marker="x", label="floor")
        failed, highest = axes.twinx(), 1.0
        for offset, (name, _style, colour, _label) in zip((0.87, 1.15), series, strict=False):
            ns = [n for n in fleets if n in table[name]]
            share = [100 * table[name][n]["failed"] / max(table[name][n]["req"], 1) for n in ns]
            at = [n * offset if len(series) > 1 else n for n in ns]
            failed.bar(at, share, width=[n * 0.25 for n in ns], color=colour, alpha=0.3, hatch="//")
            highest = max(highest, *share)
        failed.set_ylim(0, highest * 1.2)
        failed.set_ylabel("failed requests %", color="C3", fontsize=8)
        failed.tick_params(axis="y", labelcolor="C3", labelsize=7)
        axes.set_xscale("log", base=2)
        axes.set_xticks(fleets, [str(n) for n in fleets])
        axes.set_ylim(bottom=0)
        axes.set_title(LABELS[operation], fontsize=9)
        axes.set_xlabel("app hosts", fontsize=8)
        axes.set_ylabel("wall s (median, min-max)", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=6, loc="upper left")
    for axes in list(grid.flat)[len(panels) :]:
        axes.set_visible(False)
    figure.suptitle(f"ai-customer-service on the lab ({results['machine']['cores']} cores), batches "
                    f"{results['settings']['batch']}, under {results['settings']['rate']:g} requests/s",
                    fontsize=10)  # fmt: skip
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return panels


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default=os.environ.get("BENCH_HOSTS", "1,2,4,8"), help="fleet sizes, 1-16")
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", "3")), help="runs of each")
    parser.add_argument("--db-mb", type=int, default=int(os.environ.get("BENCH_DB_MB", "200")), help="database size")
    parser.add_argument("--batch", default=os.environ.get("BENCH_BATCH", "canary,25%"), help="deploy_batch_size")
    parser.add_argument(
        "--batch-b",
        default=os.environ.get("BENCH_BATCH_B", "canary,100%"),
        help="the upgrade's second deploy_batch_size (upgrade-b: the cost per batch and per host, measured apart); "
        "empty: none",
    )
    parser.add_argument("--rate", type=float, default=50, help="the prober's requests per second")
    parser.add_argument(
        "--linear-reps",
        type=int,
        default=int(os.environ.get("BENCH_LINEAR_REPS", "1")),
        help="runs of upgrade, rollback and diagnose with ansible's own linear strategy (0: none)",
    )
    parser.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ""),
        help="the playbook operations to time, by name (e.g. upgrade,rollback,rollback-nb: the rollback's backup "
        "with and without); none of the linear and baseline runs. Default: all",
    )
    parser.add_argument("--out", default=str(ROOT / "build/bench"), help="where results go")
    parser.add_argument("--report-only", action="store_true", help="write the table and plot from results.json")
    args = parser.parse_args(argv)
    try:
        args.hosts = [int(n) for n in str(args.hosts).split(",")]
    except ValueError:
        parser.error(f"--hosts must be numbers separated by commas, got {args.hosts!r}")
    if (
        not all(1 <= n <= 16 for n in args.hosts)
        or not 1 <= args.reps <= 20
        or not 1 <= args.db_mb <= 8192
        or not 0 <= args.linear_reps <= 20
    ):
        parser.error("--hosts take 1-16 each, --reps 1-20, --linear-reps 0-20, --db-mb 1-8192")
    args.only = [o for o in str(args.only).split(",") if o]
    if unknown := [o for o in args.only if o not in OPERATIONS or o in LINEAR or o in ("bare-swap", "runbook-rb")]:
        parser.error(f"--only takes playbook operations ({', '.join(OPERATIONS[:7])}), got {', '.join(unknown)}")
    for flag, spec in (("--batch", args.batch), ("--batch-b", args.batch_b)):
        problems = [pipeline_batches(spec, n)[1] for n in args.hosts] if spec or flag == "--batch" else []
        if any(problems):
            parser.error(f"{flag} is a deploy_batch_size for every fleet size: {next(p for p in problems if p)}")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.report_only:
        within = report(json.loads((Path(args.out) / "results.json").read_text()), Path(args.out))
    else:
        within = Bench(args).main()
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
