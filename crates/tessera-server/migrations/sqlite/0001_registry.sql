-- Registry: tenant settings, applications, secrets, APIs, client grants, users, keys.
-- Times are Unix seconds (INTEGER); lists and JSON documents are TEXT.
CREATE TABLE tenant_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE clients (
    client_id                    TEXT PRIMARY KEY,
    name                         TEXT NOT NULL,
    app_type                     TEXT NOT NULL,
    token_endpoint_auth_method   TEXT NOT NULL,
    grant_types                  TEXT NOT NULL,
    callbacks                    TEXT NOT NULL,
    allowed_logout_urls          TEXT NOT NULL,
    is_first_party               INTEGER NOT NULL,
    jwks                         TEXT,
    refresh_rotation_type        TEXT NOT NULL,
    refresh_leeway               INTEGER NOT NULL,
    refresh_token_lifetime       INTEGER NOT NULL,
    refresh_idle_token_lifetime  INTEGER NOT NULL,
    id_token_signed_response_alg TEXT NOT NULL,
    require_dpop                 INTEGER NOT NULL DEFAULT 0,
    dpop_nonce                   TEXT,
    created_at                   INTEGER NOT NULL,
    updated_at                   INTEGER NOT NULL
);

CREATE TABLE client_secrets (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX client_secrets_by_client ON client_secrets(client_id);

CREATE TABLE resource_servers (
    id                   TEXT PRIMARY KEY,
    identifier           TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    scopes               TEXT NOT NULL,
    signing_alg          TEXT NOT NULL,
    token_lifetime       INTEGER NOT NULL,
    allow_offline_access INTEGER NOT NULL,
    require_dpop         INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE client_grants (
    id        TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    audience  TEXT NOT NULL REFERENCES resource_servers(identifier) ON DELETE CASCADE,
    scope     TEXT NOT NULL,
    UNIQUE (client_id, audience)
);

CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    email          TEXT UNIQUE,
    email_verified INTEGER NOT NULL,
    username       TEXT UNIQUE,
    name           TEXT,
    given_name     TEXT,
    family_name    TEXT,
    picture        TEXT,
    password_hash  TEXT,
    blocked        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    state         TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    private_key   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    activated_at  INTEGER,
    retired_at    INTEGER,
    publish_until INTEGER
);
-- At most one current and one next key per algorithm, whatever node writes.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(alg, state) WHERE state IN ('current', 'next');
