#!/usr/bin/python
# Copyright: ai-customer-service contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: a verified, sealed pg_dump of what the service's role owns, renewing the deploy lock meanwhile."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_cs_backup
short_description: A verified, sealed pg_dump of what the service's role owns, keeping the run's lease alive
description:
  - Dumps database I(db) as the service's own role, in custom format, into I(file).partial, verifies it and seals it,
    in one call. A .pgc in the backup directory is always a verified dump with its .sha256 (written first) beside it;
    a failed dump leaves nothing behind.
  - Only what that role owns is dumped. Another role's schemas and relations (a DBA's notes, say) stay out, since
    the service's role may not read them and a restore must not touch them; I(exclude_schemas) stay out too (the
    project's own bookkeeping, the deploy lock).
  - Verified. The dump lists as many tables of public as the role owns there, and pg_restore reads every byte of it.
  - While pg_dump runs, this run's lease on the deploy lock (I(fence_run_id) in I(fence_table)) is renewed every
    third of I(lease_seconds), so a long dump does not let the lease expire under a run that is alive; a lease taken
    over meanwhile fails the backup after the dump, with the dump removed.
  - libpq gets the connection from the environment (PGSSLMODE and PGSSLROOTCERT too, so the server's certificate is
    verified as the service verifies it); the password never reaches a command line or the output.
  - A dump of that name already sealed is not taken again (a retried run).
version_added: "1.1.0"
author: ai-customer-service ops (@ai-cs-ops)
options:
  file:
    description: The dump to make (.pgc), in a directory only root may read (made 0700 when missing).
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
    description: The service's role.
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
  exclude_schemas:
    description: Schemas left out of the dump besides another role's.
    type: list
    elements: str
    default: []
  fence_run_id:
    description: The run whose lease on the deploy lock is renewed while pg_dump runs; empty, none.
    type: str
    default: ""
  fence_table:
    description: The deploy lock's table, schema.table.
    type: str
    default: ai_cs_ops.deploy_lock
  lease_seconds:
    description: The lease a renewal gives (the pipeline's deploy_lock_lease_seconds).
    type: int
    default: 900
notes:
  - Check mode reports where the dump would go and changes nothing.
requirements:
  - pg_dump and pg_restore (PostgreSQL's client) and psycopg2 on the host.
"""

EXAMPLES = r"""
- name: Back up before migrating
  ai_cs_backup:
    file: /var/backups/ai-customer-service/ai_customer_service-v1.0.0-to-v1.1.0-20261206T040000Z.pgc
    host: ai-cs-db
    port: 5434
    db: ai_customer_service
    user: ai_cs
    password: "{{ ai_cs_postgres_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/ai-cs-postgres-ca.pem
    exclude_schemas: [ai_cs_ops]
"""

RETURN = r"""
file:
  description: The sealed dump.
  returned: success
  type: str
sha256:
  description: Its checksum, also written beside it as file.sha256.
  returned: success, not in check mode
  type: str
size:
  description: Its size in bytes.
  returned: success, not in check mode
  type: int
mtime:
  description: When it was sealed (epoch seconds).
  returned: success, not in check mode
  type: float
renewals:
  description: How many times the lease was renewed while pg_dump ran.
  returned: success
  type: int
"""

import hashlib
import os
import re
import threading
import traceback

from ansible.module_utils.ai_cs_runbook import explain
from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import psycopg2
except ImportError:
    psycopg2 = None
    PSYCOPG2_ERROR = traceback.format_exc()
else:
    PSYCOPG2_ERROR = None

FOREIGN = """
WITH schemas AS (
  SELECT n.oid, n.nspname, pg_has_role(n.nspowner, 'MEMBER') OR n.nspname = 'public' AS own
  FROM pg_namespace n
  WHERE n.nspname NOT IN ('information_schema', 'pg_catalog', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
    AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'
)
SELECT '--exclude-schema="' || replace(s.nspname, '"', '""') || '"' FROM schemas s WHERE NOT s.own
UNION ALL
SELECT '--exclude-table="' || replace(s.nspname, '"', '""') || '"."' || replace(c.relname, '"', '""') || '"'
FROM pg_class c JOIN schemas s ON s.oid = c.relnamespace
WHERE s.own AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT pg_has_role(c.relowner, 'MEMBER')
ORDER BY 1
"""
OWN_PUBLIC_TABLES = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND pg_has_role(tableowner, 'MEMBER')"
TABLE_LINE = re.compile(r" TABLE public ")


class Renewal(threading.Thread):
    """Renews this run's lease every interval seconds while the dump runs; lost is set once the lease is not this
    run's any more (taken over)."""

    def __init__(self, connect, table: str, run_id: str, lease: int) -> None:
        super().__init__(daemon=True)
        self.connect, self.table, self.run_id, self.lease = connect, table, run_id, lease
        self.stop, self.lost, self.renewals, self.error = threading.Event(), False, 0, ""

    def run(self) -> None:
        while not self.stop.wait(max(self.lease / 3, 1)):
            try:
                conn = self.connect()
                try:
                    with conn, conn.cursor() as cur:
                        cur.execute(
                            f"UPDATE {self.table} SET renewed_at = now(), "  # noqa: S608 - a checked name
                            "expires_at = now() + make_interval(secs => %s) WHERE run_id = %s",
                            (self.lease, self.run_id),
                        )
                        if cur.rowcount != 1:
                            self.lost = True
                            return
                    self.renewals += 1
                finally:
                    conn.close()
            except psycopg2.Error as failed:  # the next renewal tries again; the dump goes on
                self.error = str(failed).strip()


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sealed(path: str) -> dict:
    st = os.stat(path)
    return {"file": path, "sha256": sha256(path), "size": st.st_size, "mtime": st.st_mtime}


class BackupError(Exception):
    def __init__(self, step: str, error: str) -> None:
        super().__init__(error.strip())
        self.step = step


def read_database(connect) -> tuple[list[str], int]:
    """pg_dump's options for another role's schemas and relations, and how many tables of public the role owns."""
    try:
        conn = connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(FOREIGN)
                excluded = [row[0] for row in cur.fetchall()]
                cur.execute(OWN_PUBLIC_TABLES)
                return excluded, cur.fetchone()[0]
        finally:
            conn.close()
    except psycopg2.Error as failed:
        raise BackupError("List what in the database is not the service's", str(failed)) from failed


def dump(module: AnsibleModule, env: dict, excludes: list[str], partial: str, renewal: Renewal | None) -> None:
    """pg_dump into partial, the lease renewed meanwhile."""
    if renewal:
        renewal.start()
    rc, _out, err = module.run_command(
        ["pg_dump", "--format=custom", f"--file={partial}", *excludes], environ_update=env
    )
    if renewal:
        renewal.stop.set()
        renewal.join(30)
    if rc != 0:
        raise BackupError("Dump the database in custom format, as the service's own role", err)
    if renewal and renewal.lost:
        lost = (
            f"this run ({renewal.run_id}) no longer holds the deploy lock: another run took it over while the dump ran"
        )
        raise BackupError("Renew this run's lease while pg_dump runs", f"{lost} (raise deploy_lock_lease_seconds)")


def verify_and_seal(module: AnsibleModule, partial: str, final: str, own_tables: int) -> None:
    """Every table the role owns listed, every byte read back; then the checksum written beside it and renamed into
    place, then the dump: a .pgc is always a verified dump with its .sha256 beside it."""
    rc, listing, err = module.run_command(["pg_restore", "--list", partial])
    tables = len(TABLE_LINE.findall(listing)) if rc == 0 else -1
    if tables != own_tables:
        raise BackupError(
            "Verify the dump", err or f"the dump lists {tables} tables, the service's role owns {own_tables}"
        )
    rc, _out, err = module.run_command(["pg_restore", "--file=/dev/null", partial])
    if rc != 0:
        raise BackupError("Read the whole dump back", err)
    os.chmod(partial, 0o600)
    digest = sha256(partial)
    seal = final + ".sha256.partial"
    with open(os.open(seal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
        out.write(f"{digest}  {os.path.basename(final)}\n")
    os.replace(seal, final + ".sha256")
    os.replace(partial, final)


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
            "exclude_schemas": {"type": "list", "elements": "str", "default": []},
            "fence_run_id": {"type": "str", "default": ""},
            "fence_table": {"type": "str", "default": "ai_cs_ops.deploy_lock"},
            "lease_seconds": {"type": "int", "default": 900},
        },
        supports_check_mode=True,
    )
    if psycopg2 is None:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_ERROR)
    p = module.params
    final, partial = p["file"], p["file"] + ".partial"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*", p["fence_table"]):
        module.fail_json(msg=f"fence_table {p['fence_table']!r} is not schema.table")
    if module.check_mode:
        module.exit_json(changed=True, file=final, renewals=0)
    if os.path.exists(final) and os.path.exists(final + ".sha256"):
        module.exit_json(changed=False, renewals=0, **sealed(final))
    directory = os.path.dirname(final)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    env = {"PGHOST": p["host"], "PGPORT": str(p["port"]), "PGDATABASE": p["db"], "PGUSER": p["user"],
           "PGPASSWORD": p["password"], "PGSSLMODE": p["ssl_mode"], "PGSSLROOTCERT": p["ca_cert"] or "",
           "PGAPPNAME": "ai-cs-backup"}  # fmt: skip

    def connect():
        return psycopg2.connect(connect_timeout=10, application_name="ai-cs-backup", host=p["host"], port=p["port"],
                                dbname=p["db"], user=p["user"], password=p["password"], sslmode=p["ssl_mode"],
                                sslrootcert=p["ca_cert"] or None)  # fmt: skip

    renewal = Renewal(connect, p["fence_table"], p["fence_run_id"], p["lease_seconds"]) if p["fence_run_id"] else None
    try:
        excluded, own_tables = read_database(connect)
        dump(module, env, [f"--exclude-schema={s}" for s in p["exclude_schemas"]] + excluded, partial, renewal)
        verify_and_seal(module, partial, final, own_tables)
    except (BackupError, OSError) as failed:
        for leftover in (partial, final + ".sha256.partial"):
            if os.path.exists(leftover):
                os.unlink(leftover)
        step = getattr(failed, "step", "Seal the dump")
        fix = f"read the error above: pg_dump connects as {p['user']} and writes to {directory}"
        said = f"{failed}{explain(str(failed), fix=fix)}"
        module.fail_json(msg=f"backup of {p['db']} to {final} failed at '{step}': {said}. Nothing was left behind.")
    module.exit_json(changed=True, renewals=renewal.renewals if renewal else 0, **sealed(final))


if __name__ == "__main__":
    main()
