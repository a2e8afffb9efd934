#!/usr/bin/env bash
# Lets an operator's own checkout (a clone made by that user, `make setup-controller` run in it: no root, no podman)
# run deploy, rollback and diagnose against the lab this checkout brought up, as a real fleet is run from an
# operator's machine. It copies what the lab inventory reads into the operator's checkout, owned by the operator and
# readable by no one else: the lab's SSH key, known hosts, config (its paths made the operator's) and record of app
# hosts (build/lab-ssh), the CA certificate the hosts' TLS is checked against (build/lab-ca/ca.crt, not the CA's
# or any server's key) and the inventory's secrets (inventories/lab/.secrets, production's vault file). Run it again
# after the lab is brought up again (new host keys, addresses, key pair).
# Usage (as the user who ran `make lab`): scripts/lab-operator.sh OPERATOR CHECKOUT
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf 'lab-operator: %s\n' "$*" >&2; exit 1; }

(($# == 2)) || die "usage: scripts/lab-operator.sh OPERATOR CHECKOUT (the operator's clone of this repository)"
operator=$1
checkout=$(cd "$2" 2>/dev/null && pwd) || die "$2 is not a directory (fix: git clone this repository as $operator first)"
id -u "$operator" >/dev/null 2>&1 || die "no user $operator on this machine"
[[ -f $checkout/inventories/lab/hosts.yml ]] ||
  die "$checkout holds no checkout of this project (no inventories/lab/hosts.yml; fix: git clone it there)"
[[ $checkout != "$ROOT" ]] || die "$checkout is this checkout: give the operator a clone of their own"
[[ -f $ROOT/build/lab-ssh/config && -f $ROOT/build/lab-ssh/lab.json ]] ||
  die "no lab is up from this checkout (no build/lab-ssh/config; fix: make lab)"

owner=$(stat -c %U "$checkout")
[[ $owner == "$operator" ]] || die "$checkout belongs to $owner, not $operator (fix: a clone made by $operator)"

group=$(id -gn "$operator")
# the directories, the operator's (install -d would make a missing parent root's)
install -d -o "$operator" -g "$group" -m 0755 "$checkout/build"
install -d -o "$operator" -g "$group" -m 0700 "$checkout/build/lab-ssh" "$checkout/build/lab-ca" \
  "$checkout/inventories/lab/.secrets"
put() { install -o "$operator" -g "$group" -m 0600 "$1" "$2"; }  # put SOURCE DEST: the operator's, 0600
for file in id_ed25519 id_ed25519.pub known_hosts lab.json; do
  put "$ROOT/build/lab-ssh/$file" "$checkout/build/lab-ssh/$file"
done
# the config names the key and known hosts by absolute path: the operator's copies
config=$(mktemp)
trap 'rm -f "$config"' EXIT
sed "s#$ROOT/build/lab-ssh/#$checkout/build/lab-ssh/#g" "$ROOT/build/lab-ssh/config" >"$config"
put "$config" "$checkout/build/lab-ssh/config"
put "$ROOT/build/lab-ca/ca.crt" "$checkout/build/lab-ca/ca.crt"
for file in "$ROOT"/inventories/lab/.secrets/*; do
  put "$file" "$checkout/inventories/lab/.secrets/$(basename "$file")"
done
echo "lab-operator: $operator can run the lab's playbooks from $checkout (as $operator: .venv/bin/ansible-playbook playbooks/diagnose.yml)"
