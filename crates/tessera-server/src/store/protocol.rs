//! SQL for the protocol-state ports (codes, refresh families, access-token revocation,
//! sessions, login transactions, consents, brute-force counters), shared by SQLite and
//! PostgreSQL like [`super::sql`].
//!
//! Single-use transitions are one conditional statement
//! (`UPDATE ... WHERE consumed_at IS NULL AND expires_at > $now`), never read-then-write:
//! of N concurrent redemptions exactly one sees a changed row.

use std::sync::LazyLock;

use async_trait::async_trait;

use tessera_core::model::User;
use tessera_core::state::*;
use tessera_core::store::*;

use super::db::{query, Conn, Finish, Query, Row};
use super::sql::{joined_user, joined_user_columns, qualified};
use super::SqlStore;

const CODE_COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, scope, audience, nonce, code_challenge, code_challenge_method, dpop_jkt, auth_time, sid, created_at, expires_at, consumed_at, family_id";

fn code_from_row(r: &Row) -> StoreResult<AuthorizationCode> {
    Ok(AuthorizationCode {
        code_hash: r.get("code_hash")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        redirect_uri: r.get("redirect_uri")?,
        scope: r.get("scope")?,
        audience: r.get("audience")?,
        nonce: r.get("nonce")?,
        code_challenge: r.get("code_challenge")?,
        code_challenge_method: r.get("code_challenge_method")?,
        dpop_jkt: r.get("dpop_jkt")?,
        auth_time: r.get("auth_time")?,
        sid: r.get("sid")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        consumed_at: r.get("consumed_at")?,
        family_id: r.get("family_id")?,
    })
}

/// The token's family is neither revoked nor past its absolute expiry (`$2` is now).
const LIVE_FAMILY: &str = "EXISTS (SELECT 1 FROM refresh_families f WHERE f.family_id = refresh_tokens.family_id AND f.revoked_at IS NULL AND f.absolute_expires_at > $2)";

const FAMILY_COLUMNS: &str = "family_id, client_id, user_id, scope, audience, nonce, auth_time, sid, dpop_jkt, created_at, absolute_expires_at, revoked_at";

fn family_from_row(r: &Row) -> StoreResult<RefreshFamily> {
    Ok(RefreshFamily {
        family_id: r.get("family_id")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        scope: r.get("scope")?,
        audience: r.get("audience")?,
        nonce: r.get("nonce")?,
        auth_time: r.get("auth_time")?,
        sid: r.get("sid")?,
        dpop_jkt: r.get("dpop_jkt")?,
        created_at: r.get("created_at")?,
        absolute_expires_at: r.get("absolute_expires_at")?,
        revoked_at: r.get("revoked_at")?,
    })
}

const SESSION_COLUMNS: &str =
    "session_hash, sid, user_id, auth_time, created_at, last_seen_at, idle_expires_at, absolute_expires_at, ended_at";

/// A refresh token's columns and its family's, for [`TOKEN_JOIN`].
const TOKEN_AND_FAMILY: &str = "t.token_hash, t.generation, t.created_at AS token_created_at, t.idle_expires_at, t.superseded_at, t.successor_hash, t.successor_token, \
     f.family_id, f.client_id, f.user_id, f.scope, f.audience, f.nonce, f.auth_time, f.sid, f.dpop_jkt, f.created_at, f.absolute_expires_at, f.revoked_at";
const TOKEN_JOIN: &str = "FROM refresh_tokens t JOIN refresh_families f ON f.family_id = t.family_id";

/// A read of some columns followed by a `LEFT JOIN users u`'s: the statement, and where
/// the user's columns start in its rows.
struct WithUser {
    sql: String,
    user_at: usize,
}

impl WithUser {
    fn new(columns: &str, from: &str) -> Self {
        Self { sql: format!("SELECT {columns}, {} {from}", joined_user_columns()), user_at: columns.split(", ").count() }
    }
}

/// The token endpoint's two reads, a code or a refresh token with its user, built once:
/// they run on every exchange and every refresh.
static CODE_AND_USER: LazyLock<WithUser> = LazyLock::new(|| {
    WithUser::new(
        &qualified(CODE_COLUMNS, "c"),
        "FROM authorization_codes c LEFT JOIN users u ON u.user_id = c.user_id WHERE c.code_hash = $1",
    )
});
static TOKEN_AND_USER: LazyLock<WithUser> = LazyLock::new(|| {
    WithUser::new(TOKEN_AND_FAMILY, &format!("{TOKEN_JOIN} LEFT JOIN users u ON u.user_id = f.user_id WHERE t.token_hash = $1"))
});

fn token_and_family(r: &Row) -> StoreResult<(RefreshTokenRecord, RefreshFamily)> {
    let family = family_from_row(r)?;
    let token = RefreshTokenRecord {
        token_hash: r.get("token_hash")?,
        family_id: family.family_id.clone(),
        generation: r.get("generation")?,
        created_at: r.get("token_created_at")?,
        idle_expires_at: r.get("idle_expires_at")?,
        superseded_at: r.get("superseded_at")?,
        successor_hash: r.get("successor_hash")?,
        successor_token: r.get("successor_token")?,
    };
    Ok((token, family))
}

fn session_from_row(r: &Row) -> StoreResult<Session> {
    Ok(Session {
        session_hash: r.get("session_hash")?,
        sid: r.get("sid")?,
        user_id: r.get("user_id")?,
        auth_time: r.get("auth_time")?,
        created_at: r.get("created_at")?,
        last_seen_at: r.get("last_seen_at")?,
        idle_expires_at: r.get("idle_expires_at")?,
        absolute_expires_at: r.get("absolute_expires_at")?,
        ended_at: r.get("ended_at")?,
    })
}

const LOGIN_COLUMNS: &str = "txn_hash, client_id, request, csrf, user_id, auth_time, created_at, expires_at, completed_at";

fn login_from_row(r: &Row) -> StoreResult<LoginTransaction> {
    Ok(LoginTransaction {
        txn_hash: r.get("txn_hash")?,
        client_id: r.get("client_id")?,
        request: r.get("request")?,
        csrf: r.get("csrf")?,
        user_id: r.get("user_id")?,
        auth_time: r.get("auth_time")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        completed_at: r.get("completed_at")?,
    })
}

/// Binds a family's [`FAMILY_COLUMNS`] as the next twelve parameters.
fn bind_family(q: Query, f: &RefreshFamily) -> Query {
    q.bind(&f.family_id)
        .bind(&f.client_id)
        .bind(&f.user_id)
        .bind(&f.scope)
        .bind(&f.audience)
        .bind(&f.nonce)
        .bind(f.auth_time)
        .bind(&f.sid)
        .bind(&f.dpop_jkt)
        .bind(f.created_at)
        .bind(f.absolute_expires_at)
        .bind(f.revoked_at)
}

const INSERT_TOKEN: &str = "INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at, idle_expires_at, superseded_at, successor_hash, successor_token)";

/// Binds a refresh token's columns (for [`INSERT_TOKEN`]) as the next eight parameters.
fn bind_token(q: Query, t: &RefreshTokenRecord) -> Query {
    q.bind(&t.token_hash)
        .bind(&t.family_id)
        .bind(t.generation)
        .bind(t.created_at)
        .bind(t.idle_expires_at)
        .bind(t.superseded_at)
        .bind(&t.successor_hash)
        .bind(&t.successor_token)
}

const INSERT_ACCESS: &str = "INSERT INTO access_tokens (jti, client_id, family_id, code_hash, expires_at, revoked_at)";

/// Binds an access token's columns (for [`INSERT_ACCESS`], without `revoked_at`) as the next five.
fn bind_access(q: Query, a: &AccessTokenRecord) -> Query {
    q.bind(&a.jti).bind(&a.client_id).bind(&a.family_id).bind(&a.code_hash).bind(a.expires_at)
}

/// PostgreSQL runs the two hottest transactions as one statement each: data-modifying
/// `WITH` clauses do the compare-and-set and the inserts that depend on it, in one round
/// trip instead of six (BEGIN, four statements, COMMIT). The statement is atomic and takes
/// the same row locks in the same order as the transaction it replaces; under READ
/// COMMITTED a row changed by a concurrent commit is re-checked against the `WHERE`, so of
/// two concurrent redemptions (or rotations) exactly one finds its row. SQLite has no
/// data-modifying `WITH`; there the steps run as a transaction on the writer thread, where
/// a statement is a function call, not a round trip. Each query returns a row only when
/// the compare-and-set matched.
mod pg {
    use super::*;

    /// `$1` code hash, `$2` now, `$3` family id, `$4..$8` access token, then (with a
    /// refresh token) `$9..$20` the family and `$21..$28` its first token.
    pub fn redeem(code_hash: &str, now: i64, issuance: &Issuance) -> Query {
        let family_id = issuance.refresh.as_ref().map(|(f, _)| f.family_id.clone());
        let refresh = match issuance.refresh {
            Some(_) => format!(
                ", family AS (INSERT INTO refresh_families ({FAMILY_COLUMNS}) SELECT $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20 FROM used) \
                 , token AS ({INSERT_TOKEN} SELECT $21, $22, $23, $24, $25, $26, $27, $28 FROM used)"
            ),
            None => String::new(),
        };
        let q = query(format!(
            "WITH used AS (UPDATE authorization_codes SET consumed_at = $2, family_id = $3 \
               WHERE code_hash = $1 AND consumed_at IS NULL AND expires_at > $2 RETURNING code_hash) \
             , access AS ({INSERT_ACCESS} SELECT $4, $5, $6, $7, $8, NULL FROM used) {refresh} \
             SELECT code_hash FROM used"
        ))
        .bind(code_hash)
        .bind(now)
        .bind(family_id);
        let mut q = bind_access(q, &issuance.access_token);
        if let Some((f, t)) = &issuance.refresh {
            q = bind_token(bind_family(q, f), t);
        }
        q
    }

    /// `$1` old hash, `$2` now, `$3` successor hash, `$4` sealed successor, `$5` family,
    /// `$6..$13` the successor's columns, `$14..$18` the access token.
    pub fn rotate(
        old_hash: &str,
        now: i64,
        successor: &RefreshTokenRecord,
        sealed_successor: Option<&str>,
        access_token: &AccessTokenRecord,
    ) -> Query {
        // `family_id = $5` via the locked family: the old token must be the head of a live
        // family, so a token of a revoked family cannot be superseded into another one. A
        // row lock, not a no-op UPDATE: it orders a concurrent revocation the same way
        // without writing a new row version.
        let q = query(format!(
            "WITH family AS (SELECT family_id FROM refresh_families \
               WHERE family_id = $5 AND revoked_at IS NULL AND absolute_expires_at > $2 FOR NO KEY UPDATE) \
             , swapped AS (UPDATE refresh_tokens SET superseded_at = $2, successor_hash = $3, successor_token = $4 \
               WHERE token_hash = $1 AND family_id IN (SELECT family_id FROM family) AND superseded_at IS NULL AND idle_expires_at > $2 \
               RETURNING token_hash) \
             , token AS ({INSERT_TOKEN} SELECT $6, $7, $8, $9, $10, $11, $12, $13 FROM swapped) \
             , access AS ({INSERT_ACCESS} SELECT $14, $15, $16, $17, $18, NULL FROM swapped) \
             SELECT token_hash FROM swapped"
        ))
        .bind(old_hash)
        .bind(now)
        .bind(&successor.token_hash)
        .bind(sealed_successor)
        .bind(&successor.family_id);
        bind_access(bind_token(q, successor), access_token)
    }
}

impl SqlStore {
    /// One transaction: `consume` (a conditional UPDATE of a single-use grant: a code, a
    /// device code) must change exactly one row, then what it issued is recorded; `false`,
    /// with nothing written, when it changed none (used, expired or never there).
    pub(super) async fn consume_and_record(&self, consume: super::db::Query, issuance: &Issuance) -> StoreResult<bool> {
        let issuance = issuance.clone();
        self.db()
            .transaction(move |c| {
                Box::pin(async move {
                    if c.execute(consume).await? != 1 {
                        return Ok(Finish::Rollback(false));
                    }
                    if let Some((family, token)) = &issuance.refresh {
                        Self::insert_family_tx(c, family, token).await?;
                    }
                    Self::insert_access_tx(c, &issuance.access_token).await?;
                    Ok(Finish::Commit(true))
                })
            })
            .await
    }

    pub(super) async fn insert_family_tx(c: &mut dyn Conn, f: &RefreshFamily, t: &RefreshTokenRecord) -> StoreResult<()> {
        let values = "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
        c.execute(bind_family(query(format!("INSERT INTO refresh_families ({FAMILY_COLUMNS}) {values}")), f)).await?;
        Self::insert_refresh_token_tx(c, t).await
    }

    pub(super) async fn insert_refresh_token_tx(c: &mut dyn Conn, t: &RefreshTokenRecord) -> StoreResult<()> {
        c.execute(bind_token(query(format!("{INSERT_TOKEN} VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")), t)).await?;
        Ok(())
    }

    pub(super) async fn insert_access_tx(c: &mut dyn Conn, a: &AccessTokenRecord) -> StoreResult<()> {
        c.execute(bind_access(query(format!("{INSERT_ACCESS} VALUES ($1, $2, $3, $4, $5, NULL)")), a)).await?;
        Ok(())
    }

    /// Takes the family's row lock (`FOR NO KEY UPDATE`, which a concurrent revocation's
    /// UPDATE waits for, so it is ordered before or after us) and tells whether it is live.
    /// On SQLite the one writer already serialises every transaction, so the liveness check
    /// rides in the compare-and-set instead ([`LIVE_FAMILY`]) and this saves a statement.
    async fn lock_live_family(backend: super::Backend, c: &mut dyn Conn, family_id: &str, now: i64) -> StoreResult<bool> {
        if backend == super::Backend::Sqlite {
            return Ok(true);
        }
        let locked = c
            .fetch_optional(
                query(
                    "SELECT family_id FROM refresh_families WHERE family_id = $1 AND revoked_at IS NULL AND absolute_expires_at > $2 \
                     FOR NO KEY UPDATE",
                )
                .bind(family_id)
                .bind(now),
            )
            .await?;
        Ok(locked.is_some())
    }

    /// Revokes a family and its access tokens; returns the access tokens it revoked.
    async fn revoke_family_tx(
        backend: super::Backend,
        c: &mut dyn Conn,
        family_id: &str,
        now: i64,
        reason: &str,
    ) -> StoreResult<Vec<(String, i64)>> {
        c.execute(
            query("UPDATE refresh_families SET revoked_at = $2, revoked_reason = $3 WHERE family_id = $1 AND revoked_at IS NULL")
                .bind(family_id)
                .bind(now)
                .bind(reason),
        )
        .await?;
        Self::revoke_access_tokens_tx(
            backend,
            c,
            query(
                "UPDATE access_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL RETURNING jti, expires_at",
            )
            .bind(family_id)
            .bind(now),
        )
        .await
    }

    /// Runs an `UPDATE access_tokens ... RETURNING jti, expires_at` and announces it on
    /// PostgreSQL, so every node's mirror re-reads once this transaction commits.
    async fn revoke_access_tokens_tx(
        backend: super::Backend,
        c: &mut dyn Conn,
        update: Query,
    ) -> StoreResult<Vec<(String, i64)>> {
        let rows = c.fetch_all(update).await?;
        let revoked = rows.iter().map(|r| Ok((r.at::<String>(0)?, r.at::<i64>(1)?))).collect::<StoreResult<Vec<_>>>()?;
        if !revoked.is_empty() {
            Self::announce_revocation(backend, c).await?;
        }
        Ok(revoked)
    }

    /// `NOTIFY` on [`super::revocations::REVOCATION_CHANNEL`] (PostgreSQL only; delivered at
    /// commit, dropped with a rollback).
    async fn announce_revocation(backend: super::Backend, c: &mut dyn Conn) -> StoreResult<()> {
        if backend == super::Backend::Postgres {
            c.fetch_optional(query("SELECT pg_notify($1, '')").bind(super::revocations::REVOCATION_CHANNEL)).await?;
        }
        Ok(())
    }

    /// Re-reads the access tokens revoked since the mirror's last re-read (by any node or
    /// process) into the mirror; the server calls it every second and on `NOTIFY`.
    pub async fn sync_revocations(&self, now: i64) -> StoreResult<usize> {
        let began = std::time::Instant::now();
        let rows = self
            .db()
            .fetch_all(
                query("SELECT jti, expires_at FROM access_tokens WHERE revoked_at IS NOT NULL AND revoked_at >= $1 AND expires_at > $2")
                    .bind(self.revocations.read_from())
                    .bind(now),
            )
            .await?;
        let rows = rows.iter().map(|r| Ok((r.at::<String>(0)?, r.at::<i64>(1)?))).collect::<StoreResult<Vec<_>>>()?;
        self.revocations.merge(rows, began, now);
        Ok(self.revocations.count())
    }
}

#[async_trait]
impl CodeStore for SqlStore {
    async fn insert_code(&self, c: &AuthorizationCode) -> StoreResult<()> {
        self.db()
            .execute(
                query(format!(
                    "INSERT INTO authorization_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                ))
                .bind(&c.code_hash)
                .bind(&c.client_id)
                .bind(&c.user_id)
                .bind(&c.redirect_uri)
                .bind(&c.scope)
                .bind(&c.audience)
                .bind(&c.nonce)
                .bind(&c.code_challenge)
                .bind(&c.code_challenge_method)
                .bind(&c.dpop_jkt)
                .bind(c.auth_time)
                .bind(&c.sid)
                .bind(c.created_at)
                .bind(c.expires_at)
                .bind(c.consumed_at)
                .bind(&c.family_id),
            )
            .await?;
        Ok(())
    }

    async fn get_code(&self, code_hash: &str) -> StoreResult<Option<AuthorizationCode>> {
        // A reader sees every committed write (WAL readers start from the latest commit), so
        // reads need not queue behind the SQLite writer.
        self.db()
            .optional(
                query(format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1")).bind(code_hash),
                code_from_row,
            )
            .await
    }

    async fn get_code_and_user(&self, code_hash: &str) -> StoreResult<Option<(AuthorizationCode, Option<User>)>> {
        let read = &*CODE_AND_USER;
        let Some(r) = self.db().fetch_optional(query(read.sql.as_str()).bind(code_hash)).await? else { return Ok(None) };
        let code = code_from_row(&r)?;
        Ok(Some((code, joined_user(r, read.user_at)?)))
    }

    async fn redeem_code(&self, code_hash: &str, now: i64, issuance: &Issuance) -> StoreResult<bool> {
        if self.backend_kind() == super::Backend::Postgres {
            return Ok(self.db().execute_returning(pg::redeem(code_hash, now, issuance)).await?.is_some());
        }
        let family_id = issuance.refresh.as_ref().map(|(f, _)| f.family_id.clone());
        let consume = query(
            "UPDATE authorization_codes SET consumed_at = $2, family_id = $3 \
             WHERE code_hash = $1 AND consumed_at IS NULL AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(now)
        .bind(family_id);
        self.consume_and_record(consume, issuance).await
    }

    async fn revoke_code_grant(&self, code_hash: &str, now: i64) -> StoreResult<()> {
        let code_hash = code_hash.to_owned();
        let backend = self.backend_kind();
        self.db()
            .transaction(move |c| {
                Box::pin(async move {
                    let family = c
                        .fetch_optional(query("SELECT family_id FROM authorization_codes WHERE code_hash = $1").bind(&code_hash))
                        .await?;
                    let mut revoked = Vec::new();
                    if let Some(family_id) = family.map(|r| r.at::<Option<String>>(0)).transpose()?.flatten() {
                        revoked = Self::revoke_family_tx(backend, c, &family_id, now, "code_reuse").await?;
                    }
                    revoked.extend(
                        Self::revoke_access_tokens_tx(
                            backend,
                            c,
                            query(
                                "UPDATE access_tokens SET revoked_at = $2 WHERE code_hash = $1 AND revoked_at IS NULL RETURNING jti, expires_at",
                            )
                            .bind(code_hash)
                            .bind(now),
                        )
                        .await?,
                    );
                    Ok(Finish::Commit(revoked))
                })
            })
            .await
            .map(|revoked| self.revocations.note(revoked))
    }
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn record_issuance(&self, issuance: &Issuance) -> StoreResult<()> {
        let issuance = issuance.clone();
        self.db()
            .transaction(move |c| {
                Box::pin(async move {
                    if let Some((family, token)) = &issuance.refresh {
                        Self::insert_family_tx(c, family, token).await?;
                    }
                    Self::insert_access_tx(c, &issuance.access_token).await?;
                    Ok(Finish::Commit(()))
                })
            })
            .await
    }

    async fn list_user_families(&self, user_id: &str, now: i64) -> StoreResult<Vec<RefreshFamily>> {
        self.db()
            .all(
                query(format!(
                    "SELECT {FAMILY_COLUMNS} FROM refresh_families WHERE user_id = $1 AND revoked_at IS NULL \
                     AND absolute_expires_at > $2 ORDER BY created_at, family_id"
                ))
                .bind(user_id)
                .bind(now),
                family_from_row,
            )
            .await
    }

    async fn get_family(&self, family_id: &str) -> StoreResult<Option<RefreshFamily>> {
        self.db()
            .optional(
                query(format!("SELECT {FAMILY_COLUMNS} FROM refresh_families WHERE family_id = $1")).bind(family_id),
                family_from_row,
            )
            .await
    }

    async fn revoke_family(&self, family_id: &str, now: i64, reason: &str) -> StoreResult<()> {
        let (family_id, reason) = (family_id.to_owned(), reason.to_owned());
        let backend = self.backend_kind();
        self.db()
            .transaction(move |c| {
                Box::pin(async move { Self::revoke_family_tx(backend, c, &family_id, now, &reason).await.map(Finish::Commit) })
            })
            .await
            .map(|revoked| self.revocations.note(revoked))
    }

    async fn revoke_access_token(&self, jti: &str, client_id: &str, expires_at: i64, now: i64) -> StoreResult<()> {
        let (jti, client_id) = (jti.to_owned(), client_id.to_owned());
        let backend = self.backend_kind();
        self.db()
            .transaction(move |c| {
                Box::pin(async move {
                    c.execute(
                        query(
                            "INSERT INTO access_tokens (jti, client_id, family_id, code_hash, expires_at, revoked_at) VALUES ($1, $2, NULL, NULL, $3, $4) \
                             ON CONFLICT (jti) DO UPDATE SET revoked_at = COALESCE(access_tokens.revoked_at, excluded.revoked_at)",
                        )
                        .bind(&jti)
                        .bind(client_id)
                        .bind(expires_at)
                        .bind(now),
                    )
                    .await?;
                    Self::announce_revocation(backend, c).await?;
                    Ok(Finish::Commit(jti))
                })
            })
            .await
            .map(|jti| self.revocations.note([(jti, expires_at)]))
    }

    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<Option<(RefreshTokenRecord, RefreshFamily)>> {
        let row = self
            .db()
            .fetch_optional(query(format!("SELECT {TOKEN_AND_FAMILY} {TOKEN_JOIN} WHERE t.token_hash = $1")).bind(token_hash))
            .await?;
        row.map(|r| token_and_family(&r)).transpose()
    }

    async fn get_refresh_token_and_user(&self, token_hash: &str) -> StoreResult<Option<RefreshGrantView>> {
        let read = &*TOKEN_AND_USER;
        let Some(r) = self.db().fetch_optional(query(read.sql.as_str()).bind(token_hash)).await? else { return Ok(None) };
        let (token, family) = token_and_family(&r)?;
        Ok(Some((token, family, joined_user(r, read.user_at)?)))
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        now: i64,
        successor: &RefreshTokenRecord,
        sealed_successor: Option<&str>,
        access_token: &AccessTokenRecord,
    ) -> StoreResult<bool> {
        if self.backend_kind() == super::Backend::Postgres {
            let q = pg::rotate(old_hash, now, successor, sealed_successor, access_token);
            return Ok(self.db().execute_returning(q).await?.is_some());
        }
        // SQLite: its one writer serialises every transaction, so the family's liveness rides
        // in the compare-and-set ([`LIVE_FAMILY`]) instead of a row lock taken first.
        let (old_hash, successor, sealed_successor, access_token) =
            (old_hash.to_owned(), successor.clone(), sealed_successor.map(str::to_owned), access_token.clone());
        self.db()
            .transaction(move |c| {
                Box::pin(async move {
                    // `family_id = $5`: the old token must be the head of that live family, so a
                    // token of a revoked family cannot be superseded into another, live one.
                    let swapped = c
                        .execute(
                            query(format!(
                                "UPDATE refresh_tokens SET superseded_at = $2, successor_hash = $3, successor_token = $4 \
                                 WHERE token_hash = $1 AND family_id = $5 AND superseded_at IS NULL AND idle_expires_at > $2 AND {LIVE_FAMILY}",
                            ))
                            .bind(old_hash)
                            .bind(now)
                            .bind(&successor.token_hash)
                            .bind(sealed_successor)
                            .bind(&successor.family_id),
                        )
                        .await?;
                    if swapped != 1 {
                        return Ok(Finish::Rollback(false));
                    }
                    Self::insert_refresh_token_tx(c, &successor).await?;
                    Self::insert_access_tx(c, &access_token).await?;
                    Ok(Finish::Commit(true))
                })
            })
            .await
    }

    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        idle_expires_at: i64,
        access_token: &AccessTokenRecord,
    ) -> StoreResult<bool> {
        let backend = self.backend_kind();
        let (token_hash, access_token) = (token_hash.to_owned(), access_token.clone());
        self.db()
            .transaction(move |c| {
                Box::pin(async move {
                    let family_id = access_token.family_id.clone().unwrap_or_default();
                    if !Self::lock_live_family(backend, c, &family_id, now).await? {
                        return Ok(Finish::Rollback(false));
                    }
                    let used = c
                        .execute(
                            query(format!(
                                "UPDATE refresh_tokens SET idle_expires_at = $3 WHERE token_hash = $1 AND family_id = $4 AND superseded_at IS NULL AND idle_expires_at > $2 AND {LIVE_FAMILY}",
                            ))
                            .bind(token_hash)
                            .bind(now)
                            .bind(idle_expires_at)
                            .bind(family_id),
                        )
                        .await?;
                    if used != 1 {
                        return Ok(Finish::Rollback(false));
                    }
                    Self::insert_access_tx(c, &access_token).await?;
                    Ok(Finish::Commit(true))
                })
            })
            .await
    }

    async fn revoke_families(&self, client_id: Option<&str>, user_id: Option<&str>, now: i64, reason: &str) -> StoreResult<u64> {
        if client_id.is_none() && user_id.is_none() {
            return Ok(0);
        }
        let (client_id, user_id, reason) = (client_id.map(str::to_owned), user_id.map(str::to_owned), reason.to_owned());
        let backend = self.backend_kind();
        self.db()
            .transaction(move |c| {
                Box::pin(async move {
                    let ids = c
                        .fetch_all(
                            query(
                                "SELECT family_id FROM refresh_families WHERE revoked_at IS NULL AND ($1 IS NULL OR client_id = $1) AND ($2 IS NULL OR user_id = $2)",
                            )
                            .bind(client_id)
                            .bind(user_id),
                        )
                        .await?;
                    let mut revoked = Vec::new();
                    for row in &ids {
                        revoked.extend(Self::revoke_family_tx(backend, c, &row.at::<String>(0)?, now, &reason).await?);
                    }
                    Ok(Finish::Commit((ids.len() as u64, revoked)))
                })
            })
            .await
            .map(|(families, revoked)| {
                self.revocations.note(revoked);
                families
            })
    }

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        if let Some(revoked) = self.revocations.check(jti) {
            return Ok(revoked);
        }
        let row = self.db().fetch_optional(query("SELECT revoked_at FROM access_tokens WHERE jti = $1").bind(jti)).await?;
        Ok(matches!(row.map(|r| r.at::<Option<i64>>(0)).transpose()?, Some(Some(_))))
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        self.db()
            .execute(
                query(format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                    .bind(&s.session_hash)
                    .bind(&s.sid)
                    .bind(&s.user_id)
                    .bind(s.auth_time)
                    .bind(s.created_at)
                    .bind(s.last_seen_at)
                    .bind(s.idle_expires_at)
                    .bind(s.absolute_expires_at)
                    .bind(s.ended_at),
            )
            .await?;
        Ok(())
    }

    async fn get_session(&self, session_hash: &str) -> StoreResult<Option<Session>> {
        self.db()
            .optional(
                query(format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_hash = $1")).bind(session_hash),
                session_from_row,
            )
            .await
    }

    async fn touch_session(&self, session_hash: &str, now: i64, idle_expires_at: i64) -> StoreResult<()> {
        self.db()
            .execute(
                query(
                    "UPDATE sessions SET last_seen_at = $2, idle_expires_at = CASE WHEN $3 < absolute_expires_at THEN $3 ELSE absolute_expires_at END \
                     WHERE session_hash = $1 AND ended_at IS NULL",
                )
                .bind(session_hash)
                .bind(now)
                .bind(idle_expires_at),
            )
            .await?;
        Ok(())
    }

    async fn end_session(&self, session_hash: &str, now: i64) -> StoreResult<bool> {
        self.write_one(
            query("UPDATE sessions SET ended_at = $2 WHERE session_hash = $1 AND ended_at IS NULL").bind(session_hash).bind(now),
        )
        .await
    }

    async fn end_session_by_sid(&self, sid: &str, now: i64) -> StoreResult<bool> {
        self.write_one(query("UPDATE sessions SET ended_at = $2 WHERE sid = $1 AND ended_at IS NULL").bind(sid).bind(now)).await
    }

    async fn get_session_by_sid(&self, sid: &str) -> StoreResult<Option<Session>> {
        self.db()
            .optional(query(format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE sid = $1")).bind(sid), session_from_row)
            .await
    }

    async fn list_user_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<Session>> {
        self.db()
            .all(
                query(format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL \
                     AND idle_expires_at > $2 AND absolute_expires_at > $2 ORDER BY created_at, sid"
                ))
                .bind(user_id)
                .bind(now),
                session_from_row,
            )
            .await
    }

    async fn end_user_sessions(&self, user_id: &str, now: i64) -> StoreResult<u64> {
        self.db()
            .execute(query("UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL").bind(user_id).bind(now))
            .await
    }
}

#[async_trait]
impl LoginStore for SqlStore {
    async fn insert_login(&self, t: &LoginTransaction) -> StoreResult<()> {
        self.db()
            .execute(
                query(format!("INSERT INTO login_transactions ({LOGIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                    .bind(&t.txn_hash)
                    .bind(&t.client_id)
                    .bind(&t.request)
                    .bind(&t.csrf)
                    .bind(&t.user_id)
                    .bind(t.auth_time)
                    .bind(t.created_at)
                    .bind(t.expires_at)
                    .bind(t.completed_at),
            )
            .await?;
        Ok(())
    }

    async fn get_login(&self, txn_hash: &str) -> StoreResult<Option<LoginTransaction>> {
        self.db()
            .optional(
                query(format!("SELECT {LOGIN_COLUMNS} FROM login_transactions WHERE txn_hash = $1")).bind(txn_hash),
                login_from_row,
            )
            .await
    }

    async fn set_login_user(&self, txn_hash: &str, user_id: &str, auth_time: i64, now: i64) -> StoreResult<bool> {
        self.write_one(
            query("UPDATE login_transactions SET user_id = $2, auth_time = $3 WHERE txn_hash = $1 AND completed_at IS NULL AND expires_at > $4")
                .bind(txn_hash)
                .bind(user_id)
                .bind(auth_time)
                .bind(now),
        )
        .await
    }

    async fn complete_login(&self, txn_hash: &str, now: i64) -> StoreResult<bool> {
        self.write_one(
            query("UPDATE login_transactions SET completed_at = $2 WHERE txn_hash = $1 AND completed_at IS NULL AND expires_at > $2")
                .bind(txn_hash)
                .bind(now),
        )
        .await
    }
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn get_consent(&self, user_id: &str, client_id: &str, audience: &str) -> StoreResult<Option<Consent>> {
        let q = query(
            "SELECT user_id, client_id, audience, scope, granted_at FROM consents WHERE user_id = $1 AND client_id = $2 AND audience = $3",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(audience);
        self.db()
            .optional(q, |r| {
                Ok(Consent {
                    user_id: r.get("user_id")?,
                    client_id: r.get("client_id")?,
                    audience: r.get("audience")?,
                    scope: r.get("scope")?,
                    granted_at: r.get("granted_at")?,
                })
            })
            .await
    }

    async fn put_consent(&self, c: &Consent) -> StoreResult<()> {
        self.db()
            .execute(
                query(
                    "INSERT INTO consents (user_id, client_id, audience, scope, granted_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (user_id, client_id, audience) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
                )
                .bind(&c.user_id)
                .bind(&c.client_id)
                .bind(&c.audience)
                .bind(&c.scope)
                .bind(c.granted_at),
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn record_failure(
        &self,
        key: &str,
        now: i64,
        window: i64,
        max_failures: i64,
        block_for: i64,
    ) -> StoreResult<ThrottleState> {
        // One statement: a new window starts when the old one has passed; reaching the limit
        // sets the block. Concurrent failures serialize on the row, so none is lost.
        let row = self
            .db()
            .execute_returning(
                query(
                    "INSERT INTO login_throttle (key, failures, window_start, blocked_until) VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN $5 ELSE NULL END) \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN login_throttle.window_start <= $2 - $3 THEN 1 ELSE login_throttle.failures + 1 END, \
                       window_start = CASE WHEN login_throttle.window_start <= $2 - $3 THEN $2 ELSE login_throttle.window_start END, \
                       blocked_until = CASE \
                         WHEN (CASE WHEN login_throttle.window_start <= $2 - $3 THEN 1 ELSE login_throttle.failures + 1 END) >= $4 THEN $5 \
                         ELSE login_throttle.blocked_until END \
                     RETURNING failures, blocked_until",
                )
                .bind(key)
                .bind(now)
                .bind(window)
                .bind(max_failures)
                .bind(now + block_for),
            )
            .await?
            .ok_or_else(|| StoreError::Unavailable("the throttle upsert returned no row".into()))?;
        Ok(ThrottleState { failures: row.get("failures")?, blocked_until: row.get("blocked_until")? })
    }

    async fn blocked_until(&self, keys: &[&str], now: i64) -> StoreResult<Option<i64>> {
        let mut latest = None;
        for key in keys {
            let row =
                self.db().fetch_optional(query("SELECT blocked_until FROM login_throttle WHERE key = $1").bind(*key)).await?;
            if let Some(t) = row.map(|r| r.at::<Option<i64>>(0)).transpose()?.flatten() {
                if t > now && latest.is_none_or(|l| t > l) {
                    latest = Some(t);
                }
            }
        }
        Ok(latest)
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        self.db().execute(query("DELETE FROM login_throttle WHERE key = $1").bind(key)).await?;
        Ok(())
    }

    async fn refund_attempt(&self, key: &str, max_failures: i64) -> StoreResult<()> {
        // One statement on the row the attempt was counted on (SET reads the old values).
        self.db()
            .execute(
                query(
                    "UPDATE login_throttle SET failures = failures - 1, \
                       blocked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE blocked_until END \
                     WHERE key = $1 AND failures > 0",
                )
                .bind(key)
                .bind(max_failures),
            )
            .await?;
        Ok(())
    }
}
