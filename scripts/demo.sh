#!/usr/bin/env bash
# `make demo` after the lab is up: deploy v1.0.0, then v1.1.0, then a signed webhook through haproxy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"

ansible-playbook playbooks/deploy.yml -e version=v1.0.0
ansible-playbook playbooks/deploy.yml -e version=v1.1.0
ansible-playbook playbooks/smoke.yml
