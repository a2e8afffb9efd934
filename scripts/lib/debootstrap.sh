# shellcheck shell=bash
# What the image builds (lab/image/build.sh, service/image/base.sh) share: no registry is reachable, so each builds
# its root filesystem with debootstrap from this machine's own apt mirror.
#
# debian_mirror: the Debian mirror of this machine's own apt sources (never a hard-coded host), or
# $AI_CS_LAB_MIRROR when set.
debian_mirror() {
  local uri=${AI_CS_LAB_MIRROR:-}
  if [[ -z $uri ]]; then
    uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  if [[ -z $uri ]]; then
    uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  [[ -n $uri ]] || { echo "ERROR: no Debian mirror in /etc/apt/sources*; add one or set AI_CS_LAB_MIRROR" >&2; return 1; }
  echo "$uri"
}

# debian_bootstrap ROOTFS PACKAGES_FILE WHO: bookworm minbase with the packages PACKAGES_FILE lists (one per line,
# # comments) into ROOTFS; on failure the log's tail and "WHO: ERROR" on stderr, and a non-zero return.
debian_bootstrap() {
  local rootfs=$1 list=$2 who=$3 mirror packages
  mirror=$(debian_mirror) || return 1
  packages=$(grep -vE '^\s*(#|$)' "$list" | paste -sd, -)
  echo "$who: debootstrap from $mirror" >&2
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log" >&2; echo "$who: ERROR: debootstrap failed (log above)" >&2; return 1; }
}
