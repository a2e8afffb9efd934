#!/usr/bin/env bash
# Builds the lab base image (Debian bookworm, systemd as PID 1) with debootstrap and imports it
# into podman. The tag carries a hash of this folder, so the 2-minute build runs only when the
# image's definition changes. Prints the image reference on stdout.
#
# AI_CS_LAB_IMAGE_VARIANT=bare builds the image of a host as a fleet's hosts come: systemd, sshd, python3 and
# python3-apt (what Ansible and its apt module need on a host) and nothing else (packages-bare.txt), so site.yml
# installs every package the roles need (the full image has them baked in, for speed). Both variants get the same container settings (no hardware units,
# host keys made at first boot).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VARIANT=${AI_CS_LAB_IMAGE_VARIANT:-full}
case $VARIANT in
  full) NAME=${AI_CS_LAB_IMAGE_NAME:-localhost/ai-cs-lab-base} packages=(packages.txt packages-apt.txt) ;;
  bare) NAME=${AI_CS_LAB_IMAGE_NAME:-localhost/ai-cs-lab-bare} packages=(packages-bare.txt) ;;
  *) echo "build.sh: ERROR: AI_CS_LAB_IMAGE_VARIANT is '$VARIANT'; it must be full (the default) or bare" >&2; exit 2 ;;
esac

hash=$(cat "$HERE/build.sh" "${packages[@]/#/$HERE/}" "$HERE/../../scripts/lib/debootstrap.sh" | sha256sum | cut -c1-12)
ref="$NAME:$hash"

if podman image exists "$ref"; then
  echo "$ref"
  exit 0
fi

# shellcheck source=scripts/lib/debootstrap.sh  # (lint runs from the checkout root)
source "$HERE/../../scripts/lib/debootstrap.sh"
work=$(mktemp -d /var/tmp/ai-cs-lab-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
echo "build.sh: building $ref (about 2 minutes)" >&2
debian_bootstrap "$rootfs" "$HERE/${packages[0]}" build.sh || exit 1
if ((${#packages[@]} > 1)); then
  mount -t proc proc "$rootfs/proc"
  trap 'umount "$rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
  mapfile -t extra < <(grep -vE '^\s*(#|$)' "$HERE/${packages[1]}")
  DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y --no-install-recommends "${extra[@]}" \
    >"$work/apt.log" 2>&1 \
    || { tail -n 30 "$work/apt.log" >&2; echo "build.sh: ERROR: apt-get install in the image failed (log above)" >&2; exit 1; }
  umount "$rootfs/proc"
fi

# systemd in a container: a fresh machine-id per container, and no units that need real hardware.
: > "$rootfs/etc/machine-id"
for unit in systemd-remount-fs.service getty.target console-getty.service systemd-udevd.service \
            systemd-udevd-control.socket systemd-udevd-kernel.socket sys-kernel-debug.mount \
            dev-hugepages.mount systemd-logind.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# Services start only where a role enables them; nothing app-specific is baked in.
chroot "$rootfs" systemctl disable postgresql.service haproxy.service cron.service prometheus.service \
  prometheus-alertmanager.service prometheus-node-exporter.service prometheus-postgres-exporter.service \
  docker-registry.service podman.socket podman-restart.service podman-auto-update.timer \
  podman-auto-update.service >/dev/null 2>&1 || true
# Debian's haproxy unit fails in a container (226/NAMESPACE) because of BindReadOnlyPaths=.
mkdir -p "$rootfs/etc/systemd/system/haproxy.service.d"
printf '[Service]\nBindReadOnlyPaths=\n' > "$rootfs/etc/systemd/system/haproxy.service.d/container.conf"
# The lab is reached over SSH, as production is. Host keys are made at each container's first boot (never
# shared through the image); only key logins; enough sessions for ansible's forks and the tests beside them.
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  > "$rootfs/etc/systemd/system/ssh.service.d/host-keys.conf"
printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\nMaxSessions 50\nMaxStartups 50:30:100\n' \
  > "$rootfs/etc/ssh/sshd_config.d/50-lab.conf"
chroot "$rootfs" systemctl enable ssh.service >/dev/null 2>&1
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" --numeric-owner -c . | podman import \
  --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL=SIGRTMIN+3' --change 'ENV container=podman' \
  --change "LABEL ai-cs.lab.definition=$hash" - "$ref" >/dev/null
echo "build.sh: built $ref" >&2
echo "$ref"
