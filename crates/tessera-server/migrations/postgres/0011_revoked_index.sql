-- Revoked access tokens are mirrored in memory on every node (store/revocations.rs); the
-- mirror re-reads the recent revocations every second, which this partial index keeps
-- to the revoked rows only.
CREATE INDEX access_tokens_revoked ON access_tokens(revoked_at) WHERE revoked_at IS NOT NULL;
