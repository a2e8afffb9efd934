DROP TABLE IF EXISTS cs_message_dedup, cs_audit_logs, cs_tickets, cs_messages, cs_sessions;
