//! `tessera clients create|list|show|update|delete|rotate-secret`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tessera_core::model::{AppType, ClientPatch, RotationType, SigningAlg, TokenEndpointAuthMethod, TokenExchangePolicy};

use super::backend::Backend;
use super::output::{split_list, Output};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register an application; prints its client_id (and client_secret, shown once).
    Create(CreateArgs),
    /// List applications.
    List,
    /// Show one application.
    Show { client_id: String },
    /// Change an application; only the flags given change.
    Update {
        client_id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: ClientFields,
    },
    /// Delete an application with its secrets and grants.
    Delete { client_id: String },
    /// Issue a new client secret (shown once).
    RotateSecret {
        client_id: String,
        /// Keep the previous secret(s) valid for this many seconds (default 0: end now).
        #[arg(long, default_value_t = 0)]
        overlap: i64,
    },
}

/// `clients create`: the name is required (clap says so in the usage line and refuses a
/// call without it); everything else is shared with `update`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Display name.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub fields: ClientFields,
}

/// The settings `create` and `update` share; on update only the flags given change.
#[derive(Debug, Args, Default)]
pub struct ClientFields {
    /// spa | native | regular_web | non_interactive (default regular_web).
    #[arg(long, value_parser = parse_app_type)]
    pub app_type: Option<AppType>,
    /// client_secret_basic | client_secret_post | client_secret_jwt | private_key_jwt | none.
    #[arg(long = "auth-method", value_parser = parse_auth_method)]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// Allowed grant type; repeat or comma-separate (authorization_code, refresh_token, client_credentials,
    /// urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange,
    /// urn:ietf:params:oauth:grant-type:jwt-bearer).
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// Allowed callback (redirect URI), matched exactly (a native app's `http://127.0.0.1` or `http://[::1]` callback with any port, RFC 8252 §7.3); repeat or comma-separate.
    #[arg(long = "callback", alias = "redirect-uri")]
    pub callbacks: Vec<String>,
    /// Allowed logout URL; repeat or comma-separate.
    #[arg(long = "logout-url")]
    pub logout_urls: Vec<String>,
    /// Allowed web origin (scheme://host[:port]) that `response_mode=web_message` may answer, e.g. a SPA's silent authentication; repeat or comma-separate.
    #[arg(long = "web-origin")]
    pub web_origins: Vec<String>,
    /// Allowed origin (scheme://host[:port]) for cross-origin authentication (Auth0's allowed_origins); repeat or comma-separate.
    #[arg(long = "allowed-origin")]
    pub allowed_origins: Vec<String>,
    /// First-party applications skip the consent screen (default true).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
    pub first_party: Option<bool>,
    /// File holding the client's public JWK Set (for private_key_jwt).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// URL of the client's JWK Set (for private_key_jwt; https), fetched when the client
    /// authenticates and cached; a key id not in the cached set fetches it again (at most
    /// every 30 s), so the client can rotate its keys. Replaces a set given with --jwks-file.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// Refresh token rotation: rotating | non-rotating.
    #[arg(long, value_parser = parse_rotation)]
    pub rotation_type: Option<RotationType>,
    /// Refresh token reuse interval, seconds (0 to 60).
    #[arg(long)]
    pub leeway: Option<i64>,
    /// Refresh token absolute lifetime, seconds.
    #[arg(long)]
    pub refresh_token_lifetime: Option<i64>,
    /// Refresh token idle lifetime, seconds.
    #[arg(long)]
    pub refresh_idle_lifetime: Option<i64>,
    /// ID token signing algorithm: RS256 | PS256 | ES256 | EdDSA.
    #[arg(long, value_parser = parse_alg)]
    pub id_token_alg: Option<SigningAlg>,
    /// Require a DPoP proof on every token request (RFC 9449).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
    pub require_dpop: Option<bool>,
    /// DPoP server nonces for this client: on | off | default (follow the deployment).
    #[arg(long, value_parser = parse_nonce_mode)]
    pub dpop_nonce: Option<NonceMode>,
    /// Accept /authorize only with a request_uri from /oauth/par (RFC 9126).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
    pub require_pushed_authorization_requests: Option<bool>,
    /// Token exchange policy (RFC 8693) as JSON, e.g. '{"audiences":["https://api.b"],"delegation":true}'
    /// (see the README), or `none` to remove it. The grant type must be enabled too.
    #[arg(long, value_name = "JSON", value_parser = parse_exchange_policy)]
    pub token_exchange_policy: Option<ExchangePolicyArg>,
}

/// `--token-exchange-policy` values: a policy, or `none`.
#[derive(Debug, Clone)]
pub struct ExchangePolicyArg(Option<TokenExchangePolicy>);

fn parse_exchange_policy(s: &str) -> Result<ExchangePolicyArg, String> {
    if s == "none" {
        return Ok(ExchangePolicyArg(None));
    }
    TokenExchangePolicy::parse(s).map(|p| ExchangePolicyArg(Some(p))).map_err(|e| e.description().to_string())
}

/// `--dpop-nonce` values.
#[derive(Debug, Clone, Copy)]
pub struct NonceMode(Option<bool>);

fn parse_nonce_mode(s: &str) -> Result<NonceMode, String> {
    match s {
        "on" => Ok(NonceMode(Some(true))),
        "off" => Ok(NonceMode(Some(false))),
        "default" => Ok(NonceMode(None)),
        _ => Err(format!("--dpop-nonce must be on, off or default, not {s:?}")),
    }
}

fn parse_app_type(s: &str) -> Result<AppType, String> {
    AppType::parse(s).map_err(|e| e.description().to_string())
}
fn parse_auth_method(s: &str) -> Result<TokenEndpointAuthMethod, String> {
    TokenEndpointAuthMethod::parse(s).map_err(|e| e.description().to_string())
}
fn parse_rotation(s: &str) -> Result<RotationType, String> {
    RotationType::parse(s).map_err(|e| e.description().to_string())
}
pub(super) fn parse_alg(s: &str) -> Result<SigningAlg, String> {
    SigningAlg::parse(s).map_err(|e| e.description().to_string())
}

fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

impl ClientFields {
    fn into_patch(self, name: Option<String>) -> Result<ClientPatch, String> {
        let jwks = match &self.jwks_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Some(serde_json::from_str::<Value>(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?)
            }
            None => None,
        };
        Ok(ClientPatch {
            name,
            app_type: self.app_type,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            grant_types: non_empty(split_list(&self.grant_types)),
            callbacks: non_empty(split_list(&self.callbacks)),
            allowed_logout_urls: non_empty(split_list(&self.logout_urls)),
            web_origins: non_empty(split_list(&self.web_origins)),
            allowed_origins: non_empty(split_list(&self.allowed_origins)),
            is_first_party: self.first_party,
            jwks,
            jwks_uri: self.jwks_uri,
            private_key_jwt_credentials: None,
            rotation_type: self.rotation_type,
            leeway: self.leeway,
            token_lifetime: self.refresh_token_lifetime,
            idle_token_lifetime: self.refresh_idle_lifetime,
            id_token_signed_response_alg: self.id_token_alg,
            require_dpop: self.require_dpop,
            dpop_nonce: self.dpop_nonce.map(|m| m.0),
            token_exchange_policy: self.token_exchange_policy.map(|p| p.0),
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
        })
    }
}

fn text(v: &Value, field: &str) -> String {
    match &v[field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn words(v: &Value, field: &str) -> String {
    v[field].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

/// The client document (Auth0's shape, [`Client::auth0_json`]) as text; with the
/// `client_secret` it carries when one was just issued.
fn human(c: &Value) -> String {
    let rt = &c["refresh_token"];
    let mut s = format!(
        "client_id:     {}\nname:          {}\napp_type:      {}\nauth method:   {}\ngrant types:   {}\ncallbacks:     {}\nlogout urls:   {}\nweb origins:   {}\ncors origins:  {}\nfirst party:   {}\nrefresh:       {} (leeway {}s, lifetime {}s, idle {}s)",
        text(c, "client_id"),
        text(c, "name"),
        text(c, "app_type"),
        text(c, "token_endpoint_auth_method"),
        words(c, "grant_types"),
        words(c, "callbacks"),
        words(c, "allowed_logout_urls"),
        words(c, "web_origins"),
        words(c, "allowed_origins"),
        text(c, "is_first_party"),
        text(rt, "rotation_type"),
        text(rt, "leeway"),
        text(rt, "token_lifetime"),
        text(rt, "idle_token_lifetime"),
    );
    match (c.get("jwks").filter(|j| !j.is_null()), c["jwks_uri"].as_str()) {
        (Some(j), _) => {
            s.push_str(&format!("\nkeys:          inline ({} keys)", j.get("keys").and_then(Value::as_array).map_or(0, Vec::len)))
        }
        (None, Some(uri)) => s.push_str(&format!("\nkeys:          {uri}")),
        (None, None) => {}
    }
    if let Some(p) = c.get("token_exchange_policy").filter(|p| !p.is_null()) {
        s.push_str(&format!("\ntoken exchange: {p}"));
    }
    if let Some(secret) = c["client_secret"].as_str() {
        s.push_str(&format!("\nclient_secret: {secret}\n(the secret is shown only now; store it safely)"));
    }
    s
}

pub async fn run(b: &Backend, out: &Output, cmd: ClientsCommand) -> Result<(), String> {
    match cmd {
        ClientsCommand::Create(CreateArgs { name, fields }) => {
            let c = b.create_client(fields.into_patch(Some(name))?).await?;
            out.show(&c, || human(&c));
        }
        ClientsCommand::List => {
            let clients = b.list_clients().await?;
            out.show(&clients, || {
                clients
                    .iter()
                    .map(|c| format!("{}  {:<16} {}", text(c, "client_id"), text(c, "app_type"), text(c, "name")))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ClientsCommand::Show { client_id } => {
            let c = b.get_client(&client_id).await?;
            out.show(&c, || human(&c));
        }
        ClientsCommand::Update { client_id, name, fields } => {
            let c = b.update_client(&client_id, fields.into_patch(name)?).await?;
            out.show(&c, || human(&c));
        }
        ClientsCommand::Delete { client_id } => {
            b.delete_client(&client_id).await?;
            out.message(&format!("deleted client {client_id}"));
        }
        ClientsCommand::RotateSecret { client_id, overlap } => {
            let secret = b.rotate_client_secret(&client_id, overlap).await?;
            out.show(&json!({"client_id": client_id, "client_secret": secret}), || {
                format!("client_id:     {client_id}\nclient_secret: {secret}\n(the secret is shown only now; store it safely)")
            });
        }
    }
    Ok(())
}
