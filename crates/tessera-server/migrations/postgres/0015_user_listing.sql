-- The Management API's GET /users on a large tenant (issue 18).
-- Pages in list order (created_at, user_id) are read from this index instead of sorting
-- every user for each page.
CREATE INDEX users_by_created ON users(created_at, user_id);
-- `include_totals` without counting every user: the number of users per email_verified
-- value (the one filter a list counts by), kept exact by triggers in the transaction of
-- each insert, delete and change of email_verified. Statement-level triggers with
-- transition tables, so a bulk insert (an import) updates each count once, not per row.
CREATE TABLE user_counts (
    email_verified BIGINT PRIMARY KEY,
    n              BIGINT NOT NULL
);
INSERT INTO user_counts (email_verified, n) SELECT email_verified, COUNT(*) FROM users GROUP BY email_verified;
CREATE FUNCTION user_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_counts AS c (email_verified, n)
            SELECT email_verified, COUNT(*) FROM new_rows GROUP BY email_verified ORDER BY email_verified
            ON CONFLICT (email_verified) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE user_counts AS c SET n = c.n - d.k
            FROM (SELECT email_verified, COUNT(*) AS k FROM old_rows GROUP BY email_verified) AS d
            WHERE c.email_verified = d.email_verified;
    ELSE
        -- The net change per value; most updates leave email_verified alone and write nothing.
        INSERT INTO user_counts AS c (email_verified, n)
            SELECT email_verified, SUM(k)::BIGINT FROM (
                SELECT email_verified, 1 AS k FROM new_rows
                UNION ALL
                SELECT email_verified, -1 AS k FROM old_rows
            ) AS x GROUP BY email_verified HAVING SUM(k) <> 0 ORDER BY email_verified
            ON CONFLICT (email_verified) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER user_counts_insert AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION user_counts_apply();
CREATE TRIGGER user_counts_delete AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION user_counts_apply();
CREATE TRIGGER user_counts_update AFTER UPDATE ON users REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION user_counts_apply();
