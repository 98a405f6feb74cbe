//! PostgreSQL: for deployments with many stateless nodes sharing one database. One pool
//! serves reads and writes; single-use operations rely on row locks taken by conditional
//! `UPDATE ... RETURNING`, so concurrent nodes never both win.
//!
//! A connection's socket is driven by the runtime that opened it. Each HTTP worker (see
//! [`crate::workers`]) runs its own single-threaded runtime, so each keeps its own pool:
//! a query from a worker then never waits for another thread to notice its answer. The
//! main pool serves everything else (migrations, the CLI, background tasks).
//!
//! A highly available PostgreSQL: the URL may name several hosts ([`super::pg_hosts`]).
//! Pools then connect only to the one that accepts writes, and a fault that says the
//! primary may have moved (a broken connection, none to be had, SQLSTATE 25006, a stall)
//! starts a search through the hosts in order; the pools move to the one found, so a
//! failover needs no restart. Every operation is tried again, within its deadline, when it
//! failed without having done anything (see [`with_retries`]).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow, AnyTypeInfoKind};
use sqlx::{Any, AnyConnection, AnyPool, Column, Executor, Row as _};
use tessera_core::store::{StoreError, StoreResult};
use tokio::time::Instant;

use super::db::{Cell, Conn, Db, Finish, Query, Row, TxFuture, Value};
use super::pg_hosts::HostList;
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

/// After a fault that left nothing done, an operation is tried again after each of these
/// pauses, always within its read deadline.
const RETRY_PAUSES: [Duration; 3] = [Duration::from_millis(25), Duration::from_millis(100), Duration::from_millis(400)];

/// The least time between two searches for the primary, so that while a failover is under
/// way requests answer 503 at once instead of each probing every host.
const SEARCH_PAUSE: Duration = Duration::from_millis(250);

/// Pools of one generation, all on the host that was the writable primary when it began.
/// A failover (or a broken connection) starts the next one; the last one's pools are closed.
struct Generation {
    number: u64,
    host: usize,
    main: AnyPool,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Stats {
    /// Times the pools moved to a newly found primary (or reopened on the same one).
    pub switches: AtomicU64,
    /// Operations tried again after a fault that left nothing done.
    pub retries: AtomicU64,
}

/// One deployment's pools: the main one, opened at start, and one per worker thread,
/// opened there on first use.
pub struct Pools {
    /// Tells this deployment's worker pools from another's in the same process (tests).
    id: u64,
    hosts: HostList,
    pub(super) timeouts: Timeouts,
    current: RwLock<Arc<Generation>>,
    /// Every worker pool of the current generation, so that closing the store closes them too.
    workers: Mutex<Vec<AnyPool>>,
    closed: AtomicBool,
    /// Held by the one search for the primary under way; when the last one started.
    search: tokio::sync::Mutex<Option<Instant>>,
    pub stats: Stats,
}

thread_local! {
    /// This worker thread's pools, by [`Pools::id`], with their generation.
    static WORKER_POOLS: RefCell<Vec<(u64, u64, AnyPool)>> = const { RefCell::new(Vec::new()) };
}

/// What a connection is checked for before it joins a pool: the server must accept writes
/// when the URL asks for `read-write` (libpq checks `SHOW transaction_read_only` for it).
const READ_ONLY_CHECK: &str = "SHOW transaction_read_only";

fn options(size: u32, timeouts: Timeouts, read_write: bool) -> AnyPoolOptions {
    let statement_ms = timeouts.statement.as_millis();
    // No ping before each checkout: it is a round trip per statement; a connection that
    // died fails its next statement instead, which is retried when that is safe (see
    // `with_retries`) and closed.
    AnyPoolOptions::new().max_connections(size).test_before_acquire(false).acquire_timeout(timeouts.connect).after_connect(
        move |conn, _| {
            Box::pin(async move {
                Executor::execute(&mut *conn, format!("SET statement_timeout = {statement_ms}").as_str()).await?;
                if read_write {
                    let read_only: String = sqlx::query_scalar(READ_ONLY_CHECK).fetch_one(&mut *conn).await?;
                    if read_only != "off" {
                        return Err(sqlx::Error::Protocol("the server is read-only (a standby), not the primary".into()));
                    }
                }
                Ok(())
            })
        },
    )
}

pub(super) fn timed_out(t: Timeouts) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL did not answer within {} s", t.read.as_secs()))
}

/// Connects to each host in turn, in the URL's order, and answers the first that accepts
/// writes (libpq's `target_session_attrs=read-write`).
async fn find_primary(hosts: &HostList, timeouts: Timeouts) -> Result<usize, String> {
    let mut refused = Vec::new();
    for (i, url) in hosts.urls.iter().enumerate() {
        let probe = async {
            let mut conn = <AnyConnection as sqlx::Connection>::connect(url).await?;
            let read_only: String = sqlx::query_scalar(READ_ONLY_CHECK).fetch_one(&mut conn).await?;
            let _ = sqlx::Connection::close(conn).await;
            Ok::<_, sqlx::Error>(read_only)
        };
        let name = &hosts.names[i];
        match tokio::time::timeout(timeouts.connect, probe).await {
            Ok(Ok(read_only)) if read_only == "off" => return Ok(i),
            Ok(Ok(_)) => refused.push(format!("{name} is read-only")),
            Ok(Err(e)) => refused.push(format!("{name}: {e}")),
            Err(_) => refused.push(format!("{name}: no answer within {} s", timeouts.connect.as_secs())),
        }
    }
    Err(format!("no writable primary ({})", refused.join("; ")))
}

/// How a statement failed, for deciding what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// The connection broke or the server is going away (I/O, class 08, 57P01-57P03).
    Broken,
    /// No connection within the connect timeout.
    NoConnection,
    /// SQLSTATE 25006: a write on a server that is read-only (a demoted primary).
    ReadOnly,
    /// SQLSTATE 40001 or 40P01: the server rolled the transaction back; try again.
    Conflict,
    /// The read deadline passed: the connection's state is unknown.
    Stalled,
    /// Anything else: an answer in its own right.
    Other,
}

impl Fault {
    fn of(e: &sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::PoolClosed => Self::Broken,
            sqlx::Error::WorkerCrashed => Self::Broken,
            sqlx::Error::PoolTimedOut => Self::NoConnection,
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("25006") => Self::ReadOnly,
                Some("40001" | "40P01") => Self::Conflict,
                Some(c) if c.starts_with("08") || c.starts_with("57P") => Self::Broken,
                _ => Self::Other,
            },
            _ => Self::Other,
        }
    }

    /// The server refused the work or the connection was gone before it was sent: nothing
    /// of it was done.
    fn refused(self) -> bool {
        matches!(self, Self::ReadOnly | Self::Conflict)
    }

    /// Whether the connection must not go back to the pool.
    fn spoils_connection(self) -> bool {
        matches!(self, Self::Broken | Self::ReadOnly | Self::Stalled)
    }

    /// Whether the primary may have moved: time to look for it (with several hosts).
    fn may_have_moved(self) -> bool {
        matches!(self, Self::Broken | Self::NoConnection | Self::ReadOnly | Self::Stalled)
    }
}

/// How one attempt failed.
pub(super) enum Failed {
    /// Nothing of the operation was done: it may be tried again.
    Undone(Fault, StoreError),
    /// Done or not is unknown (the connection broke while a write or its `COMMIT` was in
    /// flight), or the error is the answer: not tried again.
    Final(Fault, StoreError),
}

impl Failed {
    fn fault(&self) -> Fault {
        match self {
            Self::Undone(f, _) | Self::Final(f, _) => *f,
        }
    }

    /// A failed read: nothing was changed, so a read is always safe to try again unless
    /// the error is an answer.
    fn read(e: sqlx::Error) -> Self {
        match Fault::of(&e) {
            Fault::Other => Self::Final(Fault::Other, err(e)),
            f => Self::Undone(f, err(e)),
        }
    }

    /// A failed write outside a transaction: tried again only if the server refused it.
    fn write(e: sqlx::Error) -> Self {
        match Fault::of(&e) {
            f if f.refused() => Self::Undone(f, err(e)),
            f => Self::Final(f, err(e)),
        }
    }

    /// A failure inside a transaction before its `COMMIT` was sent: the server rolls back a
    /// transaction whose connection is lost, so nothing was done unless the error is the answer.
    fn before_commit(fault: Option<Fault>, e: StoreError) -> Self {
        match fault {
            Some(f) if f != Fault::Other => Self::Undone(f, e),
            f => Self::Final(f.unwrap_or(Fault::Other), e),
        }
    }
}

pub(super) type Attempt<'c, T> = Pin<Box<dyn Future<Output = Result<T, Failed>> + Send + 'c>>;

/// Runs `attempt` on a pooled connection within the read deadline, again (after a short
/// pause, on a fresh connection) while it fails without having done anything and time is
/// left. A connection whose answer did not come in time, or that broke, is closed rather
/// than returned to the pool: its state is unknown. A fault that says the primary may have
/// moved starts a search for it (with several hosts).
pub(super) async fn with_retries<T, F>(pools: &Pools, mut attempt: F) -> StoreResult<T>
where
    F: for<'c> FnMut(&'c mut AnyConnection) -> Attempt<'c, T>,
{
    let deadline = Instant::now() + pools.timeouts.read;
    let mut pauses = RETRY_PAUSES.iter();
    loop {
        let (generation, pool) = pools.current();
        let failed = match tokio::time::timeout_at(deadline, pool.acquire()).await {
            Err(_) => Failed::Final(Fault::Stalled, timed_out(pools.timeouts)),
            Ok(Err(e)) => {
                let fault = Fault::of(&e);
                Failed::Undone(fault, err(e))
            }
            Ok(Ok(mut conn)) => match tokio::time::timeout_at(deadline, attempt(&mut conn)).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(failed)) => {
                    if failed.fault().spoils_connection() {
                        conn.close_on_drop();
                    }
                    failed
                }
                Err(_) => {
                    conn.close_on_drop();
                    Failed::Final(Fault::Stalled, timed_out(pools.timeouts))
                }
            },
        };
        if failed.fault().may_have_moved() {
            let _ = tokio::time::timeout_at(deadline, pools.recover(generation, failed.fault())).await;
        }
        let e = match failed {
            Failed::Final(_, e) => return Err(e),
            Failed::Undone(_, e) => e,
        };
        match pauses.next() {
            Some(pause) if Instant::now() + *pause < deadline => {
                pools.stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(*pause).await;
            }
            _ => return Err(e),
        }
    }
}

impl Pools {
    fn generation(&self) -> Arc<Generation> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The pool whose connections this thread's runtime drives, and its generation.
    fn current(&self) -> (u64, AnyPool) {
        let generation = self.generation();
        if !crate::workers::on_worker_thread() || self.closed.load(Ordering::SeqCst) {
            return (generation.number, generation.main.clone());
        }
        WORKER_POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            if let Some((_, _, pool)) = pools.iter().find(|(id, n, _)| *id == self.id && *n == generation.number) {
                return (generation.number, pool.clone());
            }
            pools.retain(|(id, _, _)| *id != self.id);
            // The URL was parsed when the main pool connected, so this cannot fail in practice;
            // if it did, the main pool still works, one thread hop slower.
            let url = &self.hosts.urls[generation.host];
            match options(WORKER_POOL_SIZE, self.timeouts, self.hosts.read_write).connect_lazy(url) {
                Ok(pool) => {
                    pools.push((self.id, generation.number, pool.clone()));
                    self.workers.lock().unwrap_or_else(|p| p.into_inner()).push(pool.clone());
                    (generation.number, pool)
                }
                Err(_) => (generation.number, generation.main.clone()),
            }
        })
    }

    /// The current main pool, for work outside the workers.
    pub fn main(&self) -> AnyPool {
        self.generation().main.clone()
    }

    /// The URL of the host the pools are on now.
    pub fn url(&self) -> String {
        self.hosts.urls[self.generation().host].clone()
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// After a fault of generation `seen`: with a URL that wants the writable primary,
    /// looks for it (one search at a time, not more often than [`SEARCH_PAUSE`]) and moves
    /// the pools there. On the same host, the pools are reopened only when connections broke
    /// (the server restarted: every idle one is dead too).
    async fn recover(&self, seen: u64, fault: Fault) {
        if !self.hosts.read_write || self.closed.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut last) = self.search.try_lock() else { return };
        let current = self.generation();
        if current.number != seen || last.is_some_and(|t| t.elapsed() < SEARCH_PAUSE) {
            return;
        }
        *last = Some(Instant::now());
        match find_primary(&self.hosts, self.timeouts).await {
            Ok(host) if host == current.host && !matches!(fault, Fault::Broken | Fault::ReadOnly) => {}
            Ok(host) => self.switch(host),
            Err(e) => tracing::warn!(error = %e, "PostgreSQL: looking for the primary"),
        }
    }

    /// Starts a generation on `host`; the last one's pools close (connections in use are
    /// dropped when they come back).
    fn switch(&self, host: usize) {
        let Ok(main) = options(MAIN_POOL_SIZE, self.timeouts, self.hosts.read_write).connect_lazy(&self.hosts.urls[host]) else {
            return;
        };
        let old = {
            let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
            let next = Arc::new(Generation { number: current.number + 1, host, main });
            std::mem::replace(&mut *current, next)
        };
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for pool in std::iter::once(old.main.clone()).chain(workers) {
            tokio::spawn(async move { pool.close().await });
        }
        self.stats.switches.fetch_add(1, Ordering::Relaxed);
        if host == old.host {
            tracing::warn!(primary = %self.hosts.names[host], "PostgreSQL connections broke; reconnected to the primary");
        } else {
            tracing::warn!(primary = %self.hosts.names[host], was = %self.hosts.names[old.host], "PostgreSQL primary moved; connected to the new primary");
        }
    }

    /// Closes every pool: later operations fail, on every thread.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.main().close().await;
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for pool in workers {
            pool.close().await;
        }
    }

    /// `/metrics` lines.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        for (name, help, v) in [
            (
                "tessera_postgres_primary_switches_total",
                "Times the pools moved to a newly found primary or reopened",
                &self.stats.switches,
            ),
            (
                "tessera_postgres_retries_total",
                "Operations tried again after a fault that left nothing done",
                &self.stats.retries,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
        }
    }
}

/// Closes the pools this worker thread opened (before its runtime stops).
pub async fn close_worker_pools() {
    let pools = WORKER_POOLS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for (_, _, pool) in pools {
        pool.close().await;
    }
}

pub async fn connect(url: &str, timeouts: Timeouts) -> Result<SqlStore, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot connect to PostgreSQL at {}: {e}", redact_url(url));
    let hosts = super::pg_hosts::parse(url).map_err(|e| cannot(&e))?;
    let host = if hosts.read_write { find_primary(&hosts, timeouts).await.map_err(|e| cannot(&e))? } else { 0 };
    let main = options(MAIN_POOL_SIZE, timeouts, hosts.read_write).connect(&hosts.urls[host]).await.map_err(|e| cannot(&e))?;
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let pools = Pools {
        id,
        hosts,
        timeouts,
        current: RwLock::new(Arc::new(Generation { number: 0, host, main })),
        workers: Mutex::default(),
        closed: AtomicBool::new(false),
        search: tokio::sync::Mutex::new(None),
        stats: Stats::default(),
    };
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

/// Runs `f` in one transaction, tried again while it fails before its `COMMIT` without its
/// error being the answer (a transaction of this store never acts outside the database, so
/// a rolled-back attempt left nothing behind). A `COMMIT` whose connection broke may or may
/// not have committed: that is answered with [`StoreError::Unavailable`], never retried.
pub(super) async fn transaction<T, F>(pools: &Pools, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut dyn Conn) -> TxFuture<'c, T> + Clone + Send + 'static,
{
    with_retries(pools, move |conn| {
        let f = f.clone();
        Box::pin(async move {
            let mut tx = sqlx::Connection::begin(conn).await.map_err(Failed::read)?;
            let mut tracked = Tracked { conn: &mut tx, fault: None };
            let result = f(&mut tracked).await;
            let fault = tracked.fault;
            match result {
                Ok(Finish::Commit(v)) => {
                    tx.commit().await.map_err(Failed::write)?;
                    Ok(v)
                }
                Ok(Finish::Rollback(v)) => {
                    tx.rollback().await.map_err(Failed::read)?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = tx.rollback().await;
                    Err(Failed::before_commit(fault, e))
                }
            }
        })
    })
    .await
}

/// A statement outside a transaction: a read (retried after any fault that is not an
/// answer) or a write (retried only when the server refused it).
pub(super) async fn execute(pools: &Pools, q: Query) -> StoreResult<u64> {
    with_retries(pools, move |c| {
        let q = q.clone();
        Box::pin(async move { statement(&q).execute(c).await.map(|r| r.rows_affected()).map_err(Failed::write) })
    })
    .await
}

pub(super) async fn fetch_optional(pools: &Pools, q: Query, write: bool) -> StoreResult<Option<Row>> {
    with_retries(pools, move |c| {
        let q = q.clone();
        Box::pin(async move {
            let found = statement(&q).fetch_optional(c).await.map_err(if write { Failed::write } else { Failed::read })?;
            rows(found.into_iter().collect()).map(|mut r| r.pop()).map_err(|e| Failed::Final(Fault::Other, e))
        })
    })
    .await
}

pub(super) async fn fetch_all(pools: &Pools, q: Query) -> StoreResult<Vec<Row>> {
    with_retries(pools, move |c| {
        let q = q.clone();
        Box::pin(async move {
            let found = statement(&q).fetch_all(c).await.map_err(Failed::read)?;
            rows(found).map_err(|e| Failed::Final(Fault::Other, e))
        })
    })
    .await
}

/// A transaction's connection that remembers how its first failed statement failed.
struct Tracked<'a> {
    conn: &'a mut AnyConnection,
    fault: Option<Fault>,
}

impl Tracked<'_> {
    fn note(&mut self, e: sqlx::Error) -> StoreError {
        self.fault.get_or_insert(Fault::of(&e));
        err(e)
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
impl<'a> Conn for Tracked<'a> {
    async fn execute(&mut self, q: Query) -> StoreResult<u64> {
        match statement(&q).execute(&mut *self.conn).await {
            Ok(r) => Ok(r.rows_affected()),
            Err(e) => Err(self.note(e)),
        }
    }
    async fn fetch_optional(&mut self, q: Query) -> StoreResult<Option<Row>> {
        match statement(&q).fetch_optional(&mut *self.conn).await {
            Ok(found) => Ok(rows(found.into_iter().collect())?.pop()),
            Err(e) => Err(self.note(e)),
        }
    }
    async fn fetch_all(&mut self, q: Query) -> StoreResult<Vec<Row>> {
        match statement(&q).fetch_all(&mut *self.conn).await {
            Ok(found) => rows(found),
            Err(e) => Err(self.note(e)),
        }
    }
    async fn execute_script(&mut self, sql: &str) -> StoreResult<()> {
        match Executor::execute(&mut *self.conn, sql).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.note(e)),
        }
    }
}

/// The channel registry changes are announced on (`NOTIFY`), so every node drops its
/// cached clients, APIs, grants and keys at once instead of at its next poll.
pub const REGISTRY_CHANNEL: &str = "tessera_registry";

/// A connection `LISTEN`ing on [`REGISTRY_CHANNEL`] and on
/// [`super::revocations::REVOCATION_CHANNEL`], on the current primary.
pub struct ChangeListener {
    pools: Arc<Pools>,
    listener: Option<sqlx::postgres::PgListener>,
}

impl ChangeListener {
    pub async fn connect(pools: &Arc<Pools>) -> Result<Self, String> {
        let listener = Self::listen(pools).await?;
        Ok(Self { pools: pools.clone(), listener: Some(listener) })
    }

    async fn listen(pools: &Pools) -> Result<sqlx::postgres::PgListener, String> {
        let mut listener = sqlx::postgres::PgListener::connect(&pools.url()).await.map_err(|e| e.to_string())?;
        listener.listen_all([REGISTRY_CHANNEL, super::revocations::REVOCATION_CHANNEL]).await.map_err(|e| e.to_string())?;
        Ok(listener)
    }

    /// Waits for the next announced change. An error means the connection was lost: the
    /// next call reconnects, to the primary of that moment (it may have moved), and what was
    /// announced meanwhile is lost (the poll catches it).
    pub async fn changed(&mut self) -> Result<(), String> {
        let listener = match &mut self.listener {
            Some(l) => l,
            None => self.listener.insert(Self::listen(&self.pools).await?),
        };
        match listener.recv().await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.listener = None;
                Err(e.to_string())
            }
        }
    }
}
