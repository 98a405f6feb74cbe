//! `tessera tenant show|set`: tenant-wide settings.

use clap::Subcommand;
use serde_json::json;

use super::output::{fail, Output};
use crate::bootstrap::Deployment;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Show the tenant settings.
    Show,
    /// Change tenant settings.
    Set {
        /// The API a client_credentials request without `audience` gets (Auth0's "Default
        /// Audience"); an empty value clears it.
        #[arg(long)]
        default_audience: Option<String>,
    },
}

pub async fn run(d: &Deployment, out: &Output, cmd: TenantCommand) -> Result<(), String> {
    let r = &d.registry;
    if let TenantCommand::Set { default_audience: Some(aud) } = &cmd {
        r.set_default_audience(Some(aud.as_str()).filter(|a| !a.is_empty())).await.map_err(fail)?;
    }
    let aud = r.default_audience().await.map_err(fail)?;
    out.show(&json!({"default_audience": aud}), || format!("default_audience: {}", aud.as_deref().unwrap_or("-")));
    Ok(())
}
