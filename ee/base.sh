#!/usr/bin/env bash
# Builds the execution environment's base image (Debian bookworm minbase with Python, pip, venv and the dnf-apt
# shim ansible-builder's package steps call) with debootstrap from this machine's own apt mirror, as the lab image
# is (no registry is reachable), and imports it into podman. The tag is a hash of its definition, so the ~1-minute
# build runs only when that changes. Prints the image reference on stdout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=${AI_CS_EE_BASE_NAME:-localhost/ai-cs-ee-base}

# The certificate authorities this machine adds to Debian's (a TLS-inspecting proxy's, an organisation's own) are
# trusted in the EE too: its pip reaches PyPI the way this machine's does.
shopt -s nullglob
local_cas=(/usr/local/share/ca-certificates/*.crt)
hash=$(cat "$HERE/base.sh" "$HERE/base-packages.txt" "$HERE/dnf-apt" "$HERE/../scripts/lib/debootstrap.sh" \
  "${local_cas[@]}" | sha256sum | cut -c1-12)
ref="$NAME:$hash"
if podman image exists "$ref"; then
  echo "$ref"
  exit 0
fi

# shellcheck source=scripts/lib/debootstrap.sh  # (lint runs from the checkout root)
source "$HERE/../scripts/lib/debootstrap.sh"
work=$(mktemp -d /var/tmp/ai-cs-ee-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
echo "base.sh: building $ref (about a minute)" >&2
debian_bootstrap "$rootfs" "$HERE/base-packages.txt" base.sh || exit 1
install -m 0755 "$HERE/dnf-apt" "$rootfs/usr/local/bin/dnf-apt"
if ((${#local_cas[@]})); then
  install -m 0644 "${local_cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi
# An image of its own, not a system: pip may install into the system Python (PEP 668's marker is Debian's guard
# for hosts whose Python apt manages; here nothing else manages it).
rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/*
: > "$rootfs/etc/machine-id"
tar -C "$rootfs" --numeric-owner -c . | podman import --change "LABEL ai-cs.ee-base.definition=$hash" - "$ref" >/dev/null
echo "base.sh: built $ref" >&2
echo "$ref"
