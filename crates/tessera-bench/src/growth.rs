//! Bulk pre-population for the growth check: N users and N live refresh-token families
//! (one current token each), written straight into the stopped server's database with
//! set-based SQL (a recursive CTE on SQLite, `generate_series` on PostgreSQL), in batches.
//!
//! Rows follow the schema of `tessera-server/migrations/*/0001_registry.sql` and
//! `0002_protocol_state.sql`. Every user shares one real Argon2id hash (hashing a million
//! passwords would take hours and changes nothing about lookups); token hashes are random
//! and as long as the server's keyed hashes (43 characters), so the indexes see the same
//! key sizes and spread.

use std::time::Instant;

use sqlx::{Connection, Executor};

use crate::server::{Store, StoreKind};

const BATCH: u64 = 100_000;
/// Far enough ahead that no growth row expires during a run.
const LIFETIME: i64 = 30 * 24 * 3600;

/// What the loader needs besides the store.
pub struct Population<'a> {
    pub n: u64,
    pub client_id: &'a str,
    pub audience: &'a str,
    pub password_hash: &'a str,
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The three INSERT ... SELECT statements for users `lo..=hi` and their families.
fn statements(kind: StoreKind, p: &Population<'_>, lo: u64, hi: u64, now: i64) -> [String; 3] {
    let (client, aud, hash) = (lit(p.client_id), lit(p.audience), lit(p.password_hash));
    let exp = now + LIFETIME;
    // Per backend: the row source, a zero-padded user number, a random family-id part and
    // a random 43-character token hash.
    let (rows, padded, rand_id, rand_hash) = match kind {
        StoreKind::Sqlite => (
            format!("(WITH RECURSIVE s(g) AS (SELECT {lo} UNION ALL SELECT g + 1 FROM s WHERE g < {hi}) SELECT g FROM s) AS s"),
            "printf('%012d', g)",
            "lower(hex(randomblob(10)))",
            "substr(hex(randomblob(22)), 1, 43)",
        ),
        StoreKind::Postgres => (
            format!("generate_series({lo}::bigint, {hi}::bigint) AS g"),
            "lpad(g::text, 12, '0')",
            "substr(md5(random()::text), 1, 20)",
            "substr(md5(random()::text) || md5(random()::text), 1, 43)",
        ),
    };
    let first = match kind {
        StoreKind::Sqlite => format!("printf('%012d', {lo})"),
        StoreKind::Postgres => format!("lpad('{lo}', 12, '0')"),
    };
    let last = match kind {
        StoreKind::Sqlite => format!("printf('%012d', {hi})"),
        StoreKind::Postgres => format!("lpad('{hi}', 12, '0')"),
    };
    [
        format!(
            "INSERT INTO users (user_id, email, email_verified, username, name, given_name, family_name, picture, \
               password_hash, blocked, created_at, updated_at) \
             SELECT 'auth0|growth' || {padded}, 'growth' || g || '@bench.test', 1, NULL, 'Growth User ' || g, \
               NULL, NULL, NULL, {hash}, 0, {now}, {now} FROM {rows}"
        ),
        format!(
            "INSERT INTO refresh_families (family_id, client_id, user_id, scope, audience, nonce, auth_time, sid, \
               dpop_jkt, created_at, absolute_expires_at, revoked_at, revoked_reason) \
             SELECT 'growth' || {rand_id} || g, {client}, 'auth0|growth' || {padded}, \
               'openid offline_access read:bench', {aud}, NULL, {now}, NULL, NULL, {now}, {exp}, NULL, NULL FROM {rows}"
        ),
        // One current token for each family of this batch's users.
        format!(
            "INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at, idle_expires_at, \
               superseded_at, successor_hash, successor_token) \
             SELECT {rand_hash}, family_id, 0, {now}, {exp}, NULL, NULL, NULL FROM refresh_families \
             WHERE user_id BETWEEN 'auth0|growth' || {first} AND 'auth0|growth' || {last}"
        ),
    ]
}

enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    async fn exec(&mut self, sql: &str) -> Result<(), String> {
        let r = match self {
            Self::Sqlite(c) => c.execute(sql).await.map(|_| ()),
            Self::Postgres(c) => c.execute(sql).await.map(|_| ()),
        };
        r.map_err(|e| format!("growth: {e}"))
    }

    async fn count(&mut self, sql: &str) -> Result<i64, String> {
        let r = match self {
            Self::Sqlite(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await,
            Self::Postgres(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await,
        };
        r.map_err(|e| format!("growth: {e}"))
    }

    async fn close(self) {
        let _ = match self {
            Self::Sqlite(c) => c.close().await,
            Self::Postgres(c) => c.close().await,
        };
    }
}

/// Inserts the population; returns the seconds it took. The server must be stopped.
pub async fn populate(store: &Store, p: &Population<'_>) -> Result<f64, String> {
    let started = Instant::now();
    let url = store.sqlx_url();
    let connect_err = |e: sqlx::Error| format!("growth: cannot connect to {url}: {e}");
    let mut db = match store.kind {
        StoreKind::Sqlite => Db::Sqlite(sqlx::SqliteConnection::connect(&url).await.map_err(connect_err)?),
        StoreKind::Postgres => Db::Postgres(sqlx::PgConnection::connect(&url).await.map_err(connect_err)?),
    };
    let result = load(&mut db, store.kind, p).await;
    db.close().await;
    result.map(|()| started.elapsed().as_secs_f64())
}

async fn load(db: &mut Db, kind: StoreKind, p: &Population<'_>) -> Result<(), String> {
    if kind == StoreKind::Sqlite {
        // A failed load is redone from scratch: no need to fsync every batch.
        db.exec("PRAGMA synchronous = OFF").await?;
    }
    let now = now();
    let mut lo = 1u64;
    while lo <= p.n {
        let hi = (lo + BATCH - 1).min(p.n);
        db.exec("BEGIN").await?;
        for sql in statements(kind, p, lo, hi, now) {
            db.exec(&sql).await?;
        }
        db.exec("COMMIT").await?;
        eprint!("\r  growth: {hi}/{} users and refresh families", p.n);
        lo = hi + 1;
    }
    eprintln!();
    // Every user must have its live family and token, or the growth figures mean nothing.
    let tokens = db
        .count(
            "SELECT count(*) FROM refresh_tokens t JOIN refresh_families f ON f.family_id = t.family_id \
             WHERE f.user_id LIKE 'auth0|growth%' AND f.revoked_at IS NULL",
        )
        .await?;
    if tokens < p.n as i64 {
        return Err(format!("growth: expected {} live refresh tokens, found {tokens}", p.n));
    }
    // Fresh statistics, as autovacuum (PostgreSQL) would compute soon after such a load,
    // so the planner sees the real table sizes from the first request.
    if kind == StoreKind::Postgres {
        db.exec("ANALYZE").await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements against the server's real SQLite schema: a schema change that
    /// breaks the loader fails here, not an hour into a benchmark.
    #[tokio::test]
    async fn loads_into_the_sqlite_schema() {
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-server/migrations/sqlite");
        let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "sql")) {
            c.execute(std::fs::read_to_string(f).unwrap().as_str()).await.unwrap();
        }
        let mut db = Db::Sqlite(c);
        let p = Population { n: 250, client_id: "client", audience: "https://bench-rs256", password_hash: "$argon2id$x'y" };
        load(&mut db, StoreKind::Sqlite, &p).await.unwrap();
        assert_eq!(db.count("SELECT count(*) FROM users").await.unwrap(), 250);
        assert_eq!(db.count("SELECT count(*) FROM refresh_families").await.unwrap(), 250);
        assert_eq!(db.count("SELECT count(DISTINCT token_hash) FROM refresh_tokens").await.unwrap(), 250);
        assert_eq!(db.count("SELECT min(length(token_hash)) FROM refresh_tokens").await.unwrap(), 43);
        assert_eq!(db.count("SELECT count(*) FROM users WHERE password_hash = '$argon2id$x''y'").await.unwrap(), 250);
    }
}
