#!/usr/bin/env bash
# ansible-test sanity on the project's modules and module_utils, offline from Galaxy and container registries.
# ansible-test works only inside ansible_collections/<namespace>/<name>/ in a git-tracked tree, so library/ and
# module_utils/ are laid into a throwaway collection (imports rewritten to the collection's paths) under build/.
# Its sanity virtualenvs start from a get-pip script it would download from ci-files.testing.ansible.com
# (unreachable here); a stand-in in its cache runs ensurepip, then pip install from PyPI, which is reachable.
# Usage: scripts/sanity.sh [ansible-test sanity options]   (default: the tests below)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$ROOT/.venv/bin:$PATH"
WORK="$ROOT/build/sanity"
COLLECTION="$WORK/ansible_collections/ai_cs/ops"
TESTS=(--skip-test pslint)  # PowerShell: none here

rm -rf "$WORK"
mkdir -p "$COLLECTION/plugins/modules" "$COLLECTION/plugins/module_utils" "$COLLECTION/meta"
rewrite='s/from ansible\.module_utils\.ai_cs_/from ansible_collections.ai_cs.ops.plugins.module_utils.ai_cs_/'
for file in "$ROOT"/library/*.py; do sed "$rewrite" "$file" >"$COLLECTION/plugins/modules/$(basename "$file")"; done
for file in "$ROOT"/module_utils/*.py; do sed "$rewrite" "$file" >"$COLLECTION/plugins/module_utils/$(basename "$file")"; done
cat >"$COLLECTION/galaxy.yml" <<'YAML'
namespace: ai_cs
name: ops
version: 1.0.0
readme: README.md
authors: [ai-customer-service ops (@ai-cs-ops)]
license: [GPL-3.0-or-later]
YAML
printf 'requires_ansible: ">=2.19.0"\n' >"$COLLECTION/meta/runtime.yml"
printf '# ai_cs.ops\nThe ai-customer-service modules, laid out for ansible-test sanity.\n' >"$COLLECTION/README.md"
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

cd "$COLLECTION"
if (($#)); then
  ansible-test sanity --local --python 3.11 --requirements "$@"
else
  ansible-test sanity --local --python 3.11 --requirements "${TESTS[@]}"
fi
