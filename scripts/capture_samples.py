#!/usr/bin/env python3
"""Capture docs/samples/: what an operator sees from a deploy, a rollback and a diagnose, run for real on the lab.

    ansible-playbook playbooks/lab.yml && .venv/bin/python scripts/capture_samples.py

Runs on the default inventory (the lab) only: v1.0.0, then (captured) the deploy of v1.1.0, the rollback to v1.0.0
and a diagnose, and leaves v1.1.0 serving. Each sample starts with the command and the commit it was captured at;
tests/unit/test_docs.py checks that every task a sample shows still exists, so a sample of a changed play goes stale
loudly (run this again).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "docs" / "samples"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
RUNS = [
    ("deploy", ["playbooks/deploy.yml", "-e", "version=v1.1.0"]),
    ("rollback", ["playbooks/rollback.yml", "-e", "version=v1.0.0"]),
    ("diagnose", ["playbooks/diagnose.yml"]),
]
# lines that differ from run to run in what they say but not in their shape are kept; only the timing callback's
# table goes (its order and figures change every run and teach nothing about the run)
TIMING = re.compile(r"^(=+|.* -+ \d+\.\d+s)$")


def playbook(args: list[str]) -> str:
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), *args], cwd=ROOT, env=ENV, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(
            f"capture_samples: ansible-playbook {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}"
        )
    return proc.stdout


def main() -> int:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    SAMPLES.mkdir(parents=True, exist_ok=True)
    playbook(["playbooks/deploy.yml", "-e", "version=v1.0.0"])
    for name, args in RUNS:
        out = playbook(args)
        kept = [line.rstrip() for line in out.splitlines() if not TIMING.match(line.strip())]
        header = f"$ ansible-playbook {' '.join(args)}\n# captured on the lab at {commit}\n"
        (SAMPLES / f"{name}.txt").write_text(header + "\n".join(kept).strip() + "\n")
        print(f"docs/samples/{name}.txt: {len(kept)} lines")
    playbook(["playbooks/deploy.yml", "-e", "version=v1.1.0"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
