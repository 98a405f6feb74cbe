//! `tessera registration token create|list|delete`: initial access tokens for dynamic
//! client registration (RFC 7591 §3) when `registration.mode = "token"`. The token value is
//! shown once, at creation; only its keyed hash is stored.

use clap::Subcommand;
use serde_json::json;

use super::output::{fail, Output};
use crate::bootstrap::Deployment;

#[derive(Debug, Subcommand)]
pub enum RegistrationCommand {
    /// Initial access tokens for POST /oidc/register.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token; prints its value once.
    Create {
        /// Seconds the token stays valid (default: until deleted).
        #[arg(long)]
        expires_in: Option<i64>,
        /// Registrations it allows (default: any number).
        #[arg(long)]
        uses: Option<i64>,
    },
    List,
    Delete {
        id: String,
    },
}

pub async fn run(d: &Deployment, out: &Output, cmd: RegistrationCommand) -> Result<(), String> {
    let r = &d.registry;
    let RegistrationCommand::Token(cmd) = cmd;
    match cmd {
        TokenCommand::Create { expires_in, uses } => {
            let (t, plain) = r.create_registration_token(expires_in, uses).await.map_err(fail)?;
            let v = json!({"id": t.id, "token": plain, "expires_at": t.expires_at, "remaining_uses": t.remaining_uses});
            out.show(&v, || format!("id:    {}\ntoken: {plain}", t.id));
        }
        TokenCommand::List => {
            let all = r.list_registration_tokens().await.map_err(fail)?;
            let v: Vec<_> = all
                .iter()
                .map(|t| json!({"id": t.id, "created_at": t.created_at, "expires_at": t.expires_at, "remaining_uses": t.remaining_uses}))
                .collect();
            out.show(&v, || {
                all.iter()
                    .map(|t| {
                        let uses = t.remaining_uses.map_or("unlimited".to_string(), |u| u.to_string());
                        let exp = t.expires_at.map_or("never".to_string(), |e| e.to_string());
                        format!("{}  uses left: {uses}  expires: {exp}", t.id)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        TokenCommand::Delete { id } => {
            r.delete_registration_token(&id).await.map_err(fail)?;
            out.message(&format!("deleted registration token {id}"));
        }
    }
    Ok(())
}
