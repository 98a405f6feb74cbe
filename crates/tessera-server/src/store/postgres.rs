//! PostgreSQL: for deployments with many stateless nodes sharing one database. One pool
//! serves reads and writes; single-use operations rely on row locks taken by conditional
//! `UPDATE ... RETURNING`, so concurrent nodes never both win.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow, AnyTypeInfoKind};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Column, Executor, Row as _};
use tessera_core::store::{StoreError, StoreResult};

use super::db::{Cell, Conn, Db, Finish, Query, Row, TxFuture, Value};
use super::{redact_url, Backend, SqlStore};

pub async fn connect(url: &str) -> Result<SqlStore, String> {
    // No ping before each checkout: it is a round trip per statement; a connection that
    // died fails its next statement instead, which answers 503 and is dropped by the pool.
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL at {}: {e}", redact_url(url)))?;
    Ok(SqlStore::new(Backend::Postgres, Db::Postgres(pool)))
}

/// Maps a driver error to the store's error classes.
pub(super) fn err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

pub(super) async fn acquire(pool: &AnyPool) -> StoreResult<PoolConnection<Any>> {
    pool.acquire().await.map_err(err)
}

pub(super) async fn transaction<T, F>(pool: &AnyPool, f: F) -> StoreResult<T>
where
    F: for<'c> FnOnce(&'c mut dyn Conn) -> TxFuture<'c, T>,
{
    let mut tx = pool.begin().await.map_err(err)?;
    let conn: &mut AnyConnection = &mut tx;
    match f(conn).await {
        Ok(Finish::Commit(v)) => {
            tx.commit().await.map_err(err)?;
            Ok(v)
        }
        Ok(Finish::Rollback(v)) => {
            tx.rollback().await.map_err(err)?;
            Ok(v)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

fn statement(q: &Query) -> sqlx::query::Query<'_, Any, AnyArguments<'_>> {
    q.args.iter().fold(sqlx::query(&q.sql), |s, a| match a {
        Value::Int(v) => s.bind(*v),
        Value::Text(v) => s.bind(v.as_deref()),
    })
}

fn row(r: &AnyRow, names: &Arc<[String]>) -> StoreResult<Row> {
    let cells = (0..names.len())
        .map(|i| {
            let cell = match r.column(i).type_info().kind() {
                AnyTypeInfoKind::Null => Cell::Null,
                AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
                    r.try_get::<Option<i64>, _>(i).map_err(err)?.map_or(Cell::Null, Cell::Int)
                }
                AnyTypeInfoKind::Bool => {
                    r.try_get::<Option<bool>, _>(i).map_err(err)?.map_or(Cell::Null, |b| Cell::Int(b.into()))
                }
                AnyTypeInfoKind::Text => r.try_get::<Option<String>, _>(i).map_err(err)?.map_or(Cell::Null, Cell::Text),
                other => return Err(StoreError::Corrupt(format!("{}: unexpected type {other:?}", names[i]))),
            };
            Ok(cell)
        })
        .collect::<StoreResult<_>>()?;
    Ok(Row { names: names.clone(), cells })
}

fn rows(found: Vec<AnyRow>) -> StoreResult<Vec<Row>> {
    let Some(first) = found.first() else { return Ok(Vec::new()) };
    let names: Arc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
    found.iter().map(|r| row(r, &names)).collect()
}

#[async_trait]
impl Conn for AnyConnection {
    async fn execute(&mut self, q: Query) -> StoreResult<u64> {
        Ok(statement(&q).execute(&mut *self).await.map_err(err)?.rows_affected())
    }
    async fn fetch_optional(&mut self, q: Query) -> StoreResult<Option<Row>> {
        let found = statement(&q).fetch_optional(&mut *self).await.map_err(err)?;
        Ok(rows(found.into_iter().collect())?.pop())
    }
    async fn fetch_all(&mut self, q: Query) -> StoreResult<Vec<Row>> {
        rows(statement(&q).fetch_all(&mut *self).await.map_err(err)?)
    }
    async fn execute_script(&mut self, sql: &str) -> StoreResult<()> {
        Executor::execute(&mut *self, sql).await.map_err(err)?;
        Ok(())
    }
}
