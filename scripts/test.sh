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
rm -f "$LOGS"/*.result "$LOGS/scenarios.done" "$LOGS/lab-up.done"
# shellcheck disable=SC2317  # also called in the background and through xargs
bg_stage() {  # bg_stage NAME COMMAND...: like stage, but leaves "rc seconds" in a result file
  local name=$1 start=$SECONDS
  shift
  "$@" >"$LOGS/$name.log" 2>&1
  echo "$? $((SECONDS - start))" >"$LOGS/$name.result"
}
collect() {  # collect NAME: the PASS/FAIL line of a bg_stage
  local rc took
  read -r rc took <"$LOGS/$1.result" 2>/dev/null || { rc=1; took=0; }
  if ((rc == 0)); then
    results+=("PASS  $1 (${took}s)")
  else
    results+=("FAIL  $1 (${took}s) - see build/test-logs/$1.log")
    failed=1
    tail -n 40 "$LOGS/$1.log" | sed "s/^/  [$1] /"
    # a stage of several pytest sessions: every session's failures, not only the last one's
    grep -E '^(FAILED|ERROR) ' "$LOGS/$1.log" | sed "s/^/  [$1] /" | cut -c1-240
  fi
  echo "${results[-1]}"
}
stage() {  # stage NAME COMMAND...: run it, log it, and print its PASS/FAIL line
  bg_stage "$@"
  collect "$1"
}

stage setup ./scripts/setup.sh
[[ ${results[-1]} == PASS* ]] || exit 1
AI_CS_LAB_IMAGE=$(./lab/image/build.sh 2>"$LOGS/image.log") || { echo "FAIL  image - see build/test-logs/image.log"; exit 1; }
export AI_CS_LAB_IMAGE
# The diagnose_schedule scenario mounts the checkout and the Python its .venv was made from into its container.
AI_CS_PYTHON_HOME=$(.venv/bin/python -c 'import sys; print(sys.base_prefix)')
export AI_CS_PYTHON_HOME
echo "PASS  image ($AI_CS_LAB_IMAGE)"

# A previous run may have left this checkout's scenario containers behind (CI runs after the session on the same
# machine); only those, by name, are removed: other checkouts' molecule instances on the machine are left alone.
for f in molecule/*/molecule.yml; do echo "molecule-$(basename "$(dirname "$f")")"; done | xargs -r podman rm --force --ignore >/dev/null 2>&1

# The lab suites and the Molecule scenarios use separate containers, so they run at the same time, in two phases.
# Phase 1: the lab stage (see lab_suites) starts first, in the background, with the suites that put no client load
# on the service; beside it lint, sanity, pytest and the Molecule scenarios run AI_CS_MOLECULE_JOBS at a time
# (default 2; pytest, lint and sanity first, the scenarios once the lab is up, the longest first) at a lower CPU
# priority (nice: the scenarios' containers inherit it through conmon).
# Phase 2, once those are done: the lab stage's suites under load. Then, once the lab stage has ended, on a lab of its
# own (scripts/own-lab.sh: its own network namespace, podman store and copy of this checkout), the image-mode suite,
# then the one-app-host suite, which shrinks that lab (stage lab-b). Beside each other, the two labs starved both app
# hosts' /ready past haproxy's checks, whichever lab was under load (see lab_b_suite). Runs under load, lab bring-ups
# and the EE image's build also take turns on a machine-wide lock (tests/labutil.py, machine_turn), for a lab of
# one's own beside `make lab`'s. AI_CS_TEST_IMAGE_MODE=0 leaves the image-mode suite out.
# Expected on this kind of machine (2 cores): 40-111 min with it, by the machine's speed (`ansible localhost -m ping`:
# 40 min, CI's run at stop 29, where it takes 1.1 s of CPU; 69 min, the lab stage 56 and lab-b 10 after it, where it
# takes 1.6 s; 111 min, past CI's 90, where it took 2.9 s).
# The PASS/FAIL lines follow once all are done.
# AI_CS_TEST_SERIAL=1 runs the lab stages alone, one after the other, first instead.
export -f bg_stage
export LOGS
mapfile -t scenarios < <(
  for f in molecule/*/molecule.yml; do basename "$(dirname "$f")"; done |
    { printf '%s\n' pipeline diagnose_schedule; cat; } | awk '!seen[$0]++' |
    while read -r s; do [[ -f molecule/$s/molecule.yml ]] && echo "$s"; done
)
# Build the release artifacts once, before the labs and the scenarios would build them side by side.
python3 service/build.py --changed-only --images >"$LOGS/artifacts.log" 2>&1 || { echo "FAIL  artifacts - see build/test-logs/artifacts.log"; exit 1; }
parallel_start=$SECONDS
# shellcheck disable=SC2317  # called through bg_stage
wait_for_phase_2() {
  [[ -n ${AI_CS_TEST_SERIAL:-} ]] && return
  echo "== waiting for lint, sanity, pytest and the Molecule scenarios to finish ($(date -u +%T))"
  while [[ ! -e $LOGS/scenarios.done ]]; do sleep 5; done
  echo "== they have ($(date -u +%T))"
}
# shellcheck disable=SC2317  # called through bg_stage
lab_suites() {
  # Two sessions, each on a lab brought up from nothing. First the suites that put no client load on the service,
  # beside the Molecule scenarios; then, once the scenarios are done, the ones whose clients send 20 requests/s
  # through haproxy during deploys and rollbacks (and assert none fails): on two cores shared with two scenarios,
  # the one host left serving during a switch was starved into refusing requests.
  local quiet=(tests/e2e/test_diagnose.py tests/e2e/test_hardening.py tests/e2e/test_monitoring.py tests/e2e/test_ee.py)
  local rc=0
  AI_CS_LAB_UP_MARKER="$LOGS/lab-up.done" pytest -m lab -p no:cacheprovider -s --durations=15 "${quiet[@]}" || rc=1
  # the scenarios wait for it (the fixture wrote it, unless the lab could not be brought up: then they must not wait
  # for ever)
  touch "$LOGS/lab-up.done"
  wait_for_phase_2
  pytest -m lab -p no:cacheprovider -s --durations=15 "${quiet[@]/#/--ignore=}" "${lab_b_suites[@]/#/--ignore=}" || rc=1
  return "$rc"
}
# shellcheck disable=SC2317  # called through bg_stage
lab_b_suite() {
  # On a lab of its own: the image-mode suite (unless AI_CS_TEST_IMAGE_MODE=0), then the one-app-host suite (it
  # shrinks the lab to one app host), then that lab removed (its hosts hold ~2 GB).
  local rc=0 run=("${lab_b_suites[@]}")
  [[ ${AI_CS_TEST_IMAGE_MODE:-1} != 0 ]] || run=("${run[@]:1}")
  # It starts once the first lab's stage has ended. Beside that lab's quiet suites (a host paused, kill -9, the EE
  # built, PostgreSQL stopped), this lab's image-mode upgrade under load lost 2,726 of 6,968 requests; beside its
  # suites under load, both labs' upgrades lost about 2,000 each: on 2 cores, the haproxy checks of both app hosts
  # timed out together, again and again, whichever lab's run was under load (the two took turns).
  while [[ ! -e $LOGS/lab.result ]]; do sleep 5; done
  echo "== the first lab's stage is done ($(date -u +%T))"
  ./scripts/own-lab.sh image pytest -m lab -p no:cacheprovider -s --durations=15 "${run[@]}" || rc=1
  ./scripts/own-lab.sh image ansible-playbook playbooks/lab-down.yml >/dev/null || rc=1
  return "$rc"
}
lab_b_suites=(tests/e2e/test_image_mode.py tests/e2e/test_one_app_host.py)
export -f wait_for_phase_2 lab_suites lab_b_suite
nice_=(nice -n "${AI_CS_MOLECULE_NICE:-10}")
if [[ -n ${AI_CS_TEST_SERIAL:-} ]]; then
  bg_stage lab lab_suites
  bg_stage lab-b lab_b_suite
else
  bg_stage lab lab_suites &
  lab_pid=$!
  bg_stage lab-b lab_b_suite &
  lab_b_pid=$!
fi
# shellcheck disable=SC2317  # called through xargs
pooled() {  # pooled NAME: one stage of phase 1's pool
  case $1 in
    lint) bg_stage lint ./scripts/lint.sh ;;
    sanity) bg_stage sanity ./scripts/sanity.sh ;;
    pytest) bg_stage pytest pytest -m "not lab" -p no:cacheprovider ;;
    *)
      # A scenario starts once the lab is up: beside a lab brought up from nothing, molecule-pipeline's service (at
      # a lower priority) never listened within verify's 60 s, PostgreSQL unreachable by its own log (most likely
      # its 3 s connect timeout missed five times under starvation, then systemd's start limit).
      while [[ ! -e $LOGS/lab-up.done && ! -e $LOGS/lab.result ]]; do sleep 5; done
      bg_stage "molecule-$1" molecule test -s "$1"
      ;;
  esac
}
export -f pooled
# pytest, lint and sanity first (they run while the lab is brought up), then the scenarios, the longest first
# (measured: pipeline ~3.5 min, diagnose_schedule ~3, most others 1-2.5), so the pool does not end on a long one.
pool=(pytest lint sanity "${scenarios[@]}")
# shellcheck disable=SC2016  # $1 is expanded by the inner bash
printf '%s\n' "${pool[@]}" | "${nice_[@]}" xargs -P "${AI_CS_MOLECULE_JOBS:-2}" -I{} bash -c 'pooled "$1"' _ {}
touch "$LOGS/scenarios.done"  # phase 2 waits for it
# shellcheck disable=SC2086  # no image-mode stage: no pid
[[ -n ${AI_CS_TEST_SERIAL:-} ]] || wait "$lab_pid" "$lab_b_pid"
for name in lint sanity pytest lab lab-b; do collect "$name"; done
for name in "${scenarios[@]}"; do collect "molecule-$name"; done
echo "      labs + pool: $((SECONDS - parallel_start))s wall"

echo
echo "== summary"
printf '%s\n' "${results[@]}"
passed=$(printf '%s\n' "${results[@]}" | grep -c '^PASS')
nfailed=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL')
echo "stages: $passed passed, $nfailed failed"
exit "$failed"
