//! `tessera admin bootstrap`: the first credentials for the Management API.

use clap::Subcommand;
use serde_json::json;

use super::output::{fail, Output};
use crate::bootstrap::Deployment;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create (once) the Management API for this issuer and a machine-to-machine client
    /// granted every management scope, and print its credentials. Running it again finds the
    /// same client; its secret is printed only when it is created (or with --rotate-secret).
    Bootstrap {
        /// The issuer the server runs under (default: the configured issuer, else the
        /// listen address); the Management API's audience is `{issuer}api/v2/`.
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        /// Issue a new secret for an existing bootstrap client (the old one stops working).
        #[arg(long)]
        rotate_secret: bool,
    },
}

pub async fn run(d: &Deployment, out: &Output, cmd: AdminCommand) -> Result<(), String> {
    let AdminCommand::Bootstrap { issuer, rotate_secret } = cmd;
    let issuer = match issuer {
        Some(i) => i,
        None => d.config.default_issuer()?,
    };
    let issuer = if issuer.ends_with('/') { issuer } else { format!("{issuer}/") };
    let r = &d.registry;
    let mut b = r.bootstrap_management_client(&issuer).await.map_err(fail)?;
    if rotate_secret && !b.created {
        b.client_secret = Some(r.rotate_client_secret(&b.client_id, 0).await.map_err(fail)?);
    }
    let value = json!({
        "client_id": b.client_id,
        "client_secret": b.client_secret,
        "audience": b.audience,
        "token_endpoint": tessera_core::routes::url(&issuer, tessera_core::routes::TOKEN),
        "created": b.created,
    });
    out.show(&value, || {
        let mut s = format!("client_id:     {}\naudience:      {}\n", b.client_id, b.audience);
        match &b.client_secret {
            Some(secret) => s.push_str(&format!("client_secret: {secret}\n(the secret is shown only now; store it safely)")),
            None => s.push_str("client_secret: (shown when it was created; use --rotate-secret for a new one)"),
        }
        s
    });
    Ok(())
}
