#!/usr/bin/env bash
# ansible-test sanity on the built collection ai_cs.ops (make collection: scripts/collection.sh builds it from the
# project's sources and installs it under build/collection/installed), offline from Galaxy and container registries.
# ansible-test wants the collection in a git-tracked tree, so the installed copy becomes one.
# Its sanity virtualenvs start from a get-pip script it would download from ci-files.testing.ansible.com
# (unreachable here); a stand-in in its cache runs ensurepip, then pip install from PyPI, which is reachable.
# Usage: scripts/sanity.sh [ansible-test sanity options]   (default: the tests below, then the unit tests on it)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$ROOT/.venv/bin:$PATH"
COLLECTION="$ROOT/build/collection/installed/ansible_collections/ai_cs/ops"
TESTS=(--skip-test pslint)  # PowerShell: none here

"$ROOT/scripts/collection.sh"
git -C "$COLLECTION" init -q
git -C "$COLLECTION" add -A

pip_version=$(python -c 'from ansible_test._internal.python_requirements import get_venv_packages as g
from ansible_test._internal.host_configs import NativePythonConfig as P
print(g(P(version="3.11"))["pip"])')
stand_in="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$stand_in")"
cat >"$stand_in" <<'PY'
"""Stand-in for get-pip.py (not downloadable here): pip from ensurepip, then the packages asked for, from PyPI."""
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}  # get-pip's own options, not pip install's

subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True, capture_output=True)
arguments = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", *arguments], check=False).returncode)
PY

if (($#)); then
  (cd "$COLLECTION" && ansible-test sanity --local --python 3.11 --requirements "$@")
else
  (cd "$COLLECTION" && ansible-test sanity --local --python 3.11 --requirements "${TESTS[@]}")
  # and the unit tests, importing the built copy (tests/conftest.py; test_collection checks which copy they import)
  AI_CS_COLLECTIONS="$ROOT/build/collection/installed" pytest -m unit -p no:cacheprovider -q "$ROOT/tests/unit"
fi
