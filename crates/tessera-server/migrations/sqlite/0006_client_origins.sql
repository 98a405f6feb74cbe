-- Auth0's Allowed Web Origins (response_mode=web_message targets) and Allowed Origins
-- (cross-origin authentication) per client, as JSON arrays of RFC 6454 origins.
ALTER TABLE clients ADD COLUMN web_origins TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
