//! `tessera backup FILE`: a consistent online copy of the SQLite database (the server may
//! keep running). Restore by stopping the server and putting the file in place of
//! `<data_dir>/tessera.db` (with the same master key). PostgreSQL has its own tools.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::output::Output;
use crate::bootstrap::Deployment;
use crate::store::{self, Backend};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new file to write (it must not exist yet).
    pub file: PathBuf,
}

pub async fn run(d: &Deployment, out: &Output, args: BackupArgs) -> Result<(), String> {
    let url = d.config.database_url();
    if Backend::from_url(&url)? == Backend::Postgres {
        return Err(
            "tessera backup copies a SQLite database; back up PostgreSQL with its own tools (pg_dump, pg_basebackup)".into()
        );
    }
    let path = store::sqlite::path_of(&url)?;
    let bytes = store::sqlite_files::backup(&path, &args.file)?;
    out.show(&json!({"backup": args.file.display().to_string(), "bytes": bytes}), || {
        format!(
            "wrote {} ({bytes} bytes), a consistent copy of {}; keep it with the master key",
            args.file.display(),
            path.display()
        )
    });
    Ok(())
}
