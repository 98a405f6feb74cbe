//! Opening a deployment: data directory, database, master key, migrations, signing keys.
//! Shared by `tessera serve` and every CLI command, so both see the same store the same way.
//!
//! Order matters for "fail closed without touching data": the database is opened and a
//! corrupt file refused, then the master key is checked against the value recorded at
//! first start, and only then are migrations applied and keys generated.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use tessera_core::clock::Clock;
use tessera_core::crypto::{Keyring, MasterKey};
use tessera_core::registry::Registry;
use tessera_core::store::Store;

use crate::config::Config;
use crate::store::{self, Backend, SqlStore};

const MASTER_KEY_CHECK: &str = "master_key_check";

/// Everything a command needs to act on a deployment's store.
#[derive(Clone)]
pub struct Deployment {
    pub config: Config,
    pub sql: SqlStore,
    pub store: Arc<dyn Store>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    pub registry: Registry,
}

impl Deployment {
    pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let url = config.database_url();
        let backend = Backend::from_url(&url)?;
        if backend == Backend::Sqlite || config.master_key.is_none() {
            create_private_dir(config.data_dir())?;
        }
        if backend == Backend::Sqlite && !config.new_deployment {
            refuse_lost_sqlite_file(config, &url)?;
        }
        let sql = connect_waiting(config, &url, backend).await?;
        let recorded_check = sql_setting(&sql, MASTER_KEY_CHECK).await;
        let master = resolve_master_key(config, recorded_check.is_some())?;
        let keyring = Arc::new(Keyring::new(&master));
        if let Some(check) = &recorded_check {
            if !keyring.verify_check_value(check) {
                return Err(format!(
                    "the master key does not match the one this database was initialised with; refusing to start \
                     (check TESSERA_MASTER_KEY / master_key, or restore {})",
                    config.master_key_file().display()
                ));
            }
        }
        store::migrations::run(&sql).await?;
        let store: Arc<dyn Store> = Arc::new(sql.clone());
        let stored = store
            .init_setting(MASTER_KEY_CHECK, &keyring.check_value())
            .await
            .map_err(|e| format!("cannot record the master key check: {e}"))?;
        if !keyring.verify_check_value(&stored) {
            return Err("the master key does not match the one this database was initialised with; refusing to start".into());
        }
        let registry = Registry::new(store.clone(), clock.clone(), keyring.clone());
        let algs = registry.algorithms_in_use().await.map_err(|e| format!("cannot read the registry: {e:?}"))?;
        registry.ensure_signing_keys(&algs).await.map_err(|e| format!("cannot create signing keys: {e:?}"))?;
        Ok(Self { config: config.clone(), sql, store, keyring, clock, registry })
    }

    pub async fn close(&self) {
        self.sql.close().await;
    }
}

/// Connects; a PostgreSQL server that cannot be reached yet (a node started during an
/// outage, or before the database in a fresh cluster) is retried with backoff for up to
/// `database.start_timeout` seconds, saying so in the log, before the start fails.
async fn connect_waiting(config: &Config, url: &str, backend: Backend) -> Result<SqlStore, String> {
    use std::time::{Duration, Instant};
    let wait = Duration::from_secs(config.database.start_timeout);
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(250);
    loop {
        let e = match store::connect_with(url, config.database.timeouts()).await {
            Ok(sql) => return Ok(sql),
            Err(e) => e,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if backend != Backend::Postgres || wait.is_zero() {
            return Err(e);
        }
        if left.is_zero() {
            return Err(format!("{e} (gave up after database.start_timeout = {} s)", wait.as_secs()));
        }
        tracing::warn!(
            error = %e,
            retry_in_ms = delay.as_millis() as u64,
            gives_up_in_s = left.as_secs(),
            "waiting for the database: it cannot be reached yet; retrying"
        );
        tokio::time::sleep(delay.min(left)).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// A master key file without its database (missing, or emptied to 0 bytes) means the
/// deployment's data is gone: opening it would silently make a new, empty deployment (every
/// client then gets 401). Refused unless the operator asks for a new one.
fn refuse_lost_sqlite_file(config: &Config, url: &str) -> Result<(), String> {
    let key = config.master_key_file();
    if !key.is_file() {
        return Ok(());
    }
    let db = store::sqlite::path_of(url)?;
    let what = match std::fs::metadata(&db) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist",
        Ok(m) if m.len() == 0 => "is empty (0 bytes)",
        _ => return Ok(()),
    };
    Err(format!(
        "the SQLite database {} {what}, but the master key file {} of a deployment is there: its data is missing; \
         refusing to start. Restore the database from a backup (tessera backup), or start a new, empty deployment \
         with --new-deployment",
        db.display(),
        key.display()
    ))
}

/// Which deployment `config` names, for the line each CLI command prints first:
/// `sqlite /absolute/path/tessera.db`, or `postgres host:port/dbname` (every host of a host
/// list; never the user or password). A relative `--data-dir` or another working directory
/// names another deployment, and this line shows which one a command acts on.
pub fn describe(config: &Config) -> Result<String, String> {
    let url = config.database_url();
    match Backend::from_url(&url)? {
        Backend::Sqlite => Ok(format!("sqlite {}", sqlite_file(&url)?.display())),
        Backend::Postgres => {
            let hosts = store::pg_hosts::parse(&url)?;
            let rest = url.split_once("://").map_or("", |(_, r)| r);
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            let db = path.split('?').next().unwrap_or_default();
            Ok(format!("postgres {}{db}", hosts.names.join(",")))
        }
    }
}

/// The absolute path of the SQLite file a `sqlite:` URL names.
fn sqlite_file(url: &str) -> Result<std::path::PathBuf, String> {
    let db = store::sqlite::path_of(url)?;
    std::path::absolute(&db).map_err(|e| format!("cannot resolve the path {}: {e}", db.display()))
}

/// For commands that act on a deployment that must already exist (list, show, update,
/// delete, backup, ...): on SQLite, a database file that is not there is refused before
/// anything is created, instead of silently opening a new, empty deployment (what a
/// relative `--data-dir` run from another directory used to do). A missing file next to a
/// master key is the lost-database case and gets that message. `--new-deployment` asks
/// for a new one anyway. PostgreSQL databases are created by their operator, not by
/// Tessera, so there is nothing to refuse there.
pub fn require_existing(config: &Config) -> Result<(), String> {
    let url = config.database_url();
    if Backend::from_url(&url)? != Backend::Sqlite || config.new_deployment {
        return Ok(());
    }
    refuse_lost_sqlite_file(config, &url)?;
    let db = sqlite_file(&url)?;
    match std::fs::metadata(&db) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "no deployment at {}: the database does not exist; run `tessera migrate` or `tessera serve` to create one, \
             or pass the --data-dir (or --database-url) of an existing deployment",
            db.display()
        )),
        _ => Ok(()),
    }
}

/// Reads a tenant setting from a database that may not have been migrated yet.
async fn sql_setting(sql: &SqlStore, key: &str) -> Option<String> {
    use tessera_core::store::SettingsStore;
    sql.get_setting(key).await.ok().flatten()
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))
}

/// The master key from config/env, else the key file; a new key file is created only for
/// a database that has never had a key (creating one for an initialised database would
/// make its keys unreadable).
fn resolve_master_key(config: &Config, database_initialised: bool) -> Result<MasterKey, String> {
    if let Some(k) = &config.master_key {
        return MasterKey::from_base64(k).map_err(|e| format!("master_key: {e}"));
    }
    let path = config.master_key_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_base64(&text).map_err(|e| format!("master key file {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if database_initialised {
                return Err(format!(
                    "the database was initialised with a master key, but {} does not exist and TESSERA_MASTER_KEY is not set; \
                     refusing to start",
                    path.display()
                ));
            }
            let key = MasterKey::generate();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&path).map_err(|e| format!("cannot create master key file {}: {e}", path.display()))?;
            f.write_all(format!("{}\n", key.to_base64()).as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| format!("cannot write master key file {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "created a new master key file; back it up with the database");
            Ok(key)
        }
        Err(e) => Err(format!("cannot read master key file {}: {e}", path.display())),
    }
}
