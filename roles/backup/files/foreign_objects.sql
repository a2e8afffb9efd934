-- What in the service's database is not the service's: schemas and relations owned by a role the connecting role
-- (the service's) is not a member of, as pg_dump options with their patterns double-quoted (inside double quotes a
-- pattern's special characters are literal; a double quote is doubled). public always stays in: the database's
-- owner owns it (pg_database_owner), and it holds the service's tables. System schemas are not dumped anyway.
WITH schemas AS (
  SELECT n.oid, n.nspname, pg_has_role(n.nspowner, 'MEMBER') OR n.nspname = 'public' AS own
  FROM pg_namespace n
  WHERE n.nspname NOT IN ('information_schema', 'pg_catalog', 'pg_toast') AND n.nspname NOT LIKE 'pg\_temp\_%'
    AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
)
SELECT arg FROM (
  SELECT '--exclude-schema="' || replace(s.nspname, '"', '""') || '"' AS arg
  FROM schemas s WHERE NOT s.own
  UNION ALL
  SELECT '--exclude-table="' || replace(s.nspname, '"', '""') || '"."' || replace(c.relname, '"', '""') || '"'
  FROM pg_class c JOIN schemas s ON s.oid = c.relnamespace
  WHERE s.own AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT pg_has_role(c.relowner, 'MEMBER')
) foreign_objects
ORDER BY arg
