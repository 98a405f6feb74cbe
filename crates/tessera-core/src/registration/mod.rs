//! Dynamic client registration (RFC 7591) and its management (RFC 7592): the client
//! metadata a registration carries, the deployment's policy over it, and the records kept
//! for a dynamically registered client. The service operations are in
//! [`crate::registry`] (`registry/registration.rs`); the endpoint is the server's
//! `http/registration/`.
//!
//! - RFC 7591 §2: unknown metadata is ignored; `token_endpoint_auth_method` defaults to
//!   `client_secret_basic`, `grant_types` to `authorization_code`, `response_types` to
//!   `code`; `grant_types` and `response_types` must agree (§2.1).
//! - OIDC Dynamic Client Registration §2 `application_type`: `web` (default) or `native`.
//!   Web clients redirect to `https` only; native ones to `https`, a loopback `http` URI or a
//!   private-use reverse-domain scheme (RFC 8252 §7).
//! - Every dynamic client is third-party (`is_first_party: false`): consent is always asked.

pub mod error;

use serde_json::{Map, Value};

pub use error::{RegistrationError, RegistrationErrorCode};

use crate::model::{AppType, ClientPatch, GrantType, TokenEndpointAuthMethod};
use crate::redirect_uri;

/// Who may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// No registration endpoint (the default).
    Off,
    /// Anyone may register (within the policy and the rate limit).
    Open,
    /// A registration must carry an initial access token (RFC 7591 §3).
    Token,
}

impl RegistrationMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "open" => Some(Self::Open),
            "token" => Some(Self::Token),
            _ => None,
        }
    }
}

/// The deployment's policy over dynamic clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationPolicy {
    pub mode: RegistrationMode,
    pub grant_types: Vec<GrantType>,
    pub auth_methods: Vec<TokenEndpointAuthMethod>,
    /// Most dynamic clients at once; 0 is no cap.
    pub max_clients: i64,
    /// A client never used this many seconds after registering is deleted; 0: never.
    pub unused_lifetime: i64,
    /// A client not used for this many seconds is deleted; 0: never.
    pub idle_lifetime: i64,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self {
            mode: RegistrationMode::Off,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            auth_methods: vec![TokenEndpointAuthMethod::None, TokenEndpointAuthMethod::ClientSecretBasic],
            max_clients: 0,
            unused_lifetime: 0,
            idle_lifetime: 0,
        }
    }
}

/// A dynamically registered client's own record (the client itself is a normal client).
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicClient {
    pub client_id: String,
    /// Keyed hash of the registration access token (RFC 7592 §1).
    pub registration_token_hash: String,
    /// The registered metadata (RFC 7591 §3.2.1), as answered.
    pub metadata: Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
}

/// An initial access token (RFC 7591 §3); the value is stored only as a keyed hash.
#[derive(Clone, PartialEq)]
pub struct RegistrationToken {
    pub id: String,
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// Registrations it still allows; `None` is unlimited.
    pub remaining_uses: Option<i64>,
}

impl RegistrationToken {
    /// The token's record (never its value), as `GET /api/v2/registration-tokens` answers
    /// and `tessera registration token list --json` prints.
    pub fn auth0_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "created_at": crate::model::rfc3339(self.created_at),
            "expires_at": self.expires_at.map(crate::model::rfc3339),
            "remaining_uses": self.remaining_uses,
        })
    }
}

impl std::fmt::Debug for RegistrationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationToken")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("remaining_uses", &self.remaining_uses)
            .finish_non_exhaustive()
    }
}

/// What a registration request asks for, checked against the policy: the patch for the
/// client and the metadata to store and answer with.
#[derive(Debug, Clone)]
pub struct ValidatedMetadata {
    pub patch: ClientPatch,
    pub metadata: Value,
}

fn strings(obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, RegistrationError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| RegistrationError::metadata(format!("{name} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(RegistrationError::metadata(format!("{name} must be an array of strings"))),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, RegistrationError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(RegistrationError::metadata(format!("{name} must be a string"))),
    }
}

/// The informational URLs RFC 7591 §2 lists: absolute `https` URLs (shown to users).
const URL_FIELDS: [&str; 4] = ["client_uri", "logo_uri", "tos_uri", "policy_uri"];

/// Validates a registration (or an RFC 7592 update) body against `policy`.
pub fn validate(body: &Value, policy: &RegistrationPolicy) -> Result<ValidatedMetadata, RegistrationError> {
    let obj = body.as_object().ok_or_else(|| RegistrationError::metadata("the body must be a JSON object"))?;
    // RFC 7591 §3.1.1 / §3.2.2: Tessera trusts no software statement issuer, so one that is
    // presented cannot be validated.
    if obj.get("software_statement").is_some_and(|v| !v.is_null()) {
        return Err(RegistrationError::new(
            RegistrationErrorCode::InvalidSoftwareStatement,
            "software statements are not accepted by this server",
        ));
    }
    let method = match string(obj, "token_endpoint_auth_method")? {
        // RFC 7591 §2: the default is client_secret_basic.
        None => TokenEndpointAuthMethod::ClientSecretBasic,
        Some(m) => TokenEndpointAuthMethod::parse(m)
            .map_err(|_| RegistrationError::metadata(format!("token_endpoint_auth_method {m:?} is not supported")))?,
    };
    if !policy.auth_methods.contains(&method) {
        return Err(RegistrationError::metadata(format!(
            "token_endpoint_auth_method {} is not allowed for dynamic clients",
            method.as_str()
        )));
    }
    let grant_names = strings(obj, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    let mut grants = Vec::new();
    for g in &grant_names {
        let grant = GrantType::parse(g)
            .filter(|g| policy.grant_types.contains(g))
            .ok_or_else(|| RegistrationError::metadata(format!("grant type {g:?} is not allowed for dynamic clients")))?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    let response_types = strings(obj, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if let Some(r) = response_types.iter().find(|r| r.as_str() != "code") {
        return Err(RegistrationError::metadata(format!("response type {r:?} is not supported (only code)")));
    }
    // RFC 7591 §2.1: the code response type goes with the authorization_code grant.
    let wants_code = grants.contains(&GrantType::AuthorizationCode);
    if wants_code == response_types.is_empty() {
        return Err(RegistrationError::metadata(
            "grant_types and response_types disagree: authorization_code goes with response type code (RFC 7591 section 2.1)",
        ));
    }
    let native = match string(obj, "application_type")? {
        None | Some("web") => false,
        Some("native") => true,
        Some(other) => return Err(RegistrationError::metadata(format!("application_type must be web or native, not {other:?}"))),
    };
    let app_type = match (native, method) {
        (true, TokenEndpointAuthMethod::None) => AppType::Native,
        (true, _) => {
            return Err(RegistrationError::metadata(
                "native applications are public clients: token_endpoint_auth_method must be none",
            ))
        }
        (false, TokenEndpointAuthMethod::None) => AppType::Spa,
        (false, _) if !wants_code => AppType::NonInteractive,
        (false, _) => AppType::RegularWeb,
    };
    let redirect_uris = strings(obj, "redirect_uris")?.unwrap_or_default();
    // RFC 7591 §2: redirect_uris is required for redirect-based flows.
    if wants_code && redirect_uris.is_empty() {
        return Err(RegistrationError::redirect_uri("redirect_uris is required for the authorization_code grant"));
    }
    for uri in &redirect_uris {
        redirect_uri::validate_registration(uri, app_type).map_err(RegistrationError::redirect_uri)?;
        // Web clients: https only (a loopback http callback is a native app's, RFC 8252 §7.3).
        if !native && !uri.starts_with("https://") {
            return Err(RegistrationError::redirect_uri(format!(
                "redirect URI {uri:?} must use https (application_type web); native applications may use loopback http"
            )));
        }
    }
    let mut metadata = Map::new();
    for name in URL_FIELDS {
        if let Some(u) = string(obj, name)? {
            let ok = url::Url::parse(u).is_ok_and(|p| p.scheme() == "https" && p.host_str().is_some());
            if !ok {
                return Err(RegistrationError::metadata(format!("{name} must be an absolute https URL")));
            }
            metadata.insert(name.into(), u.into());
        }
    }
    if let Some(c) = strings(obj, "contacts")? {
        metadata.insert("contacts".into(), c.into());
    }
    for name in ["scope", "software_id", "software_version"] {
        if let Some(v) = string(obj, name)? {
            metadata.insert(name.into(), v.into());
        }
    }
    if obj.get("jwks_uri").is_some_and(|v| !v.is_null()) {
        return Err(RegistrationError::metadata("jwks_uri is not supported; register the keys inline as jwks"));
    }
    let jwks = obj.get("jwks").filter(|v| !v.is_null()).cloned();
    if let Some(j) = &jwks {
        metadata.insert("jwks".into(), j.clone());
    }
    let name = match string(obj, "client_name")? {
        Some(n) => n.to_string(),
        None => redirect_uris
            .first()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "Dynamically registered client".into()),
    };
    metadata.insert("client_name".into(), name.clone().into());
    metadata.insert("redirect_uris".into(), redirect_uris.clone().into());
    metadata.insert("grant_types".into(), grants.iter().map(|g| g.as_str()).collect::<Vec<_>>().into());
    metadata.insert("response_types".into(), response_types.into());
    metadata.insert("token_endpoint_auth_method".into(), method.as_str().into());
    metadata.insert("application_type".into(), if native { "native" } else { "web" }.into());
    let patch = ClientPatch {
        name: Some(name),
        app_type: Some(app_type),
        token_endpoint_auth_method: Some(method),
        grant_types: Some(grants.iter().map(|g| g.as_str().to_string()).collect()),
        callbacks: Some(redirect_uris),
        is_first_party: Some(false),
        jwks: Some(jwks.unwrap_or(Value::Null)),
        ..Default::default()
    };
    Ok(ValidatedMetadata { patch, metadata: Value::Object(metadata) })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn open() -> RegistrationPolicy {
        RegistrationPolicy { mode: RegistrationMode::Open, ..Default::default() }
    }

    #[test]
    fn metadata_table() {
        let p = open();
        let ok = validate(&json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none"}), &p).unwrap();
        assert_eq!(ok.patch.app_type, Some(AppType::Spa));
        assert_eq!(ok.patch.is_first_party, Some(false));
        assert_eq!(ok.metadata["client_name"], "a.example");
        let native = json!({"redirect_uris": ["http://127.0.0.1/cb", "com.example.app:/cb"], "token_endpoint_auth_method": "none", "application_type": "native"});
        assert_eq!(validate(&native, &p).unwrap().patch.app_type, Some(AppType::Native));
        let code = |body: Value| validate(&body, &p).unwrap_err().code;
        use RegistrationErrorCode::*;
        let cases = [
            (json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}), InvalidRedirectUri),
            (json!({"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "none"}), InvalidRedirectUri),
            (json!({"redirect_uris": ["https://a.example/cb#f"]}), InvalidRedirectUri),
            (json!({"token_endpoint_auth_method": "none"}), InvalidRedirectUri),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_jwt"}),
                InvalidClientMetadata,
            ),
            (json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}), InvalidClientMetadata),
            (json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}), InvalidClientMetadata),
            (json!({"redirect_uris": ["https://a.example/cb"], "application_type": "native"}), InvalidClientMetadata),
            (json!({"redirect_uris": ["https://a.example/cb"], "logo_uri": "http://a.example/l.png"}), InvalidClientMetadata),
            (json!({"redirect_uris": ["https://a.example/cb"], "jwks_uri": "https://a.example/jwks"}), InvalidClientMetadata),
            (json!({"redirect_uris": "https://a.example/cb"}), InvalidClientMetadata),
            (json!({"redirect_uris": ["https://a.example/cb"], "software_statement": "eyJ.x.y"}), InvalidSoftwareStatement),
            (json!(["x"]), InvalidClientMetadata),
        ];
        for (body, want) in cases {
            assert_eq!(code(body.clone()), want, "{body}");
        }
    }
}
