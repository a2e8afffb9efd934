#!/usr/bin/env bash
# Brings this machine to what the project needs: system packages, a podman configuration that
# works on hosts like these, the pinned Python tooling in .venv, and the collections check.
# Idempotent: a warm run installs nothing and takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3.11}

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# --- system packages -------------------------------------------------------------------------
# podman+runc run the lab, debootstrap builds its image, postgresql is the real database the
# pytest suites start, faketime skews one process's clock, shellcheck lints scripts, openssh-client
# reaches the lab hosts as ansible reaches production.
SYSTEM_PACKAGES=(podman runc debootstrap uidmap slirp4netns postgresql-15 postgresql-client-15
                 shellcheck faketime curl jq make git openssl openssh-client)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "system packages missing (${missing[*]}) and not root; run: sudo $0"
  log "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "system packages present"
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

# --- Python tooling ----------------------------------------------------------------------------
stamp="$VENV/.requirements.sha256"
want_hash=$(cat "$ROOT/requirements.txt" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || ! -f $stamp || "$(cat "$stamp")" != "$want_hash" ]]; then
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found; the pinned ansible-core 2.19 needs Python 3.11"
  log "creating $VENV with pinned tooling"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt"
  printf '%s\n' "$want_hash" > "$stamp"
else
  log "virtualenv current"
fi

# --- collections -------------------------------------------------------------------------------
"$VENV/bin/python" "$ROOT/scripts/check_collections.py" "$ROOT/requirements.yml"
log "ok"
