-- Client credentials (Auth0's /api/v2/clients/{id}/credentials): public keys a client
-- signs its private_key_jwt assertions with, kept as public JWKs. A key (by RFC 7638
-- thumbprint) and a kid appear at most once per client.
CREATE TABLE client_credentials (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kid         TEXT NOT NULL,
    alg         TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    thumbprint  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    expires_at  INTEGER
);
CREATE UNIQUE INDEX client_credentials_key ON client_credentials(client_id, thumbprint);
CREATE UNIQUE INDEX client_credentials_kid ON client_credentials(client_id, kid);

-- The credential ids a client has enabled for private_key_jwt (Auth0's
-- client_authentication_methods.private_key_jwt.credentials), a JSON list.
ALTER TABLE clients ADD COLUMN private_key_jwt_credentials TEXT NOT NULL DEFAULT '[]';
