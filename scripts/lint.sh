#!/usr/bin/env bash
# The project's one lint command (make lint and make test both run it): ansible-lint at the production profile,
# yamllint, ruff (check and format), shellcheck.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"
ansible-lint
yamllint .
ruff check .
ruff format --check .
shellcheck -x scripts/*.sh scripts/lib/*.sh lab/image/*.sh service/image/*.sh roles/registry/files/*.sh ee/*.sh ee/dnf-apt .ci/run
