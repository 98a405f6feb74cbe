//! `tessera keys list|rotate|revoke`.

use clap::Subcommand;
use serde_json::json;
use tessera_core::model::SigningAlg;

use super::backend::{key_state, Backend};
use super::clients::parse_alg;
use super::output::Output;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys (Auth0's shape) with their state (current, next, retired, revoked).
    List,
    /// Promote the pre-published next key, retire the current one, publish a new next key.
    /// With --url, the Management API rotates every algorithm in use (Auth0's rotation).
    Rotate {
        /// Algorithm to rotate (default RS256).
        #[arg(long, value_parser = parse_alg, default_value = "RS256")]
        alg: SigningAlg,
    },
    /// Withdraw a key immediately (e.g. after a compromise); tokens it signed stop verifying.
    Revoke {
        /// The key id. A kid is a base64url thumbprint and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

pub async fn run(b: &Backend, out: &Output, cmd: KeysCommand) -> Result<(), String> {
    match cmd {
        KeysCommand::List => {
            let keys = b.list_keys().await?;
            out.show(&keys, || {
                keys.iter()
                    .map(|k| {
                        let s = |f: &str| k[f].as_str().unwrap_or("-").to_string();
                        format!("{}  {:<6} {:<8} current since {}", s("kid"), s("alg"), key_state(k), s("current_since"))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        KeysCommand::Rotate { alg } => {
            let kid = b.rotate_keys(alg).await?;
            out.show(&json!({"alg": alg.as_str(), "current": kid}), || format!("{alg} now signs with {kid}"));
        }
        KeysCommand::Revoke { kid } => {
            let was = b.revoke_key(&kid).await?;
            out.show(&json!({"kid": kid, "revoked": true, "was": was}), || format!("revoked {kid} (was {was})"));
        }
    }
    Ok(())
}
