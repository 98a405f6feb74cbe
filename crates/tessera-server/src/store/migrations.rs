//! Embedded schema migrations, one list per backend with the same versions. Applied at
//! start (and by `tessera migrate`) in order, each in a transaction, recorded in
//! `schema_migrations`. On PostgreSQL an advisory lock keeps two nodes starting together
//! from applying the same migration twice.

use tessera_core::store::StoreError;

use super::db::{query, Db, Finish};
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

pub const SQLITE: &[Migration] = &[
    migration!(1, "0001_registry", "sqlite"),
    migration!(2, "0002_protocol_state", "sqlite"),
    migration!(3, "0003_audit_log", "sqlite"),
    migration!(4, "0004_user_metadata", "sqlite"),
    migration!(5, "0005_par_device", "sqlite"),
    migration!(6, "0006_client_origins", "sqlite"),
    migration!(7, "0007_exchange_bearer", "sqlite"),
    migration!(8, "0008_email_tickets", "sqlite"),
    migration!(9, "0009_user_jobs", "sqlite"),
    migration!(10, "0010_dynamic_clients", "sqlite"),
    migration!(11, "0011_revoked_index", "sqlite"),
    migration!(12, "0012_housekeeping", "sqlite"),
    migration!(13, "0013_client_jwks_uri", "sqlite"),
    migration!(14, "0014_client_credentials", "sqlite"),
    migration!(15, "0015_user_listing", "sqlite"),
];

pub const POSTGRES: &[Migration] = &[
    migration!(1, "0001_registry", "postgres"),
    migration!(2, "0002_protocol_state", "postgres"),
    migration!(3, "0003_audit_log", "postgres"),
    migration!(4, "0004_user_metadata", "postgres"),
    migration!(5, "0005_par_device", "postgres"),
    migration!(6, "0006_client_origins", "postgres"),
    migration!(7, "0007_exchange_bearer", "postgres"),
    migration!(8, "0008_email_tickets", "postgres"),
    migration!(9, "0009_user_jobs", "postgres"),
    migration!(10, "0010_dynamic_clients", "postgres"),
    migration!(11, "0011_revoked_index", "postgres"),
    migration!(12, "0012_housekeeping", "postgres"),
    migration!(13, "0013_client_jwks_uri", "postgres"),
    migration!(14, "0014_client_credentials", "postgres"),
    migration!(15, "0015_user_listing", "postgres"),
];

pub fn for_backend(b: Backend) -> &'static [Migration] {
    match b {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

const ADVISORY_LOCK: i64 = 0x0074_6573_7365_7261; // "tessera"

/// Applies pending migrations; returns the versions applied now.
pub async fn run(store: &SqlStore) -> Result<Vec<i64>, String> {
    let fail = |what: &str, e: StoreError| format!("migration failed ({what}): {e}");
    // PostgreSQL: a session-level advisory lock, held on its own connection while the
    // migrations run on others, so two nodes starting together apply each one once.
    let lock = match store.db() {
        Db::Postgres(pool) => {
            let mut conn = pool.main().acquire().await.map_err(|e| format!("migration failed (connect): {e}"))?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(ADVISORY_LOCK)
                .execute(&mut *conn)
                .await
                .map_err(|e| format!("migration failed (lock): {e}"))?;
            Some(conn)
        }
        Db::Sqlite(_) => None,
    };
    let result = async {
        store
            .db()
            .execute(query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            ))
            .await
            .map_err(|e| fail("bookkeeping table", e))?;
        let applied = store
            .db()
            .fetch_all(query("SELECT version FROM schema_migrations ORDER BY version"))
            .await
            .and_then(|rows| rows.iter().map(|r| r.at::<i64>(0)).collect::<Result<Vec<_>, _>>())
            .map_err(|e| fail("read versions", e))?;
        let known = for_backend(store.backend_kind());
        if let Some(newer) = applied.iter().find(|v| !known.iter().any(|m| m.version == **v)) {
            return Err(format!(
                "the database has schema version {newer}, which this Tessera build does not know; run a newer release"
            ));
        }
        let mut now_applied = Vec::new();
        for m in known.iter().filter(|m| !applied.contains(&m.version)) {
            let (version, name, sql) = (m.version, m.name, m.sql);
            let now = tessera_core::clock::Clock::now(&tessera_core::clock::SystemClock);
            store
                .db()
                .transaction(move |c| {
                    Box::pin(async move {
                        c.execute_script(sql).await?;
                        c.execute(
                            query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                                .bind(version)
                                .bind(name)
                                .bind(now),
                        )
                        .await?;
                        Ok(Finish::Commit(()))
                    })
                })
                .await
                .map_err(|e| fail(name, e))?;
            tracing::info!(version, name, "applied migration");
            now_applied.push(version);
        }
        Ok(now_applied)
    }
    .await;
    if let Some(mut conn) = lock {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(ADVISORY_LOCK).execute(&mut *conn).await;
    }
    result
}
