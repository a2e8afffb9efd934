#!/usr/bin/env bash
# runbook-rollback.sh VERSION HOST...: the runbook's manual rollback (section 6.1), scripted faithfully, one host after
# another as an operator at a shell would; bench/bench.py runs it under the same load as the playbooks.
#
# The runbook's steps, and what each is on the lab (the service runs under systemd there, so "pkill" is systemctl
# stop: a process killed behind systemd's back is started again by it, and "nohup ./ai-customer-service-v1.0.0" is
# systemctl start of the release's unit):
#   1. echo "Rolling back from $(./ai-customer-service --version) to v1.0.0"
#   2. pkill -f "ai-customer-service"; sleep 2
#   3. pg_dump ... > /tmp/ai_cs_backup_<time>.sql        (optional, advised; once, on the database host)
#   4. the v1.0.0 binary "from the backup location"       (it is on disk: point current and the unit at it)
#   5. nohup ./ai-customer-service-v1.0.0 ... &; sleep 3
#   6. curl -s http://localhost:8080/ready; curl -s http://localhost:8080/actuator/health
# No drain: haproxy finds each stopped host by its health check, as in the runbook's world.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(($# >= 2)) || { echo "usage: $0 VERSION HOST..." >&2; exit 2; }
version=$1
shift
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "runbook-rollback: VERSION must look like v1.2.3" >&2; exit 2; }
ssh=(ssh -F "$ROOT/build/lab-ssh/config")

backup=/tmp/ai_cs_backup_$(date +%Y%m%d_%H%M%S).sql
first=1
for host in "$@"; do
  "${ssh[@]}" "$host" bash -s -- "$version" <<'STEPS'
set -euo pipefail
version=$1
cd /opt/ai-customer-service
echo "Rolling back from $(readlink current) to $version"
systemctl stop ai-customer-service
sleep 2
STEPS
  if ((first)); then
    "${ssh[@]}" ai-cs-db "runuser -u postgres -- pg_dump -p 5434 ai_customer_service > $backup"
    first=0
  fi
  "${ssh[@]}" "$host" bash -s -- "$version" <<'STEPS'
set -euo pipefail
version=$1
cd /opt/ai-customer-service
ln -sfn "releases/$version" current
cp "releases/$version/ai-customer-service.service" /etc/systemd/system/ai-customer-service.service
systemctl daemon-reload
systemctl start ai-customer-service
sleep 3
curl -s http://localhost:8080/ready; echo
curl -s http://localhost:8080/actuator/health; echo
STEPS
done
"${ssh[@]}" ai-cs-db rm -f "$backup"
