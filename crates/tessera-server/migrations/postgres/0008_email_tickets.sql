-- Email delivery (issue 17): the durable outbox and the emailed tickets and one-time codes.
-- Tickets and codes are stored only as keyed hashes; a sent message keeps no body.
CREATE TABLE email_outbox (
    id          TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    text_body   TEXT NOT NULL,
    html_body   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT,
    claim       TEXT,
    sent_at     BIGINT,
    last_error  TEXT
);
CREATE INDEX email_outbox_due ON email_outbox(due_at) WHERE sent_at IS NULL;

CREATE TABLE email_tickets (
    ticket_hash TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    user_id     TEXT,
    email       TEXT,
    client_id   TEXT,
    code_hash   TEXT,
    scope       TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT,
    attempts    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX email_tickets_by_expiry ON email_tickets(expires_at);
