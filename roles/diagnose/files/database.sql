SELECT
  (SELECT array_to_string(array_agg(t), ',')
     FROM unnest(ARRAY['cs_sessions', 'cs_messages', 'cs_tickets', 'cs_audit_logs', 'cs_message_dedup']) AS t
    WHERE to_regclass('public.' || t) IS NULL) AS missing_tables,
  CASE WHEN to_regclass('public.cs_tickets') IS NULL THEN NULL
       ELSE (xpath('/row/n/text()', query_to_xml('SELECT count(*) AS n FROM cs_tickets', false, true, '')))[1]::text::bigint
  END AS tickets,
  CASE WHEN to_regclass('public.schema_migrations') IS NULL THEN NULL
       ELSE (xpath('/row/v/text()', query_to_xml('SELECT version AS v FROM schema_migrations', false, true, '')))[1]::text::bigint
  END AS schema_version,
  CASE WHEN to_regclass('public.schema_migrations') IS NULL THEN NULL
       ELSE (xpath('/row/d/text()', query_to_xml('SELECT dirty AS d FROM schema_migrations', false, true, '')))[1]::text::boolean
  END AS dirty
