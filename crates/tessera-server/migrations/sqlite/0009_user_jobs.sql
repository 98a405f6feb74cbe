-- Management API jobs (Auth0 "Jobs"): user imports and exports, run in the background.
-- A node claims a job with one conditional UPDATE (status, claim, lease_until); an import
-- moves its cursor and counts in the same transaction as each batch of users, so a job
-- whose node stopped is taken over after its lease and resumes where it was.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    params        TEXT NOT NULL,
    input         TEXT,
    cursor        INTEGER NOT NULL,
    inserted      INTEGER NOT NULL,
    updated       INTEGER NOT NULL,
    failed        INTEGER NOT NULL,
    total         INTEGER NOT NULL,
    result        TEXT,
    failure       TEXT,
    claim         TEXT,
    lease_until   INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX jobs_claimable ON jobs (status, created_at);

-- An import's per-user errors (Auth0's GET /jobs/{id}/errors), by position in the file.
CREATE TABLE job_errors (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    entry  TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
