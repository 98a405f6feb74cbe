//! Background jobs (user imports and exports), the same SQL on both backends.
//!
//! Claiming is one conditional UPDATE of the oldest claimable job: on PostgreSQL a second
//! node that picked the same row waits for the first one's commit, re-checks the condition
//! and updates nothing; on SQLite writes are serial. An import batch commits its users, its
//! errors and the job's progress together, guarded by the claim, so a node that lost its
//! lease (and whose job another node took over) cannot write any more of it.

use async_trait::async_trait;
use serde_json::Value;
use tessera_core::model::{Job, JobKind, JobStatus, JobSummary};
use tessera_core::store::{ImportBatch, ImportRow, JobStore, StoreError, StoreResult};

use super::db::{query, Conn, Finish, Row};
use super::sql::USER_COLUMNS;
use super::SqlStore;

const COLUMNS: &str =
    "id, kind, status, connection_id, params, input, cursor, inserted, updated, failed, total, result, failure, \
                       created_at, updated_at";

fn from_row(r: &Row) -> StoreResult<Job> {
    let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("job {what}: {v:?}"));
    let kind: String = r.get("kind")?;
    let status: String = r.get("status")?;
    let params: String = r.get("params")?;
    Ok(Job {
        id: r.get("id")?,
        kind: JobKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        status: JobStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        connection_id: r.get("connection_id")?,
        params: serde_json::from_str(&params).map_err(|_| corrupt("params", &params))?,
        input: r.get("input")?,
        cursor: r.get("cursor")?,
        summary: JobSummary {
            inserted: r.get("inserted")?,
            updated: r.get("updated")?,
            failed: r.get("failed")?,
            total: r.get("total")?,
        },
        result: r.get("result")?,
        failure: r.get("failure")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// Whether a job may be claimed at `$N` (pending, or processing under an expired lease).
fn claimable(now: &str) -> String {
    format!("(status = 'pending' OR (status = 'processing' AND lease_until <= {now}))")
}

enum Outcome {
    Inserted,
    Updated,
    Conflict,
}

/// One user of a batch, inside the batch's transaction.
async fn apply_row(c: &mut dyn Conn, row: &ImportRow, upsert: bool, now: i64) -> StoreResult<Outcome> {
    let u = &row.user;
    let user = &u.user;
    if upsert {
        // Auth0: with upsert, a user whose email exists is updated with the fields given.
        let existing = c.fetch_optional(query("SELECT user_id FROM users WHERE email = $1").bind(&user.email)).await?;
        if let Some(existing) = existing {
            let id: String = existing.get("user_id")?;
            // A username another user holds would violate its uniqueness (and abort the
            // transaction on PostgreSQL): report the user as a conflict instead.
            if let Some(name) = &u.given.username {
                let taken = c
                    .fetch_optional(
                        query("SELECT 1 AS one FROM users WHERE username = $1 AND user_id <> $2").bind(name).bind(&id),
                    )
                    .await?;
                if taken.is_some() {
                    return Ok(Outcome::Conflict);
                }
            }
            let g = &u.given;
            c.execute(
                query(
                    "UPDATE users SET email_verified = COALESCE($2, email_verified), username = COALESCE($3, username), \
                     name = COALESCE($4, name), given_name = COALESCE($5, given_name), family_name = COALESCE($6, family_name), \
                     picture = COALESCE($7, picture), password_hash = COALESCE($8, password_hash), blocked = COALESCE($9, blocked), \
                     updated_at = $10 WHERE user_id = $1",
                )
                .bind(&id)
                .bind(g.email_verified.map(i64::from))
                .bind(user.username.clone().filter(|_| g.username.is_some()))
                .bind(user.name.clone().filter(|_| g.name.is_some()))
                .bind(user.given_name.clone().filter(|_| g.given_name.is_some()))
                .bind(user.family_name.clone().filter(|_| g.family_name.is_some()))
                .bind(user.picture.clone().filter(|_| g.picture.is_some()))
                .bind(&user.password_hash)
                .bind(u.blocked.map(i64::from))
                .bind(now),
            )
            .await?;
            put_metadata(c, &id, u.user_metadata.as_ref(), u.app_metadata.as_ref()).await?;
            return Ok(Outcome::Updated);
        }
    }
    // Any unique column (user_id, email, username) already taken: the user exists.
    let inserted = c
        .execute(
            query(format!(
                "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING"
            ))
            .bind(&user.user_id)
            .bind(&user.email)
            .bind(i64::from(user.email_verified))
            .bind(&user.username)
            .bind(&user.name)
            .bind(&user.given_name)
            .bind(&user.family_name)
            .bind(&user.picture)
            .bind(&user.password_hash)
            .bind(i64::from(user.blocked))
            .bind(user.created_at)
            .bind(user.updated_at),
        )
        .await?;
    if inserted == 0 {
        return Ok(Outcome::Conflict);
    }
    put_metadata(c, &user.user_id, u.user_metadata.as_ref(), u.app_metadata.as_ref()).await?;
    Ok(Outcome::Inserted)
}

/// Sets the metadata objects given (replacing each), keeping one that is not.
async fn put_metadata(c: &mut dyn Conn, user_id: &str, um: Option<&Value>, am: Option<&Value>) -> StoreResult<()> {
    if um.is_none() && am.is_none() {
        return Ok(());
    }
    let (um, am) = (um.map(Value::to_string), am.map(Value::to_string));
    c.execute(
        query(
            "INSERT INTO user_metadata (user_id, user_metadata, app_metadata) VALUES ($1, COALESCE($2, '{}'), COALESCE($3, '{}')) \
             ON CONFLICT (user_id) DO UPDATE SET user_metadata = COALESCE($2, user_metadata.user_metadata), \
             app_metadata = COALESCE($3, user_metadata.app_metadata)",
        )
        .bind(user_id)
        .bind(um)
        .bind(am),
    )
    .await?;
    Ok(())
}

#[async_trait]
impl JobStore for SqlStore {
    async fn insert_job(&self, j: &Job) -> StoreResult<()> {
        let q = query(format!(
            "INSERT INTO jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&j.id)
        .bind(j.kind.as_str())
        .bind(j.status.as_str())
        .bind(&j.connection_id)
        .bind(j.params.to_string())
        .bind(&j.input)
        .bind(j.cursor)
        .bind(j.summary.inserted)
        .bind(j.summary.updated)
        .bind(j.summary.failed)
        .bind(j.summary.total)
        .bind(&j.result)
        .bind(&j.failure)
        .bind(j.created_at)
        .bind(j.updated_at);
        self.db().execute(q).await?;
        Ok(())
    }

    async fn get_job(&self, id: &str) -> StoreResult<Option<Job>> {
        self.db().optional(query(format!("SELECT {COLUMNS} FROM jobs WHERE id = $1")).bind(id), from_row).await
    }

    async fn claim_job(&self, claim: &str, now: i64, lease_until: i64) -> StoreResult<Option<Job>> {
        let q = query(format!(
            "UPDATE jobs SET status = 'processing', claim = $1, lease_until = $3, updated_at = $2 \
             WHERE id = (SELECT id FROM jobs WHERE {c} ORDER BY created_at, id LIMIT 1) AND {c} RETURNING {COLUMNS}",
            c = claimable("$2")
        ))
        .bind(claim)
        .bind(now)
        .bind(lease_until);
        self.db().execute_returning(q).await?.as_ref().map(from_row).transpose()
    }

    async fn import_batch(
        &self,
        job_id: &str,
        claim: &str,
        batch: &ImportBatch,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<bool> {
        let (job_id, claim, batch) = (job_id.to_owned(), claim.to_owned(), batch.clone());
        self.db()
            .transaction(move |c| {
                Box::pin(async move {
                    // The claim first: a node that lost the job writes nothing.
                    let held = c
                        .fetch_optional(
                            query("SELECT cursor FROM jobs WHERE id = $1 AND claim = $2 AND status = 'processing'")
                                .bind(&job_id)
                                .bind(&claim),
                        )
                        .await?;
                    if held.is_none() {
                        return Ok(Finish::Rollback(false));
                    }
                    let (mut inserted, mut updated, mut failed) = (0i64, 0i64, batch.invalid.len() as i64);
                    let mut errors: Vec<(i64, String)> = batch.invalid.iter().map(|(seq, e)| (*seq, e.to_string())).collect();
                    for row in &batch.rows {
                        match apply_row(c, row, batch.upsert, now).await? {
                            Outcome::Inserted => inserted += 1,
                            Outcome::Updated => updated += 1,
                            Outcome::Conflict => {
                                failed += 1;
                                errors.push((row.seq, row.conflict.to_string()));
                            }
                        }
                    }
                    for (seq, entry) in errors {
                        c.execute(
                            query("INSERT INTO job_errors (job_id, seq, entry) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                                .bind(&job_id)
                                .bind(seq)
                                .bind(entry),
                        )
                        .await?;
                    }
                    let total = (batch.rows.len() + batch.invalid.len()) as i64;
                    c.execute(
                        query(
                            "UPDATE jobs SET cursor = $3, inserted = inserted + $4, updated = updated + $5, failed = failed + $6, \
                             total = total + $7, lease_until = $8, updated_at = $9 WHERE id = $1 AND claim = $2",
                        )
                        .bind(&job_id)
                        .bind(&claim)
                        .bind(batch.cursor)
                        .bind(inserted)
                        .bind(updated)
                        .bind(failed)
                        .bind(total)
                        .bind(lease_until)
                        .bind(now),
                    )
                    .await?;
                    Ok(Finish::Commit(true))
                })
            })
            .await
    }

    async fn finish_job(
        &self,
        job_id: &str,
        claim: &str,
        status: JobStatus,
        result: Option<&str>,
        failure: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let q = query(
            "UPDATE jobs SET status = $3, result = $4, failure = $5, input = NULL, claim = NULL, lease_until = NULL, updated_at = $6 \
             WHERE id = $1 AND claim = $2 AND status = 'processing'",
        )
        .bind(job_id)
        .bind(claim)
        .bind(status.as_str())
        .bind(result)
        .bind(failure)
        .bind(now);
        Ok(self.db().execute(q).await? > 0)
    }

    async fn job_errors(&self, job_id: &str) -> StoreResult<Vec<Value>> {
        let rows = self.db().fetch_all(query("SELECT entry FROM job_errors WHERE job_id = $1 ORDER BY seq").bind(job_id)).await?;
        rows.iter()
            .map(|r| {
                let entry: String = r.get("entry")?;
                serde_json::from_str(&entry).map_err(|e| StoreError::Corrupt(format!("job error entry: {e}")))
            })
            .collect()
    }
}
