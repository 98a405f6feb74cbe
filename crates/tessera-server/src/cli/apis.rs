//! `tessera apis create|list|show|update|delete`.

use clap::{Args, Subcommand};
use serde_json::Value;
use tessera_core::model::{ApiScope, ResourceServerPatch, SigningAlg};

use super::backend::Backend;
use super::clients::parse_alg;
use super::output::{split_list, Output};

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

/// The API document (Auth0's shape, `ResourceServer::auth0_json`) as text.
fn human(a: &Value) -> String {
    let scopes: Vec<&str> =
        a["scopes"].as_array().map(|s| s.iter().filter_map(|s| s["value"].as_str()).collect()).unwrap_or_default();
    format!(
        "id:                   {}\nidentifier:           {}\nname:                 {}\nscopes:               {}\nsigning_alg:          {}\ntoken_lifetime:       {}\nallow_offline_access: {}",
        a["id"].as_str().unwrap_or_default(),
        a["identifier"].as_str().unwrap_or_default(),
        a["name"].as_str().unwrap_or_default(),
        scopes.join(" "),
        a["signing_alg"].as_str().unwrap_or_default(),
        a["token_lifetime"],
        a["allow_offline_access"]
    )
}

pub async fn run(b: &Backend, out: &Output, cmd: ApisCommand) -> Result<(), String> {
    match cmd {
        ApisCommand::Create(CreateArgs { identifier, fields }) => {
            let api = b.create_api(fields.into_patch(Some(identifier))).await?;
            out.show(&api, || human(&api));
        }
        ApisCommand::List => {
            let apis = b.list_apis().await?;
            out.show(&apis, || {
                apis.iter()
                    .map(|a| {
                        let s = |f: &str| a[f].as_str().unwrap_or_default().to_string();
                        format!("{}  {:<6} {}", s("id"), s("signing_alg"), s("identifier"))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ApisCommand::Show { api } => {
            let a = b.get_api(&api).await?;
            out.show(&a, || human(&a));
        }
        ApisCommand::Update { api, fields } => {
            let a = b.update_api(&api, fields.into_patch(None)).await?;
            out.show(&a, || human(&a));
        }
        ApisCommand::Delete { api } => {
            b.delete_api(&api).await?;
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
