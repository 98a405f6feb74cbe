//! Bulk pre-population, written straight into the stopped server's database with
//! set-based SQL (a recursive CTE on SQLite, `generate_series` on PostgreSQL), in batches:
//! for the growth check N users and N live refresh-token families (one current token
//! each); for the management pass (issue 18) users and audit-log entries.
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

/// Per backend: the row source for numbers `lo..=hi` (column `g`) and a zero-padded
/// 12-digit rendering of `expr`.
fn rows(kind: StoreKind, lo: u64, hi: u64) -> String {
    match kind {
        StoreKind::Sqlite => {
            format!("(WITH RECURSIVE s(g) AS (SELECT {lo} UNION ALL SELECT g + 1 FROM s WHERE g < {hi}) SELECT g FROM s) AS s")
        }
        StoreKind::Postgres => format!("generate_series({lo}::bigint, {hi}::bigint) AS g"),
    }
}

fn padded(kind: StoreKind, expr: &str) -> String {
    match kind {
        StoreKind::Sqlite => format!("printf('%012d', {expr})"),
        StoreKind::Postgres => format!("lpad(({expr})::text, 12, '0')"),
    }
}

/// Users `auth0|growth<000000000001>` / `growth1@bench.test` … for numbers `lo..=hi`.
fn users_sql(kind: StoreKind, hash: &str, lo: u64, hi: u64, now: i64) -> String {
    format!(
        "INSERT INTO users (user_id, email, email_verified, username, name, given_name, family_name, picture, \
           password_hash, blocked, created_at, updated_at) \
         SELECT 'auth0|growth' || {}, 'growth' || g || '@bench.test', 1, NULL, 'Growth User ' || g, \
           NULL, NULL, NULL, {}, 0, {now}, {now} FROM {}",
        padded(kind, "g"),
        lit(hash),
        rows(kind, lo, hi)
    )
}

/// The three INSERT ... SELECT statements for users `lo..=hi` and their families.
fn statements(kind: StoreKind, p: &Population<'_>, lo: u64, hi: u64, now: i64) -> [String; 3] {
    let (client, aud) = (lit(p.client_id), lit(p.audience));
    let exp = now + LIFETIME;
    let rows = rows(kind, lo, hi);
    let padded_g = padded(kind, "g");
    // Per backend: a random family-id part and a random 43-character token hash.
    let (rand_id, rand_hash) = match kind {
        StoreKind::Sqlite => ("lower(hex(randomblob(10)))", "substr(hex(randomblob(22)), 1, 43)"),
        StoreKind::Postgres => {
            ("substr(md5(random()::text), 1, 20)", "substr(md5(random()::text) || md5(random()::text), 1, 43)")
        }
    };
    let (first, last) = (padded(kind, &lo.to_string()), padded(kind, &hi.to_string()));
    [
        users_sql(kind, p.password_hash, lo, hi, now),
        format!(
            "INSERT INTO refresh_families (family_id, client_id, user_id, scope, audience, nonce, auth_time, sid, \
               dpop_jkt, created_at, absolute_expires_at, revoked_at, revoked_reason) \
             SELECT 'growth' || {rand_id} || g, {client}, 'auth0|growth' || {padded_g}, \
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

/// Audit-log entries `lo..=hi` (schema of `0002_protocol_state.sql`), oldest first, one
/// every 10 ms up to `now` (well inside any retention), a mix of the kinds a tenant logs
/// most: client_credentials and refresh exchanges, logins and failed logins, of the
/// loaded users (`users` of them) through `client_id`.
fn logs_sql(kind: StoreKind, client_id: &str, users: u64, lo: u64, hi: u64, total: u64, now: i64) -> String {
    let user = format!("'auth0|growth' || {}", padded(kind, &format!("g % {} + 1", users.max(1))));
    format!(
        "INSERT INTO audit_events (at, kind, client_id, user_id, ip, detail) \
         SELECT {now} - ({total} - g) / 100, \
           CASE g % 4 WHEN 0 THEN 'client_credentials_exchanged' WHEN 1 THEN 'login_succeeded' \
             WHEN 2 THEN 'refresh_token_exchanged' ELSE 'login_failed' END, \
           {}, CASE g % 4 WHEN 0 THEN NULL ELSE {user} END, '127.0.0.1', \
           '{{\"user_agent\":\"tessera-bench\"}}' FROM {}",
        lit(client_id),
        rows(kind, lo, hi)
    )
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
    let mut db = connect(store).await?;
    let result = load(&mut db, store.kind, p).await;
    db.close().await;
    result.map(|()| started.elapsed().as_secs_f64())
}

/// The management pass's population (issue 18).
pub struct MgmtPopulation<'a> {
    /// Users numbered `users_from..=users`: the growth pass may have loaded the first ones.
    pub users_from: u64,
    pub users: u64,
    pub logs: u64,
    pub client_id: &'a str,
    pub password_hash: &'a str,
}

/// What [`populate_mgmt`] did.
pub struct MgmtLoaded {
    pub seconds: f64,
    pub users: i64,
    pub log_entries: i64,
    pub max_log_id: i64,
}

/// Inserts the management pass's users and audit-log entries, in batches; the server must
/// be stopped.
pub async fn populate_mgmt(store: &Store, p: &MgmtPopulation<'_>) -> Result<MgmtLoaded, String> {
    let started = Instant::now();
    let mut db = connect(store).await?;
    let result = load_mgmt(&mut db, store.kind, p).await;
    db.close().await;
    let (users, log_entries, max_log_id) = result?;
    Ok(MgmtLoaded { seconds: started.elapsed().as_secs_f64(), users, log_entries, max_log_id })
}

async fn load_mgmt(db: &mut Db, kind: StoreKind, p: &MgmtPopulation<'_>) -> Result<(i64, i64, i64), String> {
    if kind == StoreKind::Sqlite {
        db.exec("PRAGMA synchronous = OFF").await?;
    }
    let now = now();
    let batches = |from: u64, to: u64| {
        let mut out = Vec::new();
        let mut lo = from;
        while lo <= to {
            out.push((lo, (lo + BATCH - 1).min(to)));
            lo += BATCH;
        }
        out
    };
    for (lo, hi) in batches(p.users_from.max(1), p.users) {
        db.exec(&users_sql(kind, p.password_hash, lo, hi, now)).await?;
        eprint!("\r  management: {hi}/{} users", p.users);
    }
    for (lo, hi) in batches(1, p.logs) {
        db.exec(&logs_sql(kind, p.client_id, p.users, lo, hi, p.logs, now)).await?;
        eprint!("\r  management: {hi}/{} log entries          ", p.logs);
    }
    eprintln!();
    let users = db.count("SELECT count(*) FROM users WHERE user_id LIKE 'auth0|growth%'").await?;
    if users < p.users as i64 {
        return Err(format!("management: expected {} users, found {users}", p.users));
    }
    let log_entries = db.count("SELECT count(*) FROM audit_events").await?;
    if log_entries < p.logs as i64 {
        return Err(format!("management: expected {} log entries, found {log_entries}", p.logs));
    }
    if kind == StoreKind::Postgres {
        db.exec("ANALYZE").await?;
    }
    let max_log_id = db.count("SELECT max(id) FROM audit_events").await?;
    Ok((users, log_entries, max_log_id))
}

async fn connect(store: &Store) -> Result<Db, String> {
    let url = store.sqlx_url();
    let connect_err = |e: sqlx::Error| format!("growth: cannot connect to {url}: {e}");
    Ok(match store.kind {
        StoreKind::Sqlite => Db::Sqlite(sqlx::SqliteConnection::connect(&url).await.map_err(connect_err)?),
        StoreKind::Postgres => Db::Postgres(sqlx::PgConnection::connect(&url).await.map_err(connect_err)?),
    })
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

        // The management pass tops the users up to 300 and adds 1000 log entries.
        let m = MgmtPopulation { users_from: 251, users: 300, logs: 1000, client_id: "client", password_hash: "h" };
        let (users, logs, max_id) = load_mgmt(&mut db, StoreKind::Sqlite, &m).await.unwrap();
        assert_eq!((users, logs, max_id), (300, 1000, 1000));
        assert_eq!(db.count("SELECT count(*) FROM users WHERE email = 'growth300@bench.test'").await.unwrap(), 1);
        // Every logged user exists, every entry is within the last 10 s of the load and
        // carries a JSON detail.
        let orphans = "SELECT count(*) FROM audit_events a WHERE user_id IS NOT NULL \
                       AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = a.user_id)";
        assert_eq!(db.count(orphans).await.unwrap(), 0);
        assert_eq!(db.count("SELECT count(*) FROM audit_events WHERE user_id IS NULL").await.unwrap(), 250);
        assert_eq!(db.count("SELECT count(*) FROM audit_events WHERE json_valid(detail)").await.unwrap(), 1000);
        assert!(db.count("SELECT max(at) - min(at) FROM audit_events").await.unwrap() <= 10);
    }
}
