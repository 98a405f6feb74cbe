-- The Management API's GET /users on a large tenant (issue 18).
-- Pages in list order (created_at, user_id) are read from this index instead of sorting
-- every user for each page.
CREATE INDEX users_by_created ON users(created_at, user_id);
-- `include_totals` without counting every user: the number of users per email_verified
-- value (the one filter a list counts by), kept exact by triggers in the transaction of
-- each insert, delete and change of email_verified.
CREATE TABLE user_counts (
    email_verified INTEGER PRIMARY KEY,
    n              INTEGER NOT NULL
);
INSERT INTO user_counts (email_verified, n) SELECT email_verified, COUNT(*) FROM users GROUP BY email_verified;
CREATE TRIGGER user_counts_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_counts (email_verified, n) VALUES (NEW.email_verified, 1)
        ON CONFLICT (email_verified) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER user_counts_delete AFTER DELETE ON users BEGIN
    UPDATE user_counts SET n = n - 1 WHERE email_verified = OLD.email_verified;
END;
CREATE TRIGGER user_counts_update AFTER UPDATE OF email_verified ON users
WHEN OLD.email_verified IS NOT NEW.email_verified BEGIN
    UPDATE user_counts SET n = n - 1 WHERE email_verified = OLD.email_verified;
    INSERT INTO user_counts (email_verified, n) VALUES (NEW.email_verified, 1)
        ON CONFLICT (email_verified) DO UPDATE SET n = n + 1;
END;
