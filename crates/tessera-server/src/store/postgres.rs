//! PostgreSQL: for deployments with many stateless nodes sharing one database. One pool
//! serves reads and writes; single-use operations rely on row locks taken by conditional
//! `UPDATE ... RETURNING`, so concurrent nodes never both win.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;

use super::{redact_url, Backend, SqlStore};

pub async fn connect(url: &str) -> Result<SqlStore, String> {
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL at {}: {e}", redact_url(url)))?;
    Ok(SqlStore::new(Backend::Postgres, pool.clone(), pool))
}
