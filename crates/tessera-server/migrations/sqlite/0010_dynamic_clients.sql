-- Dynamic client registration (RFC 7591 / RFC 7592).
-- A dynamically registered client: the clients row holds what every client has; this row
-- holds the registration access token (a keyed hash only), the metadata as the client
-- registered it (JSON), and when the client was last used (for the expiry of idle ones).
CREATE TABLE dynamic_clients (
    client_id               TEXT PRIMARY KEY REFERENCES clients(client_id) ON DELETE CASCADE,
    registration_token_hash TEXT NOT NULL,
    metadata                TEXT NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    last_used_at            INTEGER
);

-- Initial access tokens (RFC 7591 §3): issued by the CLI or the Management API, stored as
-- keyed hashes; remaining_uses NULL means unlimited until expires_at (NULL: never).
CREATE TABLE registration_tokens (
    id             TEXT PRIMARY KEY,
    token_hash     TEXT NOT NULL UNIQUE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER,
    remaining_uses INTEGER
);
