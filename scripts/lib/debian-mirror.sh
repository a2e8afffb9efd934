# shellcheck shell=bash
# debian_mirror: the Debian mirror of this machine's own apt sources (never a hard-coded host), or
# $AI_CS_LAB_MIRROR when set. Sourced by the image builds (lab/image/build.sh, service/image/base.sh).
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
