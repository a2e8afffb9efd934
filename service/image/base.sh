#!/usr/bin/env bash
# Builds the base of the release images (Debian bookworm minbase, python3 and psycopg2, no init, no shell tools
# beyond minbase) with debootstrap from this machine's own apt mirror, as the lab image is (no registry is
# reachable), and imports it into podman. The tag is a hash of this folder, so the ~1-minute build runs only when
# the base's definition changes; the release images (service/build.py --images) are layered on it reproducibly.
# Prints the image reference on stdout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=${AI_CS_BASE_IMAGE_NAME:-localhost/ai-cs-release-base}

hash=$(cat "$HERE/base.sh" "$HERE/packages.txt" "$HERE/../../scripts/lib/debootstrap.sh" | sha256sum | cut -c1-12)
ref="$NAME:$hash"
if podman image exists "$ref"; then
  echo "$ref"
  exit 0
fi

# shellcheck source=scripts/lib/debootstrap.sh  # (lint runs from the checkout root)
source "$HERE/../../scripts/lib/debootstrap.sh"
work=$(mktemp -d /var/tmp/ai-cs-release-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
echo "base.sh: building $ref (about a minute)" >&2
debian_bootstrap "$rootfs" "$HERE/packages.txt" base.sh || exit 1
# Nothing of the build machine or the package manager's caches in the image.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/*
: > "$rootfs/etc/machine-id"
tar -C "$rootfs" --numeric-owner -c . | podman import --change "LABEL ai-cs.base.definition=$hash" - "$ref" >/dev/null
echo "base.sh: built $ref" >&2
echo "$ref"
