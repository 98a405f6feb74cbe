//! `tessera tenant show|set`: tenant-wide settings (and the database connection's
//! `disable_signup`, Auth0's connection option: Tessera has the one connection).

use clap::Subcommand;
use serde_json::json;

use super::backend::Backend;
use super::output::Output;

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
        /// Turn self-service sign-up (`/dbconnections/signup`, the hosted sign-up screen)
        /// off or on: Auth0's `disable_signup` of the database connection.
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
        disable_signup: Option<bool>,
    },
}

pub async fn run(b: &Backend, out: &Output, cmd: TenantCommand) -> Result<(), String> {
    if let TenantCommand::Set { default_audience, disable_signup } = &cmd {
        if let Some(aud) = default_audience {
            b.set_default_audience(aud).await?;
        }
        if let Some(off) = disable_signup {
            b.set_signup_disabled(*off).await?;
        }
    }
    let (aud, disabled) = b.tenant().await?;
    out.show(&json!({"default_audience": aud, "disable_signup": disabled}), || {
        format!("default_audience: {}\ndisable_signup: {disabled}", aud.as_deref().unwrap_or("-"))
    });
    Ok(())
}
