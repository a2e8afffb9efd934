DROP INDEX IF EXISTS cs_tickets_status_priority_idx;
ALTER TABLE cs_messages DROP COLUMN IF EXISTS content_length;
ALTER TABLE cs_tickets DROP COLUMN IF EXISTS priority;
