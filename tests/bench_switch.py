#!/usr/bin/env python3
"""What clients see while the lab switches releases, with and without the drain, side by side in one run.

    .venv/bin/python tests/bench_switch.py [--rate 25] [--webhook-share 0.2] [--get-path /actuator/health]

On the running lab (make lab), for each mode: deploy v1.1.0 from v1.0.0, then roll back to v1.0.0, each under
scripts/probe.py through haproxy's internal front end (labutil.under_load, as the e2e suites do). "drained" is the
pipeline as it ships (each host drained on the load balancer before its switch, enabled once verified); "not
drained" is the same run with -e pipeline_load_balancers=[] (the switch restarts a host haproxy still sends
requests to, as before #16). The defaults are the load the issue measured with: 20 GET /actuator/health and 5
signed webhooks per second. Prints one row per run: wall time, requests, failed (by cause), p50/p99 latency.
Exit 1 when a playbook failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from labutil import APP_HOSTS, SECRETS, current, playbook, under_load

MODES = {"drained": [], "not drained": ["-e", '{"pipeline_load_balancers": []}']}
RUNS = [("deploy v1.1.0", "deploy", "v1.1.0"), ("rollback v1.0.0", "rollback", "v1.0.0")]


def measured(args: argparse.Namespace, name: str, version: str, extra: list[str], work: Path) -> dict:
    with under_load(
        f"{name} {version}", work, rate=args.rate, webhook_share=args.webhook_share, get_path=args.get_path
    ) as load:
        started = time.monotonic()
        proc = playbook(name, *extra, check=False, version=version)
        seconds = time.monotonic() - started
    return {**load, "rc": proc.returncode, "run_seconds": seconds}


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
    parser.add_argument("--rate", type=float, default=25, help="requests per second")
    parser.add_argument("--webhook-share", type=float, default=0.2, help="share of signed webhooks")
    parser.add_argument("--get-path", default="/actuator/health", help="path of the GET requests")
    args = parser.parse_args(argv)
    if not (SECRETS / "webhook_secret").exists():
        raise SystemExit("no lab secrets: bring the lab up first (make lab)")
    # the starting point, not measured: v1.0.0 on every app host
    serving = {current(host) for host in APP_HOSTS}
    if serving != {"releases/v1.0.0"}:
        proc = playbook("rollback" if serving - {""} else "deploy", check=False, version="v1.0.0")
        if proc.returncode != 0:
            raise SystemExit(f"could not bring the lab to v1.0.0 first:\n{proc.stdout[-3000:]}")
    rows, failed = [], False
    for mode, extra in MODES.items():
        for what, name, version in RUNS:
            with tempfile.TemporaryDirectory(prefix="bench-switch-") as work:
                result = measured(args, name, version, extra, Path(work))
            failed |= result["rc"] != 0
            rows.append(row(mode, what, result))
            print(rows[-1], flush=True)
    print(f"\nload: {args.rate:g} requests/s, {args.webhook_share:.0%} signed webhooks, GET {args.get_path}")
    print(f"{'mode':<12} {'run':<16} {'wall':>8} {'reqs':>6} {'failed':>6}")
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
