#!/usr/bin/env bash
# make setup-controller: an operator's machine, as that operator (no root, no podman, no system package): .venv with
# requirements-controller.txt (pinned as constraints.txt pins the full set), the link ansible.cfg reaches the
# collections and Mitogen through, and the collections requirements.yml names, checked. Enough for deploy, rollback
# and diagnose against an inventory of one's own, and for `make check`. `make setup` (root) installs a superset.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
log() { printf 'setup-controller: %s\n' "$*"; }
die() { printf 'setup-controller: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (cause: no Python 3; fix: install python3 and python3-venv, or PYTHON=/path/to/python3.11 make setup-controller)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "$("$PYTHON" -V 2>&1) is too old (cause: the pinned ansible-core 2.19 needs Python 3.11 or newer; fix: PYTHON=/path/to/python3.11 make setup-controller)"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null ||
  die "$PYTHON cannot make a virtualenv (cause: its venv module is missing; fix: install python3-venv, or use another Python with PYTHON=)"

# shellcheck source=scripts/lib/venv.sh
. "$ROOT/scripts/lib/venv.sh"
project_venv "$ROOT" "$PYTHON" requirements-controller.txt requirements.txt  # make setup's .venv has it all
log "ok: .venv/bin/ansible-playbook playbooks/diagnose.yml -i <your inventory>; make check"
