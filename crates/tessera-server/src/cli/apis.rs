//! `tessera apis create|list|show|update|delete`.

use clap::{Args, Subcommand};
use tessera_core::model::{ApiScope, ResourceServer, ResourceServerPatch, SigningAlg};

use super::clients::parse_alg;
use super::output::{fail, split_list, Output};
use crate::bootstrap::Deployment;

#[derive(Debug, Subcommand)]
pub enum ApisCommand {
    /// Register an API; `--identifier` is the `audience` clients will ask for.
    Create(CreateArgs),
    List,
    /// Show one API, by id or identifier.
    Show {
        api: String,
    },
    /// Change an API (by id or identifier); only the flags given change.
    Update {
        api: String,
        #[command(flatten)]
        fields: ApiFields,
    },
    /// Delete an API and the client grants that name it.
    Delete {
        api: String,
    },
}

/// `apis create`: the identifier is required, and fixed once created (so `update` has no
/// such option).
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The audience value, e.g. https://api.example.com (cannot change later).
    #[arg(long)]
    pub identifier: String,
    #[command(flatten)]
    pub fields: ApiFields,
}

/// The settings `create` and `update` share; on update only the flags given change.
#[derive(Debug, Args)]
pub struct ApiFields {
    /// Display name (default: the identifier).
    #[arg(long)]
    pub name: Option<String>,
    /// A scope the API defines, as `value` or `value=description` (scope values often hold
    /// colons: `read:things=Read things`); repeat or comma-separate. On update, replaces the
    /// whole list.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// RS256 (default) | PS256 | ES256 | EdDSA.
    #[arg(long, value_parser = parse_alg)]
    pub signing_alg: Option<SigningAlg>,
    /// Access token lifetime in seconds (default 86400, at most 2592000).
    #[arg(long)]
    pub token_lifetime: Option<i64>,
    /// Whether refresh tokens may be issued for this API (offline_access).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
    pub allow_offline_access: Option<bool>,
    /// Require DPoP-bound tokens for this API (RFC 9449).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
    pub require_dpop: Option<bool>,
}

/// Scope values commonly contain colons (`read:messages`), so the description separator is
/// `=`: `read:messages=Read your messages`, as the option's help says.
fn parse_scope(s: &str) -> ApiScope {
    match s.split_once('=') {
        Some((v, d)) => ApiScope { value: v.trim().to_string(), description: d.trim().to_string() },
        None => ApiScope { value: s.trim().to_string(), description: String::new() },
    }
}

impl ApiFields {
    fn into_patch(self, identifier: Option<String>) -> ResourceServerPatch {
        let scopes = split_list(&self.scopes);
        ResourceServerPatch {
            identifier,
            name: self.name,
            scopes: (!scopes.is_empty()).then(|| scopes.iter().map(|s| parse_scope(s)).collect()),
            signing_alg: self.signing_alg,
            token_lifetime: self.token_lifetime,
            allow_offline_access: self.allow_offline_access,
            require_dpop: self.require_dpop,
        }
    }
}

fn human(a: &ResourceServer) -> String {
    format!(
        "id:                   {}\nidentifier:           {}\nname:                 {}\nscopes:               {}\nsigning_alg:          {}\ntoken_lifetime:       {}\nallow_offline_access: {}",
        a.id,
        a.identifier,
        a.name,
        a.scopes.iter().map(|s| s.value.as_str()).collect::<Vec<_>>().join(" "),
        a.signing_alg,
        a.token_lifetime,
        a.allow_offline_access
    )
}

pub async fn run(d: &Deployment, out: &Output, cmd: ApisCommand) -> Result<(), String> {
    let r = &d.registry;
    match cmd {
        ApisCommand::Create(CreateArgs { identifier, fields }) => {
            let api = r.create_api(fields.into_patch(Some(identifier))).await.map_err(fail)?;
            out.show(&api, || human(&api));
        }
        ApisCommand::List => {
            let apis = r.list_apis().await.map_err(fail)?;
            out.show(&apis, || {
                apis.iter().map(|a| format!("{}  {:<6} {}", a.id, a.signing_alg, a.identifier)).collect::<Vec<_>>().join("\n")
            });
        }
        ApisCommand::Show { api } => {
            let a = r.get_api(&api).await.map_err(fail)?;
            out.show(&a, || human(&a));
        }
        ApisCommand::Update { api, fields } => {
            let a = r.update_api(&api, fields.into_patch(None)).await.map_err(fail)?;
            out.show(&a, || human(&a));
        }
        ApisCommand::Delete { api } => {
            r.delete_api(&api).await.map_err(fail)?;
            out.message(&format!("deleted API {api}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn scope_flags_split_value_and_description() {
        let s = super::parse_scope("read:messages=Read your messages");
        assert_eq!((s.value.as_str(), s.description.as_str()), ("read:messages", "Read your messages"));
        let s = super::parse_scope("write:messages");
        assert_eq!((s.value.as_str(), s.description.as_str()), ("write:messages", ""));
    }
}
