#!/usr/bin/env bash
# `make test`: set-up if needed, then lint, pytest, the lab, and every Molecule scenario.
# Prints one line per stage and exits non-zero when any stage failed. Logs: build/test-logs/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
LOGS="$ROOT/build/test-logs"
mkdir -p "$LOGS"
export PATH="$ROOT/.venv/bin:$PATH" NO_COLOR=1 ANSIBLE_NOCOLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0

results=()
failed=0
stage() {  # stage NAME COMMAND...
  local name=$1; shift
  local start=$SECONDS rc
  "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  local took=$((SECONDS - start))
  if ((rc == 0)); then
    results+=("PASS  $name (${took}s)")
  else
    results+=("FAIL  $name (${took}s) - see build/test-logs/$name.log")
    failed=1
    tail -n 40 "$LOGS/$name.log" | sed "s/^/  [$name] /"
  fi
  echo "${results[-1]}"
}

stage setup ./scripts/setup.sh
[[ ${results[-1]} == PASS* ]] || exit 1
AI_CS_LAB_IMAGE=$(./lab/image/build.sh 2>"$LOGS/image.log") || { echo "FAIL  image - see build/test-logs/image.log"; exit 1; }
export AI_CS_LAB_IMAGE
echo "PASS  image ($AI_CS_LAB_IMAGE)"

# A previous run may have left containers behind (CI runs after the session on the same machine).
podman ps -a --format '{{.Names}}' | grep -E '^molecule-' | xargs -r podman rm -f >/dev/null 2>&1

stage lint bash -c 'ansible-lint && yamllint . && ruff check . && ruff format --check . && shellcheck scripts/*.sh lab/image/*.sh .ci/run'
stage pytest pytest -m "not lab" -p no:cacheprovider
stage lab pytest -m lab -p no:cacheprovider -s
for scenario in molecule/*/molecule.yml; do
  name=$(basename "$(dirname "$scenario")")
  stage "molecule-$name" molecule test -s "$name"
done

echo
echo "== summary"
printf '%s\n' "${results[@]}"
passed=$(printf '%s\n' "${results[@]}" | grep -c '^PASS')
nfailed=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL')
echo "stages: $passed passed, $nfailed failed"
exit "$failed"
