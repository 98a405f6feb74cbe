-- Pushed authorization requests (RFC 9126) and device authorizations (RFC 8628).
-- request_uri references, device codes and user codes are stored only as keyed hashes.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BIGINT NOT NULL DEFAULT 0;

CREATE TABLE pushed_requests (
    request_uri_hash TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    request          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    consumed_at      BIGINT
);
CREATE INDEX pushed_requests_by_expiry ON pushed_requests(expires_at);

CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    audience         TEXT,
    status           TEXT NOT NULL,
    poll_interval    BIGINT NOT NULL,
    user_id          TEXT,
    auth_time        BIGINT,
    sid              TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    consumed_at      BIGINT
);
CREATE INDEX device_codes_by_expiry ON device_codes(expires_at);
