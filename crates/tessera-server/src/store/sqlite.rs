//! SQLite: the embedded default, on rusqlite.
//!
//! - WAL, so readers never block the writer and a reader sees every committed write.
//! - `synchronous=FULL`, so a consumed code or a rotated refresh token survives power loss
//!   (DESIGN decision 1): nothing is answered before its commit is on disk.
//! - **Reads** run on the calling thread, on a connection taken from a small pool: an
//!   indexed read is microseconds of function calls, cheaper than handing it to a thread.
//! - **Writes** go to one writer thread, which takes every transaction waiting in its queue,
//!   runs each in its own savepoint inside one `BEGIN IMMEDIATE`, and commits them together
//!   (group commit): concurrent requests share one fsync, and an operation that fails or
//!   decides to roll back is undone alone (`ROLLBACK TO`) without touching the others.
//!   Answers go out only after the `COMMIT` returned.
//! - **Checkpoints** (copying the WAL back into the database file, then syncing that file)
//!   run on a third connection in a background thread, every [`CHECKPOINT_EVERY`] when
//!   anything was committed, in `PASSIVE` mode: the bulk of the copying and syncing never
//!   stalls the writer, which would otherwise pause every queued request for a whole
//!   checkpoint each time the WAL reaches 1000 pages. A background checkpoint races the
//!   writer's appends, so it never catches up under sustained load and the WAL would grow
//!   without bound; after each one the writer, between two batches, checkpoints the few
//!   frames appended meanwhile, which lets its next transaction restart the WAL from the
//!   beginning. `journal_size_limit` gives back the space of a WAL that grew past it.
//! - 2 KiB pages (see [`PRAGMAS`]): a rotation dirties a handful of pages, each written
//!   to the WAL whole, so smaller pages mean fewer bytes copied, checksummed and synced.
//! - A busy timeout covers another process holding the write lock (a CLI command against a
//!   running server).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ffi, OpenFlags, ToSql};
use tessera_core::store::{StoreError, StoreResult};
use tokio::sync::oneshot;

use super::db::{Cell, Conn, Db, Finish, Query, Row, TxFuture, Value};
use super::{Backend, SqlStore};

/// `page_size` applies to a new database only (an existing file keeps its own): 2 KiB
/// pages halve the bytes every commit appends to the WAL and fsyncs, for rows of a few
/// hundred bytes, at the price of a slightly deeper tree. Measured with
/// `tessera-bench --store-ops`: CPU per refresh rotation 185 → 150 µs, code exchange
/// 380 → 290 µs, write throughput +40 %.
const PRAGMAS: &str =
    "PRAGMA page_size = 2048; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// Most transactions committed together; a bound on how long the first one waits.
const MAX_BATCH: usize = 128;
/// How often the background checkpointer copies the WAL into the database file. Often, so
/// each pass and the writer's catch-up after it are short: at 4000 refresh rotations a
/// second the WAL grows by about 35 000 frames (70 MB) a second, and with a pass every
/// second each catch-up held the writer for 5–8 ms, and the commit that restarted the WAL
/// for 4–35 ms more while it truncated the file to `journal_size_limit`. Every 100 ms, the
/// WAL stays near 8 MB, below that limit, and a catch-up takes 1–2 ms.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// Maps a SQLite error to the store's error classes.
fn err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let text = msg.clone().unwrap_or_else(|| e.to_string());
            match f.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => StoreError::Conflict(text),
                _ if matches!(f.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                    StoreError::Corrupt(text)
                }
                _ => StoreError::Unavailable(text),
            }
        }
        rusqlite::Error::Utf8Error(_)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Int(None) | Value::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

/// One rusqlite connection with the statement helpers the store needs.
pub struct SqliteConn(rusqlite::Connection);

impl SqliteConn {
    fn open(path: &Path, flags: OpenFlags) -> StoreResult<Self> {
        let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(err)?;
        conn.execute_batch(PRAGMAS).map_err(err)?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(Self(conn))
    }

    /// Prepares (cached) and binds `$N` placeholders by number, whatever their order.
    fn bound<'c>(&'c self, q: &Query) -> StoreResult<rusqlite::CachedStatement<'c>> {
        let mut stmt = self.0.prepare_cached(&q.sql).map_err(err)?;
        for i in 1..=stmt.parameter_count() {
            let arg = stmt
                .parameter_name(i)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| q.args.get(n.wrapping_sub(1)))
                .ok_or_else(|| StoreError::Unavailable(format!("statement parameter {i} is unbound: {}", q.sql)))?;
            stmt.raw_bind_parameter(i, arg).map_err(err)?;
        }
        Ok(stmt)
    }

    fn execute_now(&self, q: Query) -> StoreResult<u64> {
        Ok(self.bound(&q)?.raw_execute().map_err(err)? as u64)
    }

    fn rows(&self, q: Query, limit: usize) -> StoreResult<Vec<Row>> {
        let mut stmt = self.bound(&q)?;
        let names: Arc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(r) = rows.next().map_err(err)? else { break };
            let mut cells = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                cells.push(match r.get_ref(i).map_err(err)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(
                        std::str::from_utf8(t).map_err(|e| StoreError::Corrupt(format!("{}: {e}", names[i])))?.to_owned(),
                    ),
                    ValueRef::Real(_) => return Err(StoreError::Corrupt(format!("{}: a REAL value", names[i]))),
                });
            }
            out.push(Row { names: names.clone(), cells });
        }
        Ok(out)
    }

    pub fn fetch_optional_now(&self, q: Query) -> StoreResult<Option<Row>> {
        Ok(self.rows(q, 1)?.pop())
    }

    pub fn fetch_all_now(&self, q: Query) -> StoreResult<Vec<Row>> {
        self.rows(q, usize::MAX)
    }

    fn plain(&self, sql: &str) -> StoreResult<()> {
        self.0.execute_batch(sql).map_err(err)
    }

    /// One argument-less statement, prepared once per connection (the writer's BEGIN,
    /// SAVEPOINT, RELEASE and COMMIT run for every transaction).
    fn control(&self, sql: &'static str) -> StoreResult<()> {
        self.0.prepare_cached(sql).and_then(|mut s| s.raw_execute()).map(drop).map_err(err)
    }
}

#[async_trait]
impl Conn for SqliteConn {
    async fn execute(&mut self, q: Query) -> StoreResult<u64> {
        self.execute_now(q)
    }
    async fn fetch_optional(&mut self, q: Query) -> StoreResult<Option<Row>> {
        self.fetch_optional_now(q)
    }
    async fn fetch_all(&mut self, q: Query) -> StoreResult<Vec<Row>> {
        self.fetch_all_now(q)
    }
    async fn execute_script(&mut self, sql: &str) -> StoreResult<()> {
        self.plain(sql)
    }
}

/// One queued write transaction, type-erased for the writer thread.
trait WriteJob: Send {
    /// Runs the operation; whether its changes are to be kept.
    fn run(&mut self, c: &mut SqliteConn) -> bool;
    /// Answers the caller once the batch's fate (`commit`) is known.
    fn finish(self: Box<Self>, commit: StoreResult<()>);
}

struct TxJob<T, F> {
    op: Option<F>,
    result: Option<StoreResult<Finish<T>>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> WriteJob for TxJob<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut dyn Conn) -> TxFuture<'c, T> + Send + 'static,
{
    fn run(&mut self, c: &mut SqliteConn) -> bool {
        let Some(op) = self.op.take() else { return false };
        // The connection's futures are always ready, so one poll finishes the operation.
        let mut fut = op(c);
        let result = match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(StoreError::Unavailable("a SQLite write waited on something other than the database".into())),
        };
        let keep = matches!(result, Ok(Finish::Commit(_)));
        self.result = Some(result);
        keep
    }

    fn finish(self: Box<Self>, commit: StoreResult<()>) {
        let answer = match self.result {
            None => Err(commit.err().unwrap_or_else(|| StoreError::Unavailable("the write was not run".into()))),
            Some(Err(e)) => Err(e),
            // Nothing of a rolled-back operation was kept, so the batch's fate is not its own.
            Some(Ok(Finish::Rollback(v))) => Ok(v),
            Some(Ok(Finish::Commit(v))) => commit.map(|()| v),
        };
        let _ = self.reply.send(answer);
    }
}

enum Msg {
    /// A transaction and when it was queued.
    Job(Box<dyn WriteJob>, Instant),
    /// Copy the WAL into the database file and truncate it (a clean stop).
    Checkpoint(oneshot::Sender<StoreResult<()>>),
}

pub struct Engine {
    path: PathBuf,
    jobs: mpsc::Sender<Msg>,
    readers: Mutex<Vec<SqliteConn>>,
    /// Set by [`Engine::close`]: every later operation fails, as on a closed pool.
    closed: AtomicBool,
    stats: Arc<WriterStats>,
    /// What the last operations said about the file, for `/readyz`.
    health: Health,
    /// Dropping it stops the checkpointer thread.
    _checkpointer: mpsc::Sender<()>,
}

/// Whether the database file can be read and written, as the operations on it found: a
/// damaged page (sticky: corruption does not heal) or failing writes (a full disk; cleared
/// by the next write that commits).
#[derive(Debug, Default)]
pub struct Health {
    corrupt: Mutex<Option<String>>,
    failing_writes: Mutex<Option<String>>,
}

impl Health {
    fn note<T>(&self, result: &StoreResult<T>, write: bool) {
        let set = |m: &Mutex<Option<String>>, v: Option<String>| *m.lock().unwrap_or_else(|p| p.into_inner()) = v;
        match result {
            Err(StoreError::Corrupt(e)) => set(&self.corrupt, Some(e.clone())),
            Err(StoreError::Unavailable(e)) if write => set(&self.failing_writes, Some(e.clone())),
            Ok(_) if write => set(&self.failing_writes, None),
            _ => {}
        }
    }

    /// The damage found, if any.
    pub fn corrupt(&self) -> Option<String> {
        self.corrupt.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Why the last write failed, unless one committed since.
    pub fn failing_writes(&self) -> Option<String> {
        self.failing_writes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What the writer thread has done: transactions run and commits (fsyncs) they took.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub transactions: AtomicU64,
    pub commits: AtomicU64,
    /// Background checkpoints that completed.
    pub checkpoints: AtomicU64,
    /// Nanoseconds transactions waited in the queue for the writer thread to take them:
    /// behind the batch being committed, and for the thread to get a core.
    pub queue_wait_ns: AtomicU64,
}

impl WriterStats {
    /// Appends the counters in the Prometheus text format; transactions over commits is the
    /// group-commit batch size, queue wait over transactions the mean wait.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        for (name, help, v) in [
            ("tessera_sqlite_transactions_total", "Write transactions run by the SQLite writer.", count(&self.transactions)),
            ("tessera_sqlite_commits_total", "Commits (each one fsync) those transactions took.", count(&self.commits)),
            ("tessera_sqlite_checkpoints_total", "Background WAL checkpoints completed.", count(&self.checkpoints)),
            (
                "tessera_sqlite_queue_wait_seconds_total",
                "Time write transactions waited for the SQLite writer to take them.",
                count(&self.queue_wait_ns) / 1e9,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
    }
}

impl Engine {
    /// Opens (creating if missing) the database and starts the writer thread.
    fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, CHECKPOINT_EVERY)
    }

    fn open_with(path: &Path, checkpoint_every: std::time::Duration) -> StoreResult<Self> {
        let writer = SqliteConn::open(path, OpenFlags::default())?;
        // Touch the schema so a corrupt file is found now, before anything writes.
        writer.fetch_optional_now(super::db::query("SELECT count(*) FROM sqlite_master"))?;
        writer.plain("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864")?;
        let checkpointer = SqliteConn::open(path, OpenFlags::default())?;
        let db_file = std::fs::File::open(path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {} to sync it: {e}", path.display())))?;
        let (_checkpointer, stop) = mpsc::channel();
        let catch_up = Arc::new(AtomicBool::new(false));
        let request_catch_up = catch_up.clone();
        let stats = Arc::new(WriterStats::default());
        let checkpoint_stats = stats.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                checkpoint_loop(&checkpointer, &db_file, &stop, checkpoint_every, &checkpoint_stats, &request_catch_up)
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite checkpoint thread: {e}")))?;
        let (jobs, queue) = mpsc::channel();
        let counters = stats.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, queue, &counters, &catch_up))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            jobs,
            readers: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            stats,
            health: Health::default(),
            _checkpointer,
        })
    }

    /// Runs a read on this thread with a pooled reader connection.
    pub fn read<T>(&self, f: impl FnOnce(&SqliteConn) -> StoreResult<T>) -> StoreResult<T> {
        self.check_open()?;
        let idle = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = SqliteConn::open(&self.path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
                c.plain("PRAGMA query_only = ON")?;
                c
            }
        };
        let out = f(&conn);
        self.health.note(&out, false);
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    /// Queues a write transaction and waits for its batch to commit.
    pub async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> TxFuture<'c, T> + Send + 'static,
    {
        self.check_open()?;
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TxJob { op: Some(op), result: None, reply });
        self.jobs.send(Msg::Job(job, Instant::now())).map_err(|_| stopped())?;
        let result = answer.await.map_err(|_| stopped())?;
        self.health.note(&result, true);
        result
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checkpoints the WAL into the database file and refuses every later operation.
    pub async fn close(&self) -> StoreResult<()> {
        self.check_open()?;
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Msg::Checkpoint(reply)).map_err(|_| stopped())?;
        let done = answer.await.map_err(|_| stopped());
        self.closed.store(true, Ordering::Release);
        self.readers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        done?
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    fn check_open(&self) -> StoreResult<()> {
        match self.closed.load(Ordering::Acquire) {
            true => Err(StoreError::Unavailable("the store is closed".into())),
            false => Ok(()),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer has stopped".into())
}

/// Until the engine is dropped (`stop` hangs up): every `every`, when anything was committed
/// since the last pass, copies the WAL into the database file and syncs that file, then asks
/// the writer to finish the job. A failed pass is retried next time (the WAL keeps every frame
/// until one succeeds).
fn checkpoint_loop(
    conn: &SqliteConn,
    db_file: &std::fs::File,
    stop: &mpsc::Receiver<()>,
    every: std::time::Duration,
    stats: &WriterStats,
    catch_up: &AtomicBool,
) {
    let mut done_at = 0;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        let commits = stats.commits.load(Ordering::Relaxed);
        // An idle server stays idle: no pass, no fsync, while nothing was written.
        if commits == done_at {
            continue;
        }
        // A PASSIVE checkpoint that does not reach the end of the WAL leaves the pages it
        // wrote unsynced; the writer's catch-up, which does reach it, would then pay for
        // syncing them all while every queued request waits. Syncing here, off the writer,
        // leaves it only the few pages it copies itself.
        let pass = conn.plain("PRAGMA wal_checkpoint(PASSIVE)").and_then(|()| {
            db_file.sync_data().map_err(|e| StoreError::Unavailable(format!("cannot sync the database file: {e}")))
        });
        match pass {
            Ok(()) => {
                done_at = commits;
                stats.checkpoints.fetch_add(1, Ordering::Relaxed);
                catch_up.store(true, Ordering::Release);
            }
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed"),
        }
    }
}

fn writer_loop(mut conn: SqliteConn, queue: mpsc::Receiver<Msg>, stats: &WriterStats, catch_up: &AtomicBool) {
    while let Ok(first) = queue.recv() {
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(job, queued) => {
                    stats.queue_wait_ns.fetch_add(queued.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    batch.push(job);
                }
                Msg::Checkpoint(reply) => {
                    commit_batch(&mut conn, std::mem::take(&mut batch), stats);
                    let _ = reply.send(conn.plain("PRAGMA wal_checkpoint(TRUNCATE)"));
                }
            }
            if batch.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        commit_batch(&mut conn, batch, stats);
        // Finish what the background checkpoint left: only frames appended since it began.
        if catch_up.swap(false, Ordering::AcqRel) {
            if let Err(e) = conn.plain("PRAGMA wal_checkpoint(PASSIVE)") {
                tracing::warn!(error = %e, "SQLite catch-up checkpoint failed");
            }
        }
    }
}

/// Runs the batch in one transaction, one savepoint per job, and answers every job.
fn commit_batch(conn: &mut SqliteConn, batch: Vec<Box<dyn WriteJob>>, stats: &WriterStats) {
    if batch.is_empty() {
        return;
    }
    stats.transactions.fetch_add(batch.len() as u64, Ordering::Relaxed);
    stats.commits.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = conn.control("BEGIN IMMEDIATE") {
        batch.into_iter().for_each(|job| job.finish(Err(e.clone())));
        return;
    }
    let mut failed: Option<StoreError> = None;
    let mut ran = Vec::with_capacity(batch.len());
    for mut job in batch {
        if failed.is_none() {
            failed = run_in_savepoint(conn, job.as_mut()).err();
        }
        ran.push(job);
    }
    let outcome = match failed {
        None => conn.control("COMMIT"),
        Some(e) => Err(e),
    };
    if outcome.is_err() && !conn.0.is_autocommit() {
        let _ = conn.control("ROLLBACK");
    }
    ran.into_iter().for_each(|job| job.finish(outcome.clone()));
}

/// One job inside the batch: its changes are released into the batch or rolled back alone.
/// An error here (SQLite abandoned the whole transaction, say on a full disk) fails the batch.
fn run_in_savepoint(conn: &mut SqliteConn, job: &mut dyn WriteJob) -> StoreResult<()> {
    conn.control("SAVEPOINT job")?;
    // A panicking operation (a bug) must not take the writer thread, and with it every later
    // write, down: its changes are rolled back and its caller gets an error.
    let keep = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn))).unwrap_or_else(|_| {
        tracing::error!("a SQLite write transaction panicked; rolled back");
        false
    });
    if conn.0.is_autocommit() {
        return Err(StoreError::Unavailable("SQLite rolled the transaction back".into()));
    }
    if !keep {
        conn.control("ROLLBACK TO job")?;
    }
    conn.control("RELEASE job")
}

/// The database file a `sqlite:` URL names.
pub fn path_of(url: &str) -> Result<PathBuf, String> {
    use sqlx::sqlite::SqliteConnectOptions;
    let opts = SqliteConnectOptions::from_str(url).map_err(|e| format!("invalid sqlite url {url:?}: {e}"))?;
    let path = opts.get_filename().to_path_buf();
    if path.as_os_str() == ":memory:" {
        return Err("an in-memory SQLite database is not supported: the reader and writer connections must share a file".into());
    }
    Ok(path)
}

pub async fn connect(url: &str) -> Result<SqlStore, String> {
    let path = path_of(url)?;
    refuse_invalid_sqlite_file(&path)?;
    super::sqlite_files::quick_check(&path)?;
    let explain = |e: StoreError| match e {
        StoreError::Corrupt(msg) => {
            format!("the SQLite file at {} is not a valid Tessera database (corrupt or not SQLite): {msg}", path.display())
        }
        other => format!("cannot open the SQLite database at {}: {other}", path.display()),
    };
    let engine = Engine::open(&path).map_err(explain)?;
    Ok(SqlStore::new(Backend::Sqlite, Db::Sqlite(Arc::new(engine))))
}

/// Refuses an existing SQLite file that is not a readable database, with a message saying
/// so. Read-only, so nothing is written to a file that may be someone's data.
fn refuse_invalid_sqlite_file(path: &Path) -> Result<(), String> {
    if !path.is_file() {
        return Ok(());
    }
    let probe = rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)));
    match probe.map_err(err) {
        Err(StoreError::Corrupt(msg)) => Err(format!(
            "the SQLite file at {} is not a valid Tessera database (corrupt or not SQLite); refusing to start: {msg}",
            path.display()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::query;

    fn engine(name: &str) -> (Engine, PathBuf) {
        engine_with(name, CHECKPOINT_EVERY)
    }

    fn engine_with(name: &str, checkpoint_every: std::time::Duration) -> (Engine, PathBuf) {
        let dir = std::env::temp_dir().join(format!("tessera-sqlite-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let engine = Engine::open_with(&dir.join("t.db"), checkpoint_every).unwrap();
        (engine, dir)
    }

    async fn create_table(e: &Engine) {
        e.write(|c| {
            Box::pin(async move { c.execute_script("CREATE TABLE t (k INTEGER PRIMARY KEY)").await.map(Finish::Commit) })
        })
        .await
        .unwrap();
    }

    /// Under sustained concurrent writes the background checkpoint always races an append;
    /// the writer's catch-up checkpoint is what lets the WAL restart instead of growing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_sustained_writes() {
        let (e, dir) = engine_with("wal", std::time::Duration::from_millis(2));
        let e = Arc::new(e);
        create_table(&e).await;
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..16)
            .map(|w| {
                let (e, stop) = (e.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(insert(&e, w * 1_000_000 + i, "commit").await, Ok(1));
                        e.read(|c| c.fetch_optional_now(query("SELECT count(*) FROM t"))).unwrap();
                        i += 1;
                    }
                    i
                })
            })
            .collect::<Vec<_>>();
        // Writes never pause until 4000 rows and 10 background checkpoints are behind us.
        while e.stats().transactions.load(Ordering::Relaxed) < 4000 || e.stats().checkpoints.load(Ordering::Relaxed) < 10 {
            tokio::task::yield_now().await;
        }
        stop.store(true, Ordering::Relaxed);
        let mut rows = 0;
        for w in writers {
            rows += w.await.unwrap();
        }
        assert_eq!(keys(&e).len() as i64, rows);
        // Without restarts the WAL holds every frame of every commit (about 5 MiB here); with
        // them it stays near what one checkpoint interval appends.
        let wal = std::fs::metadata(dir.join("t.db-wal")).map(|m| m.len()).unwrap_or(0);
        let commits = e.stats().commits.load(Ordering::Relaxed);
        assert!(wal < 2 * 1024 * 1024, "WAL is {wal} bytes after {rows} rows in {commits} commits");
        e.close().await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The checkpointer passes only when something was committed since its last pass.
    #[tokio::test]
    async fn an_idle_store_is_not_checkpointed() {
        let (e, dir) = engine_with("idle", std::time::Duration::from_millis(2));
        let checkpoints = || e.stats().checkpoints.load(Ordering::Relaxed);
        let wait_for_a_pass = |after: u64| async move {
            let deadline = Instant::now() + std::time::Duration::from_secs(10);
            while checkpoints() == after {
                assert!(Instant::now() < deadline, "no checkpoint after a commit");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        };
        create_table(&e).await;
        wait_for_a_pass(0).await;
        let after_one = checkpoints();
        // 50 intervals with nothing written: no pass.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(checkpoints(), after_one);
        assert_eq!(insert(&e, 1, "commit").await, Ok(1));
        wait_for_a_pass(after_one).await;
        e.close().await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    async fn insert(e: &Engine, k: i64, end: &'static str) -> StoreResult<u64> {
        e.write(move |c| {
            Box::pin(async move {
                c.execute(query("INSERT INTO t (k) VALUES ($1)").bind(k)).await?;
                match end {
                    "commit" => Ok(Finish::Commit(1)),
                    "rollback" => Ok(Finish::Rollback(0)),
                    _ => Err(StoreError::Conflict("refused".into())),
                }
            })
        })
        .await
    }

    fn keys(e: &Engine) -> Vec<i64> {
        let rows = e.read(|c| c.fetch_all_now(query("SELECT k FROM t ORDER BY k"))).unwrap();
        rows.iter().map(|r| r.at::<i64>(0).unwrap()).collect()
    }

    /// A new database gets 2 KiB pages; an existing one keeps the page size it was made with.
    #[tokio::test]
    async fn new_databases_use_2_kib_pages_and_existing_ones_keep_theirs() {
        let page_size =
            |e: &Engine| e.read(|c| c.fetch_optional_now(query("PRAGMA page_size"))).unwrap().unwrap().at::<i64>(0).unwrap();
        let (e, dir) = engine("pages");
        create_table(&e).await;
        assert_eq!(page_size(&e), 2048);
        e.close().await.unwrap();

        let old = dir.join("old.db");
        let c = rusqlite::Connection::open(&old).unwrap();
        c.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t VALUES (7);")
            .unwrap();
        drop(c);
        let e = Engine::open(&old).unwrap();
        assert_eq!(page_size(&e), 4096);
        assert_eq!(keys(&e), vec![7]);
        e.close().await.unwrap();
    }

    #[tokio::test]
    async fn queued_transactions_share_one_commit_and_each_rolls_back_alone() {
        let (e, dir) = engine("batch");
        e.write(|c| {
            Box::pin(async move { c.execute_script("CREATE TABLE t (k INTEGER PRIMARY KEY)").await.map(Finish::Commit) })
        })
        .await
        .unwrap();
        // Hold the writer inside a transaction until 30 more are queued behind it.
        const HELD: std::time::Duration = std::time::Duration::from_millis(50);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (running, is_running) = oneshot::channel();
        let held = e.write(move |_| {
            let _ = running.send(());
            let _ = hold.recv();
            Box::pin(async { Ok(Finish::Commit(())) })
        });
        let before = e.stats().commits.load(Ordering::Relaxed);
        let waited_before = e.stats().queue_wait_ns.load(Ordering::Relaxed);
        let queued = async {
            let ends = ["commit", "rollback", "error"];
            let ops = (0..30).map(|k| insert(&e, k, ends[k as usize % 3]));
            let behind = async {
                // Once the writer is inside the held transaction, one poll queues all 30;
                // the held transaction is released 50 ms later.
                is_running.await.unwrap();
                let mut all = std::pin::pin!(futures_join(ops.collect()));
                assert!(std::future::poll_fn(|cx| Poll::Ready(std::future::Future::poll(all.as_mut(), cx).is_pending())).await);
                tokio::time::sleep(HELD).await;
                release.send(()).unwrap();
                all.await
            };
            let (first, rest) = tokio::join!(held, behind);
            first.unwrap();
            rest
        };
        let answers = queued.await;
        for (k, a) in answers.iter().enumerate() {
            match k % 3 {
                0 => assert_eq!(a, &Ok(1), "key {k} committed"),
                1 => assert_eq!(a, &Ok(0), "key {k} rolled back"),
                _ => assert_eq!(a, &Err(StoreError::Conflict("refused".into())), "key {k} failed"),
            }
        }
        // The held transaction and the 30 queued behind it: at most two commits, not 31.
        let commits = e.stats().commits.load(Ordering::Relaxed) - before;
        assert!(commits <= 2, "{commits} commits");
        // Each of the 30 waited in the queue at least as long as the writer was held.
        let waited = std::time::Duration::from_nanos(e.stats().queue_wait_ns.load(Ordering::Relaxed) - waited_before);
        assert!(waited >= HELD * 30, "queue wait {waited:?}");
        assert_eq!(keys(&e), (0..30).filter(|k| k % 3 == 0).collect::<Vec<_>>());
        // A unique violation inside the batch undoes only its own transaction.
        assert_eq!(insert(&e, 0, "commit").await.map_err(|e| matches!(e, StoreError::Conflict(_))), Err(true));
        assert_eq!(insert(&e, 100, "commit").await, Ok(1));
        // A panicking transaction is rolled back alone and the writer keeps serving.
        let panicked = e
            .write(|c| {
                Box::pin(async move {
                    c.execute(query("INSERT INTO t (k) VALUES (200)")).await?;
                    panic!("a bug inside a write transaction");
                    #[allow(unreachable_code)]
                    Ok(Finish::Commit(()))
                })
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Unavailable(_))), "{panicked:?}");
        assert_eq!(insert(&e, 201, "commit").await, Ok(1));
        assert!(!keys(&e).contains(&200) && keys(&e).contains(&201));
        e.close().await.unwrap();
        assert!(matches!(insert(&e, 101, "commit").await, Err(StoreError::Unavailable(_))), "closed store refuses writes");
        assert!(e.read(|c| c.fetch_all_now(query("SELECT k FROM t"))).is_err(), "and reads");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Awaits every future, in order (the writer must see them all queued at once).
    async fn futures_join<T>(futs: Vec<impl std::future::Future<Output = T>>) -> Vec<T> {
        let mut pinned: Vec<_> = futs.into_iter().map(Box::pin).collect();
        let mut out: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
                if slot.is_none() {
                    match f.as_mut().poll(cx) {
                        Poll::Ready(v) => *slot = Some(v),
                        Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        out.into_iter().map(|v| v.unwrap()).collect()
    }
}
