#!/usr/bin/env bash
# make collection: the project's collection, ai_cs.ops (collections/ansible_collections/ai_cs/ops: galaxy.yml, its
# changelog, and links to library/, module_utils/, action_plugins/, filter_plugins/, callback_plugins/, roles/),
# built into a tarball and installed from it, where ansible-test sanity and the unit tests then run:
#   build/collection/ai_cs-ops-<version>.tar.gz
#   build/collection/installed/ansible_collections/ai_cs/ops
# ansible-galaxy does not follow links that leave the collection's directory, so the build starts from a copy that
# resolves them (cp -L: the same files, nothing rewritten). The changelog's fragments are linted first.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$ROOT/.venv/bin:$PATH"
SOURCE="$ROOT/collections/ansible_collections/ai_cs/ops"
OUT="$ROOT/build/collection"
STAGE="$OUT/stage/ansible_collections/ai_cs/ops"

(cd "$SOURCE" && antsibull-changelog lint)
rm -rf "$OUT"
mkdir -p "$(dirname "$STAGE")" "$OUT/installed"
cp -RL "$SOURCE" "$STAGE"
find "$STAGE" \( -name __pycache__ -o -name .pytest_cache \) -prune -exec rm -rf {} +
ansible-galaxy collection build "$STAGE" --output-path "$OUT" >/dev/null
tarball=$(ls "$OUT"/ai_cs-ops-*.tar.gz)
# --no-deps: its dependencies (galaxy.yml) are the collections the ansible package brings (scripts/setup.sh checks)
ANSIBLE_COLLECTIONS_PATH="$OUT/installed" ansible-galaxy collection install --offline --no-deps --force \
  -p "$OUT/installed" "$tarball" >/dev/null
rm -rf "$OUT/stage"
echo "collection: $tarball"
echo "collection: installed in $OUT/installed/ansible_collections/ai_cs/ops"
