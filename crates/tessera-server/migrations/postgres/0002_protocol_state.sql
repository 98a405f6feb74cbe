-- Protocol state: codes, refresh-token families, issued access tokens, replay caches,
-- sessions, login transactions, consents, login throttling, audit trail.
-- Handles (codes, refresh tokens, session ids) are stored only as keyed hashes.
CREATE TABLE authorization_codes (
    code_hash             TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL,
    user_id               TEXT NOT NULL,
    redirect_uri          TEXT,
    scope                 TEXT NOT NULL,
    audience              TEXT,
    nonce                 TEXT,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    dpop_jkt              TEXT,
    auth_time             BIGINT NOT NULL,
    sid                   TEXT,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    consumed_at           BIGINT,
    family_id             TEXT
);

CREATE TABLE refresh_families (
    family_id           TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    scope               TEXT NOT NULL,
    audience            TEXT,
    nonce               TEXT,
    auth_time           BIGINT NOT NULL,
    sid                 TEXT,
    dpop_jkt            TEXT,
    created_at          BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    revoked_at          BIGINT,
    revoked_reason      TEXT
);
CREATE INDEX refresh_families_by_user ON refresh_families(user_id);
CREATE INDEX refresh_families_by_client ON refresh_families(client_id);

CREATE TABLE refresh_tokens (
    token_hash      TEXT PRIMARY KEY,
    family_id       TEXT NOT NULL REFERENCES refresh_families(family_id) ON DELETE CASCADE,
    generation      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    superseded_at   BIGINT,
    successor_hash  TEXT,
    successor_token TEXT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);

-- Access tokens issued from a code or a refresh family, so reuse detection and
-- revocation can reach them; revoked ones are consulted by /userinfo and introspection.
CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    family_id  TEXT,
    code_hash  TEXT,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_by_family ON access_tokens(family_id);
CREATE INDEX access_tokens_by_code ON access_tokens(code_hash);

CREATE TABLE replay_cache (
    namespace  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, jti)
);

CREATE TABLE sessions (
    session_hash        TEXT PRIMARY KEY,
    sid                 TEXT NOT NULL UNIQUE,
    user_id             TEXT NOT NULL,
    auth_time           BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    ended_at            BIGINT
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE login_transactions (
    txn_hash     TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    request      TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    user_id      TEXT,
    auth_time    BIGINT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    completed_at BIGINT
);

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    audience   TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, audience)
);

CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    blocked_until BIGINT
);

CREATE TABLE audit_events (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    client_id TEXT,
    user_id   TEXT,
    ip        TEXT,
    detail    TEXT NOT NULL
);
CREATE INDEX audit_events_by_kind ON audit_events(kind, at);
