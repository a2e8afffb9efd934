-- v1.0.0 schema. Idempotent (IF NOT EXISTS), as the runbook's migration table promises.
CREATE TABLE IF NOT EXISTS cs_sessions (
    id          BIGSERIAL PRIMARY KEY,
    open_id     TEXT        NOT NULL UNIQUE,
    channel     TEXT        NOT NULL,
    status      TEXT        NOT NULL DEFAULT 'active',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cs_messages (
    id          BIGSERIAL PRIMARY KEY,
    session_id  BIGINT      NOT NULL REFERENCES cs_sessions (id) ON DELETE CASCADE,
    message_id  TEXT        NOT NULL UNIQUE,
    channel     TEXT        NOT NULL,
    direction   TEXT        NOT NULL DEFAULT 'inbound',
    content     TEXT        NOT NULL,
    sent_at     TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cs_tickets (
    id          BIGSERIAL PRIMARY KEY,
    session_id  BIGINT      NOT NULL REFERENCES cs_sessions (id) ON DELETE CASCADE,
    message_id  TEXT        NOT NULL,
    reason      TEXT        NOT NULL,
    status      TEXT        NOT NULL DEFAULT 'open',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cs_audit_logs (
    id          BIGSERIAL PRIMARY KEY,
    event       TEXT        NOT NULL,
    code        TEXT,
    message_id  TEXT,
    remote_addr TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cs_message_dedup (
    message_id  TEXT PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
