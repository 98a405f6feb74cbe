//! Embedded schema migrations, one list per backend with the same versions. Applied at
//! start (and by `tessera migrate`) in order, each in a transaction, recorded in
//! `schema_migrations`. On PostgreSQL an advisory lock keeps two nodes starting together
//! from applying the same migration twice.

use sqlx::Executor;

use super::{Backend, SqlStore};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:expr, $name:expr, $dir:literal) => {
        Migration { version: $version, name: $name, sql: include_str!(concat!("../../migrations/", $dir, "/", $name, ".sql")) }
    };
}

pub const SQLITE: &[Migration] = &[migration!(1, "0001_registry", "sqlite"), migration!(2, "0002_protocol_state", "sqlite")];

pub const POSTGRES: &[Migration] =
    &[migration!(1, "0001_registry", "postgres"), migration!(2, "0002_protocol_state", "postgres")];

pub fn for_backend(b: Backend) -> &'static [Migration] {
    match b {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

const ADVISORY_LOCK: i64 = 0x0074_6573_7365_7261; // "tessera"

/// Applies pending migrations; returns the versions applied now.
pub async fn run(store: &SqlStore) -> Result<Vec<i64>, String> {
    let pool = store.writer();
    let fail = |what: &str, e: sqlx::Error| format!("migration failed ({what}): {e}");
    let mut conn = pool.acquire().await.map_err(|e| fail("connect", e))?;
    if store.backend_kind() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)").bind(ADVISORY_LOCK).execute(&mut *conn).await.map_err(|e| fail("lock", e))?;
    }
    let result = async {
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            .await
            .map_err(|e| fail("bookkeeping table", e))?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| fail("read versions", e))?;
        let known = for_backend(store.backend_kind());
        if let Some(newer) = applied.iter().find(|v| !known.iter().any(|m| m.version == **v)) {
            return Err(format!(
                "the database has schema version {newer}, which this Tessera build does not know; run a newer release"
            ));
        }
        let mut now_applied = Vec::new();
        for m in known.iter().filter(|m| !applied.contains(&m.version)) {
            let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(|e| fail(m.name, e))?;
            tx.execute(m.sql).await.map_err(|e| fail(m.name, e))?;
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(m.version)
                .bind(m.name)
                .bind(tessera_core::clock::Clock::now(&tessera_core::clock::SystemClock))
                .execute(&mut *tx)
                .await
                .map_err(|e| fail(m.name, e))?;
            tx.commit().await.map_err(|e| fail(m.name, e))?;
            tracing::info!(version = m.version, name = m.name, "applied migration");
            now_applied.push(m.version);
        }
        Ok(now_applied)
    }
    .await;
    if store.backend_kind() == Backend::Postgres {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(ADVISORY_LOCK).execute(&mut *conn).await;
    }
    result
}
