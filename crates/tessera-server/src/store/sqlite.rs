//! SQLite: the embedded default. WAL so readers never block the writer;
//! `synchronous=FULL` so a consumed code or a rotated refresh token survives power loss
//! (DESIGN decision 1); one writer connection so writes never fight for the lock; a busy
//! timeout for anything else that holds it (a CLI command against a running server).

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Executor};

use super::{Backend, SqlStore};

const PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

pub async fn connect(url: &str) -> Result<SqlStore, String> {
    refuse_invalid_sqlite_file(url).await?;
    // Validate the URL with the SQLite driver's own parser, and create the file if missing.
    let opts =
        SqliteConnectOptions::from_str(url).map_err(|e| format!("invalid sqlite url {url:?}: {e}"))?.create_if_missing(true);
    let url = opts.to_url_lossy().to_string();
    let pool = |max: u32| {
        AnyPoolOptions::new().max_connections(max).min_connections(1).acquire_timeout(Duration::from_secs(10)).after_connect(
            |conn, _| {
                Box::pin(async move {
                    conn.execute(PRAGMAS).await?;
                    Ok(())
                })
            },
        )
    };
    let explain = |e: sqlx::Error| {
        let msg = e.to_string();
        if msg.contains("not a database") || msg.contains("malformed") {
            format!("the SQLite file at {url} is not a valid Tessera database (corrupt or not SQLite): {msg}")
        } else {
            format!("cannot open the SQLite database at {url}: {msg}")
        }
    };
    let writer = pool(1).connect(&url).await.map_err(explain)?;
    // Touch the schema so a corrupt file is found now, before anything writes.
    sqlx::query("SELECT count(*) FROM sqlite_master").fetch_one(&writer).await.map_err(explain)?;
    let reader = pool(8).connect(&url).await.map_err(explain)?;
    Ok(SqlStore::new(Backend::Sqlite, reader, writer))
}

/// Refuses an existing SQLite file that is not a readable database, with a message saying
/// so, before a pool is opened on it: a pool retries a failing connection until its
/// acquire timeout and then reports only that it timed out. Read-only, so nothing is
/// written to a file that may be someone's data.
async fn refuse_invalid_sqlite_file(url: &str) -> Result<(), String> {
    use std::str::FromStr;

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    let Ok(opts) = SqliteConnectOptions::from_str(url) else { return Ok(()) }; // connect() reports it
    let path = opts.get_filename().to_path_buf();
    if !path.is_file() {
        return Ok(());
    }
    let invalid = |e: sqlx::Error| {
        let msg = e.to_string();
        (msg.contains("not a database") || msg.contains("malformed")).then(|| {
            format!(
                "the SQLite file at {} is not a valid Tessera database (corrupt or not SQLite); refusing to start: {msg}",
                path.display()
            )
        })
    };
    let mut conn = match opts.read_only(true).connect().await {
        Ok(c) => c,
        Err(e) => return invalid(e).map_or(Ok(()), Err),
    };
    let probe = sqlx::query("SELECT count(*) FROM sqlite_master").fetch_one(&mut conn).await;
    let _ = conn.close().await;
    match probe {
        Err(e) => invalid(e).map_or(Ok(()), Err),
        Ok(_) => Ok(()),
    }
}
