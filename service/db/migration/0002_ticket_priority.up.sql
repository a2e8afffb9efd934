-- v1.1.0: additive only (expand/contract), so v1.0.0 keeps running on this schema.
ALTER TABLE cs_tickets ADD COLUMN IF NOT EXISTS priority TEXT;
ALTER TABLE cs_messages ADD COLUMN IF NOT EXISTS content_length INTEGER;
CREATE INDEX IF NOT EXISTS cs_tickets_status_priority_idx ON cs_tickets (status, priority);
