#!/usr/bin/env bash
# `make ee`: builds the execution environment image with ansible-builder (from the .venv) on the Debian base
# ee/base.sh builds. The tag is a hash of the EE's definition (execution-environment.yml, ee/, the collection
# requirements and check), so an unchanged definition builds nothing; localhost/ai-cs-ee:latest (what
# ansible-navigator.yml runs) is moved to it. Prints the image reference on stdout; build log: build/ee/build.log.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
NAME=${AI_CS_EE_NAME:-localhost/ai-cs-ee}

base=$(./ee/base.sh)
hash=$( { echo "$base"; cat execution-environment.yml ee/build.sh ee/requirements.txt ee/bindep.txt \
  requirements.yml scripts/check_collections.py; } | sha256sum | cut -c1-12)
ref="$NAME:$hash"
if ! podman image exists "$ref"; then
  mkdir -p build/ee
  echo "ee/build.sh: building $ref on $base (a few minutes; log: build/ee/build.log)" >&2
  started=$SECONDS
  if ! ansible-builder build --file execution-environment.yml --context build/ee/context \
      --container-runtime podman --tag "$ref" --build-arg EE_BASE_IMAGE="$base" --verbosity 2 \
      >build/ee/build.log 2>&1; then
    tail -n 40 build/ee/build.log >&2
    echo "ee/build.sh: ERROR: ansible-builder failed (log above; full log build/ee/build.log)" >&2
    exit 1
  fi
  echo "ee/build.sh: built $ref in $((SECONDS - started)) s," \
    "$(podman image inspect --format '{{.Size}}' "$ref" | awk '{printf "%.0f MB", $1 / 1e6}')" >&2
fi
podman tag "$ref" "$NAME:latest"
echo "$ref"
