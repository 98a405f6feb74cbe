//! `tessera registration token create|list|delete`: initial access tokens for dynamic
//! client registration (RFC 7591 §3) when `registration.mode = "token"`. The token value is
//! shown once, at creation; only its keyed hash is stored.

use super::backend::Backend;
use super::output::Output;
use clap::Subcommand;

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

pub async fn run(b: &Backend, out: &Output, cmd: RegistrationCommand) -> Result<(), String> {
    let RegistrationCommand::Token(cmd) = cmd;
    match cmd {
        TokenCommand::Create { expires_in, uses } => {
            let t = b.create_registration_token(expires_in, uses).await?;
            out.show(&t, || {
                format!("id:    {}\ntoken: {}", t["id"].as_str().unwrap_or_default(), t["token"].as_str().unwrap_or_default())
            });
        }
        TokenCommand::List => {
            let all = b.list_registration_tokens().await?;
            out.show(&all, || {
                all.iter()
                    .map(|t| {
                        let uses = t["remaining_uses"].as_i64().map_or("unlimited".to_string(), |u| u.to_string());
                        let exp = t["expires_at"].as_str().unwrap_or("never");
                        format!("{}  uses left: {uses}  expires: {exp}", t["id"].as_str().unwrap_or_default())
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        TokenCommand::Delete { id } => {
            b.delete_registration_token(&id).await?;
            out.message(&format!("deleted registration token {id}"));
        }
    }
    Ok(())
}
