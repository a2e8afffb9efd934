#!/usr/bin/env bash
# Brings this machine to what the project needs: system packages, a podman configuration that
# works on hosts like these, the pinned Python tooling in .venv, and the collections check.
# Idempotent: a warm run installs nothing and takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3.11}

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# --- system packages -------------------------------------------------------------------------
# podman+runc run the lab (containernetworking-plugins is its network backend here, and needs iptables),
# debootstrap builds its image, postgresql is the real database the pytest suites start, faketime skews one
# process's clock, shellcheck lints scripts, openssh-client reaches the lab hosts as ansible reaches
# production, python3-venv makes .venv from Debian's python3.11.
SYSTEM_PACKAGES=(podman runc conmon containernetworking-plugins iptables debootstrap uidmap slirp4netns
                 python3-venv postgresql-15 postgresql-client-15 shellcheck faketime curl jq make git openssl
                 openssh-client)

missing_packages() {  # missing_packages PKG...: the ones dpkg does not have installed
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
  done
}
apt_updated=
install_packages() {  # install_packages WHY PKG...: apt-get install the missing ones (root only)
  local why=$1 missing
  shift
  mapfile -t missing < <(missing_packages "$@")
  if ((${#missing[@]} == 0)); then
    log "$why: present"
    return
  fi
  [[ $(id -u) -eq 0 ]] || die "$why: packages missing (${missing[*]}) and not root; run: sudo $0"
  log "$why: installing ${missing[*]}"
  if [[ -z $apt_updated ]]; then
    apt-get update -qq || die "apt-get update failed; check this machine's apt sources and network"
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed (see above)"
}
install_packages "system packages" "${SYSTEM_PACKAGES[@]}"

# --- what the machine itself must offer ---------------------------------------------------------
# Checked, not changed: each is a property of the machine that no package provides.
free_mb() {  # free_mb PATH: free MiB on the filesystem PATH is (or would be) on
  local path=$1
  until [[ -e $path ]]; do path=$(dirname "$path"); done
  df -Pk "$path" | awk 'NR==2 {print int($4 / 1024)}'
}
# The lab image (~650 MB), its containers and the Molecule instances live in podman's storage; the image
# build unpacks a root filesystem under /var/tmp.
for need in /var/lib/containers:6000 /var/tmp:2000; do
  path=${need%%:*} want_mb=${need##*:}
  have_mb=$(free_mb "$path")
  ((have_mb >= want_mb)) || die "only $have_mb MiB free for $path, $want_mb MiB needed (free space there, then run again)"
done
# CNI publishes the load balancer's ports and masquerades the lab network through the kernel's nat table.
iptables -t nat -S >/dev/null 2>&1 \
  || die "iptables cannot read the nat table (no nf_nat/iptable_nat in this kernel, or not root): podman cannot publish the lab's ports"
# The pytest suites start their own PostgreSQL clusters as the postgres user, with Debian's PostgreSQL 15 binaries.
if ! id postgres >/dev/null 2>&1 || [[ ! -x /usr/lib/postgresql/15/bin/initdb ]]; then
  die "no postgres user or /usr/lib/postgresql/15/bin/initdb although postgresql-15 is installed; reinstall it"
fi

# --- podman configuration ----------------------------------------------------------------------
# crun fails here (cgroups in hybrid mode) and podman's default ulimits exceed this host's hard
# limits; both are computed from this host, never hard-coded.
nofile=$(ulimit -Hn)
[[ $nofile == unlimited ]] && nofile=1048576
nproc=$(cat /proc/sys/kernel/pid_max)
conf_dir=/etc/containers/containers.conf.d
conf_file=$conf_dir/50-ai-cs-lab.conf
want=$(cat <<CONF
# Written by ai-customer-service scripts/setup.sh: podman settings that work on this host.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
)
if [[ ! -f $conf_file || "$(cat "$conf_file")" != "$want" ]]; then
  [[ $(id -u) -eq 0 ]] || die "podman configuration needs writing to $conf_file; run: sudo $0"
  mkdir -p "$conf_dir"
  printf '%s\n' "$want" > "$conf_file"
  log "wrote $conf_file (nofile=$nofile nproc=$nproc)"
else
  log "podman configuration current"
fi
podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null | grep -qx runc \
  || die "podman does not use runc after configuration; check $conf_file and 'podman info'"

# --- container name resolution -----------------------------------------------------------------
# Lab hosts reach each other by name (ai-cs-db, ai-cs-artifacts) on the lab's user network. podman gives a
# network DNS only when its backend has a DNS provider: CNI (Debian 12's podman 4.3 picks it here, since
# only containernetworking-plugins is installed) needs the dnsname plugin; netavark (a machine that already
# uses it) needs aardvark-dns. The provider matching the backend in use is installed, rather than switching
# backends: a switch needs `podman system reset`, which would delete every container and image here.
# A network created before its provider was installed keeps DNS off; playbooks/lab.yml recreates it.
backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null) || die "podman info failed; run: podman info"
case $backend in
  cni) dns_package=golang-github-containernetworking-plugin-dnsname dns_plugin=/usr/lib/cni/dnsname ;;
  netavark) dns_package=aardvark-dns dns_plugin=/usr/lib/podman/aardvark-dns ;;
  *) die "podman's network backend is '$backend'; the lab needs cni or netavark (see 'podman info')" ;;
esac
install_packages "container DNS ($backend)" "$dns_package"
[[ -x $dns_plugin ]] || die "$dns_plugin is missing although $dns_package is installed; reinstall it: apt-get install --reinstall $dns_package"

# ansible-navigator (the execution environment, `make ee`) refuses to start podman containers without the POSIX
# message queue filesystem at /dev/mqueue, which a systemd machine mounts and this one may not (/dev is rebuilt at
# every boot, so this runs each time; idempotent).
if ! mountpoint -q /dev/mqueue; then
  mkdir -p /dev/mqueue
  mount -t mqueue mqueue /dev/mqueue || die "cannot mount /dev/mqueue (mount -t mqueue mqueue /dev/mqueue); ansible-navigator needs it"
  log "mounted /dev/mqueue (for ansible-navigator)"
fi

# --- Python tooling and collections -------------------------------------------------------------
command -v "$PYTHON" >/dev/null || die "$PYTHON not found; the pinned ansible-core 2.19 needs Python 3.11"
# shellcheck source=scripts/lib/venv.sh
. "$ROOT/scripts/lib/venv.sh"
project_venv "$ROOT" "$PYTHON" requirements.txt
log "ok"
