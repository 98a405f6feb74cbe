-- Background purging (issue 19). One row per lease: the node that holds it and until when.
-- A node takes a free or expired lease with one conditional upsert (store/housekeeping.rs).
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);
-- The purge finds expired rows by these, without scanning live ones.
CREATE INDEX authorization_codes_by_expiry ON authorization_codes(expires_at);
CREATE INDEX access_tokens_by_expiry ON access_tokens(expires_at);
CREATE INDEX refresh_tokens_by_idle_expiry ON refresh_tokens(idle_expires_at);
CREATE INDEX refresh_families_by_expiry ON refresh_families(absolute_expires_at);
CREATE INDEX refresh_families_revoked ON refresh_families(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_by_idle_expiry ON sessions(idle_expires_at);
CREATE INDEX sessions_by_expiry ON sessions(absolute_expires_at);
CREATE INDEX sessions_ended ON sessions(ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX login_transactions_by_expiry ON login_transactions(expires_at);
CREATE INDEX login_throttle_by_window ON login_throttle(window_start);
CREATE INDEX replay_cache_by_expiry ON replay_cache(expires_at);
