# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: demo test check setup setup-controller image lab lab-down lint sanity pytest molecule clean ee bench

## demo: fresh machine -> toolchain -> image -> lab -> the main job on the lab
demo: lab
	./scripts/demo.sh

## test: set-up if needed, then lint, pytest, the lab tests and every Molecule scenario
test:
	./scripts/test.sh

## check: lint, sanity and the unit tests: no lab, no root (needs the .venv make setup or make setup-controller made)
check:
	./scripts/lint.sh
	./scripts/sanity.sh
	pytest -m unit -p no:cacheprovider -q tests/unit

setup:
	./scripts/setup.sh

## setup-controller: an operator's machine, no root, no podman: .venv with what deploy/rollback/diagnose and
## `make check` need (requirements-controller.txt) and the collections checked (docs/production.md)
setup-controller:
	./scripts/setup-controller.sh

image: setup
	./lab/image/build.sh

## ee: the execution environment image (ansible-builder on a local Debian base) that ansible-navigator.yml runs
ee: setup
	./ee/build.sh

## bench: deploy, rollback and diagnose timed on lab fleets of 1, 2, 4 and 8 app hosts, against their floor, a bare
## swap and the runbook's manual rollback, under load (not part of make test; 99 min on a fast 2-core machine, three
## or more on a slow one). BENCH_ARGS="--hosts 1,2 --reps 1" to narrow it; BENCH_DB_MB=1024 for a bigger database;
## BENCH_LINEAR_REPS=0 skips the stock-strategy runs; BENCH_BATCH_B= (empty) the second batch setting, which measures
## the costs per batch and per host apart. Writes build/bench/results.{json,md,png}.
bench: setup
	python3 bench/bench.py $(BENCH_ARGS)

## lab: bring the lab up (idempotent); lab-down: remove every lab container and network
lab: setup
	ansible-playbook playbooks/lab.yml

lab-down: setup
	ansible-playbook playbooks/lab-down.yml

lint: setup
	./scripts/lint.sh

## sanity: ansible-test sanity of library/ and module_utils/ (laid into a throwaway collection under build/)
sanity: setup
	./scripts/sanity.sh

pytest: setup
	pytest -m "not lab"

## molecule SCENARIO=<name>: one scenario (create, converge, idempotence, verify, destroy)
molecule: setup
	python3 service/build.py --images --changed-only >/dev/null  # the registry scenario mounts the images
	AI_CS_LAB_IMAGE=$$(./lab/image/build.sh) AI_CS_PYTHON_HOME=$$(.venv/bin/python -c 'import sys; print(sys.base_prefix)') \
	  molecule test -s $(SCENARIO)

clean: lab-down
	rm -rf build
