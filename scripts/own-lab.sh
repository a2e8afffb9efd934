#!/usr/bin/env bash
# own-lab.sh NAME COMMAND...: run COMMAND against a lab of its own, beside the lab `make lab` brings up (make test
# runs the image-mode suite on one, unless AI_CS_TEST_IMAGE_MODE=0).
#
# The second lab has the same host names, subnet and published ports as the first (the playbooks, the inventory and
# the tests need no change), and shares nothing with it: COMMAND runs
#   - in a network namespace of its own, ai-cs-NAME (its lab network, its haproxy's ports on its own 127.0.0.1),
#   - with a podman store of its own (/var/lib/ai-cs-labs/NAME; the lab and release base images are read from the
#     machine's store, never written), its own CNI configuration, and the lab network ai-cs-lab-NAME (CNI keeps
#     addresses and DNS state by network name, machine-wide),
#   - from a copy of this checkout in build/labs/NAME (its own ssh keys, CA, secrets and control sockets; the release
#     artifacts and images copied from this checkout's build/, so both labs serve the same digests).
# Shared still, podman cannot separate them: its runtime directory and its lock segment (lock numbers are allocated
# per store, so containers of the two stores can share a lock; harmless in the runs measured, slower at worst).
# The copy is refreshed at every call; its build/ and its lab secrets are kept. Remove a lab of its own with
#   scripts/own-lab.sh NAME ansible-playbook playbooks/lab-down.yml
# and its state with scripts/own-lab.sh NAME --purge.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "own-lab: $*" >&2; exit 2; }
(($# >= 2)) || die "usage: $0 NAME COMMAND... | $0 NAME --purge"
name=$1
shift
[[ $name =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "NAME must be 1-8 lower-case letters or digits, starting with a letter: '$name'"
((EUID == 0)) || die "needs root (a network namespace, a podman store of its own), as the lab does"

netns=ai-cs-$name
state=/var/lib/ai-cs-labs/$name
copy=$ROOT/build/labs/$name

if [[ $1 == --purge ]]; then
  # Only what this script made: the namespace, the store (after its containers are gone) and the copy.
  # Not `podman system reset`: it also removes podman's runtime directory (/run/libpod), which both stores share,
  # and the machine's store then "refreshes" as after a reboot.
  if [[ -f $state/containers.conf ]]; then
    export CONTAINERS_CONF=$state/containers.conf CONTAINERS_STORAGE_CONF=$state/storage.conf
    nsenter --net="/run/netns/$netns" podman rm --all --force >/dev/null
    nsenter --net="/run/netns/$netns" podman volume rm --all --force >/dev/null
    unset CONTAINERS_CONF CONTAINERS_STORAGE_CONF
  fi
  ip netns delete "$netns" 2>/dev/null || true
  rm -rf "$state" "/run/ai-cs-labs/$name" "$copy"
  exit 0
fi

# The namespace: loopback up (the published ports and the probes' 127.0.0.1), nothing else; the lab's bridge is
# made in it by podman.
if [[ ! -e /run/netns/$netns ]]; then
  ip netns add "$netns"
fi
ip -n "$netns" link set lo up

# podman: the machine's settings (scripts/setup.sh wrote them: runc, ulimits), another store and CNI directory.
# CONTAINERS_CONF replaces the machine's files, so their settings are repeated here first (they set no [network]).
mkdir -p "$state/cni"
machine=(/etc/containers/containers.conf /etc/containers/containers.conf.d/*.conf)
{
  for f in "${machine[@]}"; do
    [[ -f $f ]] || continue
    ! grep -q '^\[network\]' "$f" || die "$f has a [network] table; this script cannot merge it with its own"
    cat "$f"
  done
  printf '%s\n' '[network]' "network_config_dir = \"$state/cni\""
} >"$state/containers.conf"
cat >"$state/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$state/storage"
runroot = "/run/ai-cs-labs/$name/storage"
[storage.options]
additionalimagestores = ["$(podman info --format '{{.Store.GraphRoot}}')"]
EOF

# The copy: the checkout as it is on disk (uncommitted changes included), without its build/, .venv and lab secrets;
# one call at a time refreshes it (a second call waits).
mkdir -p "$ROOT/build/labs"
exec 9>"$state/refresh.lock"
flock 9
fresh=$(mktemp -d "$ROOT/build/labs/.$name.XXXXXX")
tar -C "$ROOT" --exclude=./build --exclude=./.venv --exclude=./.git --exclude=./.ansible --exclude=__pycache__ \
  --exclude=./.ruff_cache --exclude=./.pytest_cache --exclude=./inventories/lab/.secrets -cf - . | tar -C "$fresh" -xf -
for keep in build inventories/lab/.secrets; do
  if [[ -e $copy/$keep ]]; then
    mkdir -p "$(dirname "$fresh/$keep")"
    mv "$copy/$keep" "$fresh/$keep"
  fi
done
rm -rf "$copy"
mv "$fresh" "$copy"
ln -sfn "$ROOT/.venv" "$copy/.venv"
# The artifacts and images this checkout built, copied into the directories a running lab's artifacts host mounts
# (so into them, not in their place).
for built in artifacts images; do
  if [[ -d $ROOT/build/$built ]]; then
    mkdir -p "$copy/build/$built"
    cp -a "$ROOT/build/$built/." "$copy/build/$built/"
  fi
done
exec 9>&-

cd "$copy"
export PATH="$ROOT/.venv/bin:$PATH"  # as make and scripts/test.sh run it
export CONTAINERS_CONF=$state/containers.conf CONTAINERS_STORAGE_CONF=$state/storage.conf AI_CS_LAB_NETWORK=ai-cs-lab-$name
exec nsenter --net="/run/netns/$netns" "$@"
