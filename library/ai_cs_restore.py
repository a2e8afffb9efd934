#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: restore a verified dump over the service's own objects, in one transaction."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_cs_restore
short_description: Restore a sealed dump over the service's own objects, in one transaction
description:
  - Restores I(file), a custom-format dump the backup role sealed, over database I(db) as the service's own role
    (runbook 6.3, destructive, everything written after the dump is lost). The caller stops the service and takes a
    safety backup first.
  - Refuses, before anything changes, a dump that does not match the checksum written beside it (I(file).sha256).
  - Touches only what the service's role owns. The dump's objects are replaced (backups hold only what that role
    owns) and that role's tables in public that the dump does not hold (made after it) are dropped; another role's
    tables are left as they are. The drops and pg_restore's SQL go to one psql session in one transaction, whose
    COMMIT is sent only once pg_restore has written all of it. An error in psql (a view of another role that depends
    on one of the service's tables, say) or in pg_restore ends the session uncommitted, and the database is as it
    was.
  - libpq gets the connection from the environment (PGSSLMODE and PGSSLROOTCERT too, so the server's certificate is
    verified as the service verifies it); the password never reaches a command line or the output.
  - In a pipeline run (its state directory holds the request), action plugin ai_cs_restore refuses unless the
    operator's request asked for this restore and typed the database's name. The confirmation is taken from the
    run's state, where -e cannot reach.
version_added: "1.1.0"
author: ai-customer-service ops (@ai-cs-ops)
options:
  file:
    description: The dump (.pgc) on this host, with its .sha256 beside it.
    type: path
    required: true
  host:
    description: PostgreSQL host.
    type: str
    required: true
  port:
    description: PostgreSQL port.
    type: int
    default: 5432
  db:
    description: The service's database.
    type: str
    required: true
  user:
    description: The service's role (it owns what is restored).
    type: str
    required: true
  password:
    description: Its password.
    type: str
    required: true
  ssl_mode:
    description: libpq's sslmode.
    type: str
    default: prefer
  ca_cert:
    description: The CA the server's certificate is checked against (verify-ca, verify-full).
    type: path
  fence_run_id:
    description:
      - The run that holds the deploy lock (the pipeline's lease in I(fence_table)). The restore's transaction first
        checks this run still holds an unexpired lease and locks its row until it ends, so a run whose lease expired
        restores nothing. Empty, no check. In a pipeline run, action plugin ai_cs_restore sets it from the run's
        state.
    type: str
    default: ""
  fence_table:
    description: The deploy lock's table, schema.table.
    type: str
    default: ai_cs_ops.deploy_lock
  confirm_data_loss:
    description:
      - The database's name, typed by the operator; anything else is refused before anything changes.
      - In a pipeline run, action plugin ai_cs_restore sets it from the operator's request, never from the task.
    type: str
    default: ""
notes:
  - Check mode verifies the dump's checksum and lists what would be dropped; it changes nothing.
requirements:
  - pg_restore and psql (PostgreSQL's client) on the host.
"""

EXAMPLES = r"""
- name: Restore the backup taken when v1.0.0 was left
  ai_cs_restore:
    file: /var/backups/ai-customer-service/ai_customer_service-v1.0.0-to-v1.1.0-20261206T020000Z.pgc
    host: ai-cs-db
    port: 5434
    db: ai_customer_service
    user: ai_cs
    password: "{{ ai_cs_postgres_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/ai-cs-postgres-ca.pem
    confirm_data_loss: ai_customer_service
"""

RETURN = r"""
sha256:
  description: The dump's checksum, as checked.
  returned: always
  type: str
schema_version:
  description: The schema version the dump brought back (null without schema_migrations).
  returned: success, not in check mode
  type: int
dropped_tables:
  description: The service's tables dropped as newer than the dump.
  returned: always
  type: list
  elements: str
"""

import hashlib
import os
import re

from ansible.module_utils.ai_cs_runbook import explain
from ansible.module_utils.basic import AnsibleModule

OWN_TABLES = (
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND pg_has_role(tableowner, 'MEMBER') ORDER BY 1"
)
SCHEMA = (
    "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN NULL "
    "ELSE (SELECT version FROM schema_migrations LIMIT 1) END"
)
DUMPED_TABLE = re.compile(r" TABLE public (\S+) ")


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# BEGIN, the drops, pg_restore's SQL, then COMMIT only once pg_restore finished well: a psql session that ends
# without it (pg_restore failed, or psql stopped at an error: ON_ERROR_STOP) commits nothing.
PIPELINE = r"""
set -o pipefail
file=$1
shift
{
  printf 'BEGIN;\n'
  for statement; do printf '%s\n' "$statement"; done
  pg_restore --file=- --clean --if-exists --no-owner "$file" && printf 'COMMIT;\n'
} | psql -X -q -v ON_ERROR_STOP=1
"""


def fence(table: str, run_id: str) -> str:
    """The deploy lock as a fencing token, the transaction's first statement: this run's lease must be there and
    unexpired, its row locked until the transaction ends (no other run takes the lock over meanwhile)."""
    return (
        f"DO $fence$ BEGIN PERFORM 1 FROM {table} WHERE run_id = '{run_id}' AND expires_at > now() FOR UPDATE; "
        f"IF NOT FOUND THEN RAISE EXCEPTION 'this run ({run_id}) no longer holds the deploy lock ({table}): its lease "
        "expired and another run may have taken it over (cause: a step before the restore outlasted "
        "deploy_lock_lease_seconds; fix: see what the other run does before going on)'; END IF; END $fence$;"
    )


def restore(module: AnsibleModule, env: dict[str, str], drops: list[str]) -> str:
    """The dump and the drops in one transaction: '' when committed, else what failed (nothing was committed)."""
    p = module.params
    statements = [fence(p["fence_table"], p["fence_run_id"])] if p["fence_run_id"] else []
    statements += [f"DROP TABLE IF EXISTS public.{quoted(t)} CASCADE;" for t in drops]
    argv = ["bash", "-c", PIPELINE, "restore", module.params["file"], *statements]
    rc, _out, err = module.run_command(argv, environ_update=env)
    return "" if rc == 0 else f"nothing was committed: {err.strip() or f'exit {rc}'}"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "file": {"type": "path", "required": True},
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "default": 5432},
            "db": {"type": "str", "required": True},
            "user": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "ssl_mode": {"type": "str", "default": "prefer"},
            "ca_cert": {"type": "path"},
            "confirm_data_loss": {"type": "str", "default": ""},
            "fence_run_id": {"type": "str", "default": ""},
            "fence_table": {"type": "str", "default": "ai_cs_ops.deploy_lock"},
        },
        supports_check_mode=True,
    )
    p = module.params
    dump = p["file"]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*", p["fence_table"]) or not re.fullmatch(
        r"[A-Za-z0-9._:-]*", p["fence_run_id"]
    ):
        module.fail_json(msg="fence_table must be schema.table and fence_run_id a run id (letters, digits, . _ : -)")
    if p["confirm_data_loss"] != p["db"]:
        module.fail_json(
            msg=f"restoring {dump} replaces database {p['db']}: everything written since the dump is LOST. It needs "
            f"confirm_data_loss={p['db']} (the database's name). Nothing was restored."
        )
    try:
        with open(dump + ".sha256", encoding="utf-8") as src:
            sealed = src.read().split()[0]
    except (OSError, IndexError):
        module.fail_json(msg=f"{dump} has no .sha256 beside it (cause: it is not a dump the backup role sealed; fix: "
                         "pick a sealed backup). Nothing was restored.")  # fmt: skip
    if not os.path.isfile(dump) or sha256(dump) != sealed:
        module.fail_json(msg=f"{dump} does not match its .sha256 (cause: the file changed or is truncated since the "
                         "backup; fix: pick another backup). Nothing was restored.")  # fmt: skip
    env = {
        "PGHOST": p["host"],
        "PGPORT": str(p["port"]),
        "PGDATABASE": p["db"],
        "PGUSER": p["user"],
        "PGPASSWORD": p["password"],
        "PGSSLMODE": p["ssl_mode"],
        "PGSSLROOTCERT": p["ca_cert"] or "",
        "PGAPPNAME": "ai-cs-restore",
    }
    listed = module.run_command(["pg_restore", "--list", dump], environ_update={}, check_rc=True)[1]
    in_dump = {m.group(1) for m in DUMPED_TABLE.finditer(listed)}
    rc, owned, err = module.run_command(["psql", "-X", "-tA", "-c", OWN_TABLES], environ_update=env)
    if rc != 0:
        module.fail_json(msg=f"cannot read the database's tables: {err.strip()}{explain(err)}. Nothing was restored.")
    drops = [t for t in owned.splitlines() if t and t not in in_dump]
    result = {"changed": True, "sha256": sealed, "dropped_tables": drops}
    if module.check_mode:
        module.exit_json(**result)
    failed = restore(module, env, drops)
    if failed:
        module.fail_json(msg=f"{failed}{explain(failed)}. The database is as it was.", **{**result, "changed": False})
    rc, version, err = module.run_command(["psql", "-X", "-tA", "-c", SCHEMA], environ_update=env)
    result["schema_version"] = int(version.strip()) if rc == 0 and version.strip() else None
    module.exit_json(**result)


if __name__ == "__main__":
    main()
