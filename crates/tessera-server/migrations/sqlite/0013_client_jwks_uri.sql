-- A private_key_jwt client's keys by reference (RFC 7591 `jwks_uri`): the URL of its JWK
-- Set, fetched and cached by the server. At most one of jwks and jwks_uri is set.
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
