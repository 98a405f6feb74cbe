-- Auth0's user_metadata and app_metadata, kept apart from `users` so the protocol's reads of
-- a user (every code redemption and refresh) do not carry them. Removed with the user.
CREATE TABLE user_metadata (
    user_id       TEXT PRIMARY KEY REFERENCES users(user_id) ON DELETE CASCADE,
    user_metadata TEXT NOT NULL,
    app_metadata  TEXT NOT NULL
);
