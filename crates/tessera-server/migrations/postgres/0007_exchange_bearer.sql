-- Token exchange (RFC 8693) and the JWT bearer grant (RFC 7523 §2.1).
-- A client's exchange policy (JSON; NULL: the client cannot exchange tokens).
ALTER TABLE clients ADD COLUMN token_exchange_policy TEXT;

-- Issuers whose JWTs are accepted as grants and as exchange subjects.
CREATE TABLE trusted_issuers (
    id              TEXT PRIMARY KEY,
    issuer          TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    jwks            TEXT,
    jwks_uri        TEXT,
    subject_mapping TEXT NOT NULL,
    clients         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
