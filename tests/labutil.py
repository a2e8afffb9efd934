"""Helpers for tests that drive the lab with the project's real playbooks."""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, quote_plus

from runbook import openssl_signature

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
APP_HOSTS = ["ai-cs-app1", "ai-cs-app2"]
MON = "ai-cs-mon"
HOSTS = ["ai-cs-db", *APP_HOSTS, "ai-cs-lb", "ai-cs-artifacts", MON]


def run(*cmd: str, check: bool = True, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            masked(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
        )
    return proc


def masked(text: str) -> str:
    """text with every lab secret replaced by [SECRET] (a failing test prints its commands, some carry one)."""
    if SECRETS.is_dir():
        for path in SECRETS.iterdir():
            for form in encoded_forms(secret(path.name)):
                text = text.replace(form, "[SECRET]")
    return text


def recap(output: str) -> dict[str, dict[str, int]]:
    rows = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.MULTILINE)
    return {h: {"ok": int(o), "changed": int(c), "unreachable": int(u), "failed": int(f)} for h, o, c, u, f in rows}


def in_host(host: str, *cmd: str, check: bool = True) -> str:
    return run("podman", "exec", host, *cmd, check=check).stdout


SCHEDULED_DIAGNOSE = "ai-cs-diagnose"  # its units on MON (inventories/lab/group_vars/diagnose_control.yml)


def scheduled_diagnose(on: bool) -> None:
    """Start (which runs it at once) or stop the scheduled diagnostic's timer on MON; stopped, a run already under way
    is waited for. Each run signs a webhook to every app host, a row in the database each, which the suites' row
    counts and the bench's measurements would see; the suites hold it for their session (scheduled_diagnose_held)."""
    in_host(MON, "systemctl", "start" if on else "stop", f"{SCHEDULED_DIAGNOSE}.timer", check=False)
    if not on:
        wait_for(
            "the scheduled diagnostic's run under way to end",
            lambda: (
                in_host(MON, "systemctl", "is-active", f"{SCHEDULED_DIAGNOSE}.service", check=False).strip()
                != "activating"
            ),
            120,
            interval=1,
        )


@contextlib.contextmanager
def scheduled_diagnose_held():
    """The scheduled diagnostic's timer stopped while the block runs, started again after."""
    scheduled_diagnose(on=False)
    try:
        yield
    finally:
        scheduled_diagnose(on=True)


def exists(host: str, path: str) -> bool:
    """Whether path exists on the lab host (test -e answers by its exit status, not its output)."""
    return run("podman", "exec", host, "test", "-e", path, check=False).returncode == 0


def wait_for(what: str, predicate, seconds: float = 30, interval: float = 0.5) -> None:
    """Poll until predicate() is true; fail naming what was awaited."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what}")
        time.sleep(interval)


SECRETS = ROOT / "inventories/lab/.secrets"


def secret(name: str) -> str:
    return (SECRETS / name).read_text().strip()


# The monitoring host's endpoints as this machine reaches them, and the account each answers: Prometheus and
# Alertmanager over TLS (the lab CA) as the pipeline's account, the recording pager as its own.
PROMETHEUS = "https://127.0.0.1:19090"
ALERTMANAGER = "https://127.0.0.1:19093"
PAGER = "http://127.0.0.1:19095"
LAB_CA = ROOT / "build/lab-ca/ca.crt"
ACCOUNTS = {PROMETHEUS: ("ai-cs-pipeline", "alertmanager_password"), PAGER: ("ai-cs-pager", "pager_password")}
ACCOUNTS[ALERTMANAGER] = ACCOUNTS[PROMETHEUS]


def monitoring(url: str, body: object = None, method: str | None = None, auth: bool = True) -> tuple[int, object]:
    """One call to Prometheus, Alertmanager or the pager (by url's base): (status, JSON or text answer), with the
    base's account unless auth is false; TLS checked against the lab CA. Status 0: no answer (not listening yet)."""
    base = next(b for b in ACCOUNTS if url.startswith(b))
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if auth:
        user, secret_file = ACCOUNTS[base]
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{secret(secret_file)}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, headers, method=method)
    context = ssl.create_default_context(cafile=str(LAB_CA)) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return 0, str(exc)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def encoded_forms(value: str) -> set[str]:
    """value as it can show up in output, logs and files: raw, percent-encoded (a DSN), form-encoded, JSON-escaped."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1]}
    return {form for form in forms if len(form) >= 8}


def leaked(*texts: str) -> list[str]:
    """The names of the lab's secrets (every file in inventories/lab/.secrets) that appear, in any encoded form, in
    any of the texts."""
    return [
        path.name
        for path in sorted(SECRETS.iterdir())
        if any(form in text for text in texts for form in encoded_forms(secret(path.name)))
    ]


def sql(query: str, host: str = "ai-cs-app1", sslmode: str = "verify-full") -> str:
    """psql from an app host with the service's own credentials, as the runbook's checklist does (over TLS, checking
    the database's certificate against the lab CA the deploys install)."""
    return in_host(
        host,
        "env",
        f"PGPASSWORD={secret('postgres_password')}",
        f"PGSSLMODE={sslmode}",
        "PGSSLROOTCERT=/etc/ssl/certs/ai-cs-postgres-ca.pem",
        "psql",
        "-h",
        "ai-cs-db",
        "-p",
        "5434",
        "-U",
        "ai_cs",
        "-d",
        "ai_customer_service",
        "-tAc",
        query,
    ).strip()


# As another run would have taken the deploy lock (in the table the role made at the first deploy); psql fills in
# the values (:'x').
HOLD_LOCK_SQL = """
DELETE FROM ai_cs_ops.deploy_lock;
INSERT INTO ai_cs_ops.deploy_lock (run_id, owner, taken_at, renewed_at, expires_at)
VALUES (:'run_id', :'owner', now() - interval '1 hour', now() - interval '1 minute',
        now() + make_interval(secs => :'expires_in'));
"""


# psql on the database host as PostgreSQL's superuser, over the local socket (fixtures and the bench's own tables)
DB_PSQL = [
    "runuser",
    "-u",
    "postgres",
    "--",
    "psql",
    "-p",
    "5434",
    "-d",
    "ai_customer_service",
    "-v",
    "ON_ERROR_STOP=1",
]


def as_superuser(query: str) -> str:
    """psql on the database host as its superuser, as a DBA works (objects the service's role does not own)."""
    return in_host("ai-cs-db", *DB_PSQL, "-qtAc", query).strip()


def hold_lock(run_id: str, who: str, expires_in: int, operation: str = "deploy") -> None:
    """Write the deploy lock as another run would have; expires_in < 0: its lease expired that many seconds ago."""
    owner = json.dumps({"run_id": run_id, "operation": operation, "version": "v1.0.0", "who": who, "since": "earlier"})
    variables = {"run_id": run_id, "owner": owner, "expires_in": str(expires_in)}
    psql = [*DB_PSQL, "-q", *(f"--set={k}={v}" for k, v in variables.items())]
    subprocess.run(["podman", "exec", "-i", "ai-cs-db", *psql], input=HOLD_LOCK_SQL, text=True, check=True)


def lock_holder() -> str:
    """The run id holding the deploy lock ('' when free, or before any run made the lock's table)."""
    found = sql("SELECT to_regclass('ai_cs_ops.deploy_lock') IS NOT NULL")
    return sql("SELECT coalesce(max(run_id), '') FROM ai_cs_ops.deploy_lock") if found == "t" else ""


def current(host: str) -> str:
    return in_host(host, "readlink", "/opt/ai-customer-service/current", check=False).strip()


def history(host: str, heals: bool = False) -> list[dict]:
    """The host's history: its deploys, rollbacks and resets; with heals=True, only the self-healing's records."""
    text = in_host(host, "cat", "/var/lib/ai-customer-service/history.jsonl", check=False)
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in records if (r.get("operation") == "heal") == heals]


TIMES: list[tuple[str, float]] = []  # wall time of every playbook run through playbook(), printed per module


def playbook(name: str, *extra: str, check: bool = True, **variables: object) -> subprocess.CompletedProcess:
    """Run playbooks/<name>.yml; variables go as one JSON extra var (key=value form splits on spaces)."""
    started = time.monotonic()
    args = ["-e", json.dumps(variables)] if variables else []
    proc = run(*(NICE if UNDER_LOAD else []), "ansible-playbook", f"playbooks/{name}.yml", *args, *extra, check=check)
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[-1].split(" ")[0]
    TIMES.append((f"{name} {variables.get('version', '')} ({test})", time.monotonic() - started))
    return proc


def print_times(title: str) -> None:
    print(f"\n{title}:")
    for what, seconds in TIMES:
        print(f"  {seconds:6.1f} s  {what}")
    TIMES.clear()
    if LOADS:
        print(
            f"under the prober ({LOAD_RATE:g} requests/s through haproxy, a quarter signed webhooks):\n"
            + "\n".join(LOADS)
        )
        LOADS.clear()


LOADS: list[str] = []  # the prober's summary of every run under load, printed per module
# Requests/s the suites' runs under load send (AI_CS_LOAD_RATE to change). At 20/s a request goes through haproxy
# every 50 ms, so a moment with no server in rotation (haproxy's checks run every 2 s) cannot pass unseen. At 50/s, on
# a 2-core machine about 2.8 times slower than those the suites were sized on (`ansible -m ping` 2.9 s of CPU against
# 1.08), the lab could not keep up while a playbook ran: a rollback under 50/s lost 1,783 of 5,000 requests (p99
# 8.4 s: requests queued past haproxy's checks of both app hosts and the prober's 10 s), the same rollback under
# 20/s none (p99 4.5 s); make test's runs under load lost 466-2,473 requests each at 50/s on that machine.
LOAD_RATE = float(os.environ.get("AI_CS_LOAD_RATE", "20"))
# The niceness of the playbooks run under load (AI_CS_LOAD_NICE; 0: none). In production the controller is another
# machine; in the lab it shares the cores with the hosts it deploys to, and the kernel weighs every process of the
# controller (in the root CPU cgroup) as much as all the lab's containers together (podman's cgroup, libpod_parent,
# one share of 1024): with its forks and ssh processes runnable, the app hosts, haproxy and PostgreSQL got a small
# part of the cores. On a slow machine (`ansible -m ping` 2.9 s of CPU) make test's upgrade under load lost 539 of
# 3,201 requests: both app hosts missed haproxy's checks for 5 s and /live for 10 s. At nice 10 each weighs 110: on
# that machine the same code rollback under load, two runs each, had p99 2.0 and 2.4 s at nice 0, 0.3 and 0.5 s at 10.
LOAD_NICE = int(os.environ.get("AI_CS_LOAD_NICE", "10"))
NICE = ["nice", "-n", str(LOAD_NICE)] if LOAD_NICE else []  # the prefix that runs a command at it (bench.py too)
UNDER_LOAD: list[str] = []  # what runs under load now (the prober's block is open)


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process goes (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


# Two labs can run at once (scripts/own-lab.sh; make test runs the image-mode suite on one). Their runs under load take
# turns on this machine-wide lock, so no zero-failed-requests assertion measures two labs' clients and switches at
# once, and so do the heaviest runs that put no load on a service (a lab brought up from nothing, the EE image
# built): in one make test run the one-app-host suite lost 1,028 of 1,403 requests, its database and ssh unanswered
# for 25 s, while the other lab was being brought up. It does not keep the other lab's other runs off the cores:
# beside the other lab's deploys, 95 of 11,276 requests failed (haproxy's checks of the host left serving timed out),
# and beside the other lab's suites, about 2,000 per upgrade: make test runs the two labs' suites one after the
# other.
LOAD_LOCK = Path("/run/ai-cs-under-load.lock")


@contextlib.contextmanager
def machine_turn(what: str):
    """Hold the machine-wide turn (LOAD_LOCK) while the block runs (a wait of a second or more is noted in LOADS)."""
    with LOAD_LOCK.open("a") as lock:
        waited = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)
        waited = time.monotonic() - waited
        if waited >= 1:
            LOADS.append(f"  ({what}: waited {waited:.0f} s for another lab's heavy run to end)")
        yield


def bring_up_lab(from_nothing: bool = True) -> None:
    """lab.yml (after lab-down.yml, from nothing) on the machine's turn: the heaviest run of all, another lab's run
    under load waits for it. The e2e suites' fixture and make test's labs of their own (scripts/test.sh) call it."""
    with machine_turn("the lab brought up"):
        if from_nothing:
            run("ansible-playbook", "playbooks/lab-down.yml")
        run("ansible-playbook", "playbooks/lab.yml")


@contextlib.contextmanager
def under_load(
    what: str,
    directory: Path,
    *,
    rate: float = LOAD_RATE,
    webhook_share: float = 0.25,
    get_path: str = "/live",
    url: str = "http://127.0.0.1:18081",
):
    """scripts/probe.py through haproxy (by default its internal frontend; GET /live, whose answers name their
    release, and signed webhooks, which write to the database) while the block runs;
    the dict it yields is filled with the prober's summary when the block ends."""
    with (
        machine_turn(what),
        _under_load(what, directory, rate=rate, webhook_share=webhook_share, get_path=get_path, url=url) as result,
    ):
        yield result


@contextlib.contextmanager
def _under_load(what: str, directory: Path, *, rate: float, webhook_share: float, get_path: str, url: str):
    summary = directory / "probe.json"
    probe = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts/probe.py"), "--url", url, "--rate", str(rate),
         "--duration", "900", "--webhook-share", str(webhook_share), "--timeout", "10", "--get-path", get_path,
         "--secret-file", str(SECRETS / "webhook_secret"), "--log", str(directory / "probe.jsonl"),
         "--summary", str(summary)],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only, no lock taken; a killed run must not leave load
    )  # fmt: skip
    result: dict = {}
    started = time.time()
    UNDER_LOAD.append(what)
    try:
        yield result
    finally:
        UNDER_LOAD.remove(what)
        probe.send_signal(signal.SIGTERM)
        out, err = probe.communicate(timeout=60)
        assert probe.returncode in (0, 1), err
        result.update(json.loads(summary.read_text()))
        LOADS.append(f"  {what}: " + out.strip().replace("\n", "\n  "))
        if result.get("failed"):  # what haproxy saw meanwhile names the cause in the failure's message
            result["haproxy"] = haproxy_states(started)
            LOADS.extend(f"    haproxy: {line}" for line in result["haproxy"])


def failures(load: dict) -> str:
    """What a run under load failed, by cause, and what haproxy saw meanwhile: for an assertion's message."""
    return " ".join([str(load["failed_by_cause"]), *load.get("haproxy", [])])


def haproxy_states(since: float) -> list[str]:
    """The lab's haproxy log lines since then that change a server's state or say none is left."""
    log = in_host("ai-cs-lb", "journalctl", "-u", "haproxy", "--since", f"@{int(since)}", "-o", "short-precise",
                  "--no-pager", check=False)  # fmt: skip
    wanted = re.compile(r"Server ai_cs_app/|has no server available")
    return [line for line in log.splitlines() if wanted.search(line) and "]: [" not in line]


def webhook(message_id: str, url: str = "http://127.0.0.1:18080", key: str | None = None) -> dict:
    """A signed webhook through haproxy, signed the runbook's way (openssl), with the lab's secret or key; a refusal
    answers its body ({"code": "CS_AUTH_4034", ...}) with "http_status" added."""
    body = json.dumps(
        {"channel": "rollback-test", "message_id": message_id, "open_id": "rollback-test", "content": "hello"}
    )
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        f"{url}/api/v1/customer-service/webhook",
        data=body.encode(),
        headers={
            "Content-Type": "application/json",
            "X-CS-Timestamp": timestamp,
            "X-CS-Signature": openssl_signature(key or secret("webhook_secret"), timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return {**json.loads(refused.read() or b"{}"), "http_status": refused.code}
