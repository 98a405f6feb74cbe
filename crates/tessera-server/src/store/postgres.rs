//! PostgreSQL: for deployments with many stateless nodes sharing one database. One pool
//! serves reads and writes; single-use operations rely on row locks taken by conditional
//! `UPDATE ... RETURNING`, so concurrent nodes never both win.
//!
//! A connection's socket is driven by the runtime that opened it. Each HTTP worker (see
//! [`crate::workers`]) runs its own single-threaded runtime, so each keeps its own pool:
//! a query from a worker then never waits for another thread to notice its answer. The
//! main pool serves everything else (migrations, the CLI, background tasks).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow, AnyTypeInfoKind};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Column, Executor, Row as _};
use tessera_core::store::{StoreError, StoreResult};

use super::db::{Cell, Conn, Db, Finish, Query, Row, TxFuture, Value};
use super::{redact_url, Backend, SqlStore};

/// Connections of the main pool, and of each worker's.
const MAIN_POOL_SIZE: u32 = 16;
const WORKER_POOL_SIZE: u32 = 8;

/// How long database work may take before it fails with [`StoreError::Unavailable`]
/// (a 503 with `Retry-After`), so a stopped, frozen or unreachable database never holds a
/// request longer than these (`[database]` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Getting a connection from the pool, opening one included.
    pub connect: Duration,
    /// PostgreSQL's own `statement_timeout` on every connection.
    pub statement: Duration,
    /// One operation from getting its connection to its last row: the client-side bound,
    /// which also holds when the server stops answering without closing the socket.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(3), statement: Duration::from_secs(5), read: Duration::from_secs(8) }
    }
}

/// One deployment's pools: the main one, opened at start, and one per worker thread,
/// opened there on first use.
pub struct Pools {
    /// Tells this deployment's worker pools from another's in the same process (tests).
    id: u64,
    url: String,
    pub(super) timeouts: Timeouts,
    main: AnyPool,
    /// Every worker pool opened so far, so that closing the store closes them too.
    workers: Mutex<Vec<AnyPool>>,
}

thread_local! {
    /// This worker thread's pools, by [`Pools::id`].
    static WORKER_POOLS: RefCell<Vec<(u64, AnyPool)>> = const { RefCell::new(Vec::new()) };
}

fn options(size: u32, timeouts: Timeouts) -> AnyPoolOptions {
    let statement_ms = timeouts.statement.as_millis();
    // No ping before each checkout: it is a round trip per statement; a connection that
    // died fails its next statement instead, which answers 503 and is dropped by the pool.
    AnyPoolOptions::new().max_connections(size).test_before_acquire(false).acquire_timeout(timeouts.connect).after_connect(
        move |conn, _| {
            Box::pin(async move {
                Executor::execute(&mut *conn, format!("SET statement_timeout = {statement_ms}").as_str()).await?;
                Ok(())
            })
        },
    )
}

pub(super) fn timed_out(t: Timeouts) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL did not answer within {} s", t.read.as_secs()))
}

/// Runs `op` on a pooled connection within the read deadline. A connection whose answer did
/// not come in time is closed rather than returned to the pool: its state is unknown.
macro_rules! within_deadline {
    ($pools:expr, |$conn:ident| $op:expr) => {{
        let pools: &$crate::store::postgres::Pools = $pools;
        let started = tokio::time::Instant::now();
        let mut pooled = $crate::store::postgres::acquire(pools).await?;
        let left = pools.timeouts.read.saturating_sub(started.elapsed());
        let result = {
            let $conn: &mut sqlx::AnyConnection = &mut pooled;
            tokio::time::timeout(left, $op).await
        };
        match result {
            Ok(r) => r,
            Err(_) => {
                pooled.close_on_drop();
                Err($crate::store::postgres::timed_out(pools.timeouts))
            }
        }
    }};
}
pub(super) use within_deadline;

impl Pools {
    /// The pool whose connections this thread's runtime drives.
    pub fn current(&self) -> AnyPool {
        if !crate::workers::on_worker_thread() || self.main.is_closed() {
            return self.main.clone();
        }
        WORKER_POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            if let Some((_, pool)) = pools.iter().find(|(id, _)| *id == self.id) {
                return pool.clone();
            }
            // The URL was parsed when the main pool connected, so this cannot fail in practice;
            // if it did, the main pool still works, one thread hop slower.
            match options(WORKER_POOL_SIZE, self.timeouts).connect_lazy(&self.url) {
                Ok(pool) => {
                    pools.push((self.id, pool.clone()));
                    self.workers.lock().unwrap_or_else(|p| p.into_inner()).push(pool.clone());
                    pool
                }
                Err(_) => self.main.clone(),
            }
        })
    }

    /// The pool opened at start, for work outside the workers.
    pub fn main(&self) -> &AnyPool {
        &self.main
    }

    /// Closes every pool: later operations fail, on every thread.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub async fn close(&self) {
        self.main.close().await;
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for pool in workers {
            pool.close().await;
        }
    }
}

/// Closes the pools this worker thread opened (before its runtime stops).
pub async fn close_worker_pools() {
    let pools = WORKER_POOLS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for (_, pool) in pools {
        pool.close().await;
    }
}

pub async fn connect(url: &str, timeouts: Timeouts) -> Result<SqlStore, String> {
    let main = options(MAIN_POOL_SIZE, timeouts)
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL at {}: {e}", redact_url(url)))?;
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let pools = Pools { id, url: url.to_string(), timeouts, main, workers: Mutex::default() };
    Ok(SqlStore::new(Backend::Postgres, Db::Postgres(Arc::new(pools))))
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

pub(super) async fn acquire(pools: &Pools) -> StoreResult<PoolConnection<Any>> {
    pools.current().acquire().await.map_err(err)
}

pub(super) async fn transaction<T, F>(pools: &Pools, f: F) -> StoreResult<T>
where
    F: for<'c> FnOnce(&'c mut dyn Conn) -> TxFuture<'c, T>,
{
    within_deadline!(pools, |conn| async move {
        let mut tx = sqlx::Connection::begin(conn).await.map_err(err)?;
        let inner: &mut AnyConnection = &mut tx;
        match f(inner).await {
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
    })
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

/// The channel registry changes are announced on (`NOTIFY`), so every node drops its
/// cached clients, APIs, grants and keys at once instead of at its next poll.
pub const REGISTRY_CHANNEL: &str = "tessera_registry";

/// A connection `LISTEN`ing on [`REGISTRY_CHANNEL`] and on
/// [`super::revocations::REVOCATION_CHANNEL`].
pub struct ChangeListener(sqlx::postgres::PgListener);

impl ChangeListener {
    pub async fn connect(pools: &Pools) -> Result<Self, String> {
        let mut listener = sqlx::postgres::PgListener::connect(&pools.url).await.map_err(|e| e.to_string())?;
        listener.listen_all([REGISTRY_CHANNEL, super::revocations::REVOCATION_CHANNEL]).await.map_err(|e| e.to_string())?;
        Ok(Self(listener))
    }

    /// Waits for the next announced change. An error means the connection was lost: the
    /// next call reconnects, and what was announced meanwhile is lost (the poll catches it).
    pub async fn changed(&mut self) -> Result<(), String> {
        self.0.recv().await.map(|_| ()).map_err(|e| e.to_string())
    }
}
