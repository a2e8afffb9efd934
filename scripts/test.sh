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
rm -f "$LOGS"/*.result "$LOGS"/*.done "$LOGS"/*-up.ok
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
# Phase 1: the lab stage starts first, in the background, with the suites that put no client load on the service,
# then the lab's own suite (it brings the lab up from nothing again and ends with it down); beside it lint, sanity,
# pytest and the Molecule scenarios run AI_CS_MOLECULE_JOBS at a time (default 2; pytest, lint and sanity first, the
# scenarios once the lab is up, the longest first) at a lower CPU priority (nice: the scenarios' containers inherit
# it through conmon). Once the scenarios and the quiet suites are done, two labs of their own (scripts/own-lab.sh:
# each its own network namespace, podman store and copy of this checkout) are brought up from nothing, one after the
# other, beside the lab's own suite: `load` and `image`. Not beside the quiet suites: the monitoring suite holds heals
# and alerts to time bounds, and with two heavy jobs beside it (the lab role's suite on a lab of its own and a
# bring-up) the lab stage's hosts were starved (SSH connects timed out, heals missed their bounds, 7 tests failed).
# Phase 2, once the lab stage has ended and both are up: on `load`, the suites under load (stage lab-load; then that
# lab is removed); then on `image`, the image-mode suite, then the one-app-host suite, which shrinks that lab (stage
# lab-b). Runs under load never run beside each other or beside a bring-up: beside each other, on 2 cores, two labs
# starved both app hosts' /ready past haproxy's checks, whichever lab was under load (about 2,000 failed requests per
# upgrade). Runs under load, lab bring-ups and the EE image's build take turns on a machine-wide lock
# (tests/labutil.py, machine_turn, LOAD_LOCK), for a lab of one's own beside `make lab`'s. AI_CS_TEST_IMAGE_MODE=0
# leaves the image-mode suite out.
# Expected on this kind of machine (2 cores): 40-111 min with it, by the machine's speed (`ansible localhost -m ping`:
# 40 min, CI's run at stop 29, where it takes 1.1 s of CPU; 69 min, the lab stage 56 and lab-b 10 after it, where it
# takes 1.6 s; 111 min, past CI's 90, where it took 2.9 s; these three before the two labs of their own were brought
# up in phase 1). With them: 81 min where it takes 1.9 s of CPU and a fifth of the CPU is stolen by the host
# (phase 1 44 min, lab-load 22 after it, lab-b 11; they were brought up once the scenarios were done, beside the
# monitoring and EE suites, not yet after the quiet suites).
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
# The suites that put no client load on the service; the image-mode and one-app-host suites (lab-b's, in this order:
# the second shrinks the lab). The suites under load are the other ones marked lab (tests/e2e).
quiet_suites=(tests/e2e/test_diagnose.py tests/e2e/test_hardening.py tests/e2e/test_monitoring.py tests/e2e/test_ee.py
  tests/e2e/test_operator.py)
lab_b_suites=(tests/e2e/test_image_mode.py tests/e2e/test_one_app_host.py)
# shellcheck disable=SC2317  # called through bg_stage
wait_for() {  # wait_for MARKER...: until each is in $LOGS (at once with AI_CS_TEST_SERIAL: the stages before ended)
  [[ -n ${AI_CS_TEST_SERIAL:-} ]] && return
  local marker
  for marker; do
    echo "== waiting for $marker ($(date -u +%T))"
    while [[ ! -e $LOGS/$marker ]]; do sleep 5; done
  done
  echo "== done waiting ($(date -u +%T))"
}
# shellcheck disable=SC2317  # called through bg_stage
own_lab_up() {  # own_lab_up NAME: bring lab NAME up from nothing on the machine's turn; NAME-up.ok if it came up
  local start=$SECONDS
  # as the suites' fixture does (on the machine-wide turn, tests/labutil.py)
  if ./scripts/own-lab.sh "$1" env PYTHONPATH=tests python -c 'import labutil; labutil.bring_up_lab()' \
    >"$LOGS/lab-$1-up.log" 2>&1; then
    touch "$LOGS/$1-up.ok"
    echo "== lab $1 up from nothing in $((SECONDS - start)) s"
  else
    echo "== lab $1 could not be brought up (build/test-logs/lab-$1-up.log):"
    tail -n 30 "$LOGS/lab-$1-up.log"
  fi
  touch "$LOGS/$1-up.done"  # whether or not it came up: nothing waits for ever
}
# shellcheck disable=SC2317  # called through bg_stage
on_own_lab() {  # on_own_lab NAME SUITE...: the suites on lab NAME (brought up by own_lab_up), then that lab removed
  local name=$1 rc=0
  shift
  [[ -e $LOGS/$name-up.ok ]] || { echo "== lab $name is not up: its suites did not run"; return 1; }
  ./scripts/own-lab.sh "$name" env AI_CS_LAB_BROUGHT_UP=1 pytest -m lab -p no:cacheprovider -s --durations=15 "$@" ||
    rc=1
  ./scripts/own-lab.sh "$name" ansible-playbook playbooks/lab-down.yml >/dev/null || rc=1  # its hosts hold ~2 GB
  return "$rc"
}
# shellcheck disable=SC2317  # called through bg_stage
lab_suites() {
  # Phase 1 on the lab `make lab` brings up: the quiet suites, beside the Molecule scenarios, then the lab's own
  # suite (tests/lab: the lab from nothing, again, grown and shrunk, then provisioned from bare hosts, then down).
  local rc=0
  AI_CS_LAB_UP_MARKER="$LOGS/lab-up.done" pytest -m lab -p no:cacheprovider -s --durations=15 "${quiet_suites[@]}" ||
    rc=1
  # the scenarios wait for it (the fixture wrote it, unless the lab could not be brought up: then they must not wait
  # for ever)
  touch "$LOGS/lab-up.done" "$LOGS/quiet.done"  # the labs of phase 2 are brought up beside the lab's own suite
  pytest -m lab -p no:cacheprovider -s --durations=15 tests/lab || rc=1
  return "$rc"
}
# shellcheck disable=SC2317  # called through bg_stage
lab_load_suite() {
  # Phase 2, first: the suites whose prober sends 20 requests/s through haproxy during deploys and rollbacks (and
  # asserts none fails), alone on the machine: on two cores shared with two scenarios, the one host left serving
  # during a switch was starved into refusing requests. Their lab is brought up once the scenarios and the quiet
  # suites are done.
  wait_for scenarios.done quiet.done
  own_lab_up load
  wait_for lab.result image-up.done
  on_own_lab load tests/e2e "${quiet_suites[@]/#/--ignore=}" "${lab_b_suites[@]/#/--ignore=}"
}
# shellcheck disable=SC2317  # called through bg_stage
lab_b_suite() {
  # Phase 2, then: the image-mode suite (unless AI_CS_TEST_IMAGE_MODE=0), then the one-app-host suite. Their lab is
  # brought up after lab-load's (the bring-ups take turns anyway), and they run once lab-load has ended.
  local run=("${lab_b_suites[@]}")
  [[ ${AI_CS_TEST_IMAGE_MODE:-1} != 0 ]] || run=("${run[@]:1}")
  wait_for load-up.done
  own_lab_up image
  wait_for lab-load.result
  on_own_lab image "${run[@]}"
}
export -f wait_for own_lab_up on_own_lab lab_suites lab_load_suite lab_b_suite
nice_=(nice -n "${AI_CS_MOLECULE_NICE:-10}")
if [[ -n ${AI_CS_TEST_SERIAL:-} ]]; then
  bg_stage lab lab_suites
  bg_stage lab-load lab_load_suite
  bg_stage lab-b lab_b_suite
else
  bg_stage lab lab_suites &
  lab_pid=$!
  bg_stage lab-load lab_load_suite &
  lab_load_pid=$!
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
[[ -n ${AI_CS_TEST_SERIAL:-} ]] || wait "$lab_pid" "$lab_load_pid" "$lab_b_pid"
for name in lint sanity pytest lab lab-load lab-b; do collect "$name"; done
for name in "${scenarios[@]}"; do collect "molecule-$name"; done
echo "      labs + pool: $((SECONDS - parallel_start))s wall"

echo
echo "== summary"
printf '%s\n' "${results[@]}"
passed=$(printf '%s\n' "${results[@]}" | grep -c '^PASS')
nfailed=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL')
echo "stages: $passed passed, $nfailed failed"
exit "$failed"
