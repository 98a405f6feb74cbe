//! Store adapters. One implementation of the `tessera_core::store` ports ([`sql::SqlStore`],
//! [`protocol`]) runs on both databases, because the statements are the same SQL on both
//! (conditional `UPDATE ... RETURNING`, `INSERT ... ON CONFLICT`). It is written against the
//! small layer in [`db`]; what differs — the engine under it (rusqlite with group commit,
//! sqlx's PostgreSQL pool), pragmas, migrations — lives in [`sqlite`] and [`postgres`].
//! Keeping one statement list means the two backends cannot drift apart; the shared
//! contract suite (`tests/it/store_contract.rs`) runs it against both.

pub mod credentials;
pub mod db;
pub mod email;
pub mod housekeeping;
pub mod issuers;
pub mod jobs;
pub mod migrations;
pub mod par_device;
pub mod pg_hosts;
pub mod postgres;
pub mod protocol;
pub mod registration;
pub mod revocations;
pub mod sql;
pub mod sqlite;
pub mod sqlite_files;

use std::path::Path;
use std::sync::Arc;

use tessera_core::store::Store;

pub use sql::SqlStore;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(format!("database url must start with postgres://, postgresql:// or sqlite:, got {:?}", redact_url(url)))
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A URL with any password replaced, for messages and logs. Done on the text, so that a
/// URL the `url` crate does not parse (several PostgreSQL hosts) is redacted too.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// Opens the store a URL names (without migrating), with the default deadlines.
pub async fn connect(url: &str) -> Result<SqlStore, String> {
    connect_with(url, postgres::Timeouts::default()).await
}

/// Opens the store a URL names (without migrating); `timeouts` bound PostgreSQL work.
pub async fn connect_with(url: &str, timeouts: postgres::Timeouts) -> Result<SqlStore, String> {
    sqlx::any::install_default_drivers();
    match Backend::from_url(url)? {
        Backend::Sqlite => sqlite::connect(url).await,
        Backend::Postgres => postgres::connect(url, timeouts).await,
    }
}

/// The default embedded database inside the data directory.
pub fn sqlite_url_for(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("tessera.db").display())
}

/// Connects and applies pending migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, String> {
    let store = connect(url).await?;
    migrations::run(&store).await?;
    Ok(Arc::new(store))
}
