//! `tessera keys list|rotate|revoke`.

use clap::Subcommand;
use serde_json::json;
use tessera_core::model::{rfc3339, SigningAlg};
use tessera_core::tokens::SigningKeyRecord;

use super::clients::parse_alg;
use super::output::{fail, Output};
use crate::bootstrap::Deployment;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their state (current, next, retired, revoked).
    List,
    /// Promote the pre-published next key, retire the current one, publish a new next key.
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

fn key_json(k: &SigningKeyRecord) -> serde_json::Value {
    json!({
        "kid": k.kid,
        "alg": k.alg.as_str(),
        "state": k.state.as_str(),
        "created_at": rfc3339(k.created_at),
        "activated_at": k.activated_at.map(rfc3339),
        "retired_at": k.retired_at.map(rfc3339),
        "published_until": k.publish_until.map(rfc3339),
    })
}

pub async fn run(d: &Deployment, out: &Output, cmd: KeysCommand) -> Result<(), String> {
    let r = &d.registry;
    match cmd {
        KeysCommand::List => {
            let keys = r.list_keys().await.map_err(fail)?;
            let v: Vec<_> = keys.iter().map(key_json).collect();
            out.show(&v, || {
                keys.iter()
                    .map(|k| format!("{}  {:<6} {:<8} created {}", k.kid, k.alg, k.state.as_str(), rfc3339(k.created_at)))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        KeysCommand::Rotate { alg } => {
            let kid = r.rotate_keys(alg).await.map_err(fail)?;
            out.show(&json!({"alg": alg.as_str(), "current": kid}), || format!("{alg} now signs with {kid}"));
        }
        KeysCommand::Revoke { kid } => {
            let was = r.revoke_key(&kid).await.map_err(fail)?;
            out.show(&json!({"kid": kid, "revoked": true, "was": was.as_str()}), || {
                format!("revoked {kid} (was {})", was.as_str())
            });
        }
    }
    Ok(())
}
