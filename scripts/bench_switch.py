#!/usr/bin/env python3
"""What clients see while the lab switches releases, with and without the drain, side by side in one run.

    .venv/bin/python scripts/bench_switch.py [--rate 25] [--webhook-share 0.2] [--get-path /actuator/health]

On the running lab (make lab), for each mode: deploy v1.1.0 from v1.0.0, then roll back to v1.0.0, each under
scripts/probe.py through haproxy's internal front end. "drained" is the pipeline as it ships (each host drained on
the load balancer before its switch, enabled once verified); "not drained" is the same run with
-e pipeline_load_balancers=[] (the switch restarts a host haproxy still sends requests to, as before #16). The
defaults are the load the issue measured with: 20 GET /actuator/health and 5 signed webhooks per second.
Prints one row per run: wall time, requests, failed (by cause), p50/p99 latency. Exit 1 when a playbook failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = ROOT / "inventories/lab/.secrets/webhook_secret"
MODES = {"drained": [], "not drained": ["-e", '{"pipeline_load_balancers": []}']}
RUNS = [("deploy v1.1.0", "deploy", "v1.1.0"), ("rollback v1.0.0", "rollback", "v1.0.0")]


def playbook(name: str, version: str, *extra: str) -> tuple[int, str]:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), f"playbooks/{name}.yml", "-e", f"version={version}"]
    proc = subprocess.run([*cmd, *extra], cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout[-3000:]


def serves(host: str) -> str:
    """The release host's current link names ('' before the first deploy)."""
    link = ["podman", "exec", host, "readlink", "/opt/ai-customer-service/current"]
    return Path(subprocess.run(link, capture_output=True, text=True, check=False).stdout.strip()).name


def measured(args: argparse.Namespace, name: str, version: str, extra: list[str], work: Path) -> dict:
    summary = work / f"{name}-{version}-{len(extra)}.json"
    probe = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts/probe.py"), "--url", args.url, "--rate", str(args.rate),
         "--duration", "900", "--webhook-share", str(args.webhook_share), "--get-path", args.get_path,
         "--timeout", "10", "--secret-file", str(SECRET), "--summary", str(summary)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(2)  # the prober's first requests before the run starts
    started = time.monotonic()
    rc, out = playbook(name, version, *extra)
    seconds = time.monotonic() - started
    time.sleep(2)
    probe.send_signal(signal.SIGTERM)
    _, err = probe.communicate(timeout=60)
    if not summary.exists():
        raise SystemExit(f"the prober wrote no summary: {err.strip()}")
    result = json.loads(summary.read_text())
    result.update(rc=rc, run_seconds=seconds, tail=out)
    return result


def row(mode: str, what: str, r: dict) -> str:
    causes = ", ".join(f"{n} {c}" for c, n in sorted(r["failed_by_cause"].items(), key=lambda i: -i[1])) or "-"
    lat = r["latency_ms"]
    status = "ok" if r["rc"] == 0 else f"FAILED rc={r['rc']}"
    return (
        f"{mode:<12} {what:<16} {r['run_seconds']:6.1f} s {r['requests']:6d} {r['failed']:6d}  "
        f"p50 {lat['p50']:6.1f} ms  p99 {lat['p99']:7.1f} ms  {status:<8} {causes}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:18081", help="haproxy's internal front end in the lab")
    parser.add_argument("--rate", type=float, default=25, help="requests per second")
    parser.add_argument("--webhook-share", type=float, default=0.2, help="share of signed webhooks")
    parser.add_argument("--get-path", default="/actuator/health", help="path of the GET requests")
    args = parser.parse_args(argv)
    if not SECRET.exists():
        raise SystemExit("no lab secrets: bring the lab up first (make lab)")
    # the starting point, not measured: v1.0.0 on every app host
    serving = {serves(host) for host in ("ai-cs-app1", "ai-cs-app2")}
    rc, out = (0, "") if serving == {"v1.0.0"} else playbook("rollback" if serving - {""} else "deploy", "v1.0.0")
    if rc != 0:
        raise SystemExit(f"could not bring the lab to v1.0.0 first:\n{out}")
    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="bench-switch-") as work:
        for mode, extra in MODES.items():
            for what, name, version in RUNS:
                result = measured(args, name, version, extra, Path(work))
                failed |= result["rc"] != 0
                rows.append(row(mode, what, result))
                print(rows[-1], flush=True)
    print(f"\nload: {args.rate:g} requests/s, {args.webhook_share:.0%} signed webhooks, GET {args.get_path}")
    print(f"{'mode':<12} {'run':<16} {'wall':>8} {'reqs':>6} {'failed':>6}")
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main(sys.argv[1:]))
