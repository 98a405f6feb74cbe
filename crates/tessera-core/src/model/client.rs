//! Applications (OAuth clients), RFC 6749 §2 and Auth0's application model.

use serde::{Deserialize, Serialize};

use super::{SigningAlg, TokenExchangePolicy};
use crate::error::Error;
use crate::redirect_uri;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    Spa,
    Native,
    RegularWeb,
    NonInteractive,
}

impl AppType {
    pub fn parse(s: &str) -> Result<Self, Error> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| Error::invalid_body(format!("app_type must be spa, native, regular_web or non_interactive, not {s:?}")))
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spa => "spa",
            Self::Native => "native",
            Self::RegularWeb => "regular_web",
            Self::NonInteractive => "non_interactive",
        }
    }
    /// Browser and native apps cannot keep a secret (RFC 6749 §2.1).
    pub fn default_auth_method(self) -> TokenEndpointAuthMethod {
        match self {
            Self::Spa | Self::Native => TokenEndpointAuthMethod::None,
            // Auth0's default for new confidential applications.
            Self::RegularWeb | Self::NonInteractive => TokenEndpointAuthMethod::ClientSecretPost,
        }
    }
    pub fn default_grant_types(self) -> Vec<GrantType> {
        match self {
            Self::NonInteractive => vec![GrantType::ClientCredentials],
            _ => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        }
    }
}

/// RFC 7591 §2 `token_endpoint_auth_method` values Tessera implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    ClientSecretJwt,
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    pub const ALL: [Self; 5] =
        [Self::ClientSecretBasic, Self::ClientSecretPost, Self::ClientSecretJwt, Self::PrivateKeyJwt, Self::None];
    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| {
            Error::invalid_body(format!(
                "token_endpoint_auth_method must be one of client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, none; not {s:?}"
            ))
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
    /// Whether the client holds a shared secret issued by Tessera.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum GrantType {
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// RFC 8628 §3.4 (Auth0 spells it the same).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// RFC 8693 §2.1.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
    /// RFC 7523 §2.1.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    JwtBearer,
    /// Auth0's passwordless one-time-code grant.
    #[serde(rename = "http://auth0.com/oauth/grant-type/passwordless/otp")]
    PasswordlessOtp,
    /// RFC 6749 §4.3 (the resource owner password credentials grant).
    #[serde(rename = "password")]
    Password,
    /// Auth0's password grant with a `realm` naming the connection.
    #[serde(rename = "http://auth0.com/oauth/grant-type/password-realm")]
    PasswordRealm,
    /// OIDC Core §3.2: `response_type=id_token` at /authorize. Not a token-endpoint grant;
    /// Auth0 lists it among a client's `grant_types`.
    #[serde(rename = "implicit")]
    Implicit,
}

impl GrantType {
    pub const ALL: [Self; 10] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::DeviceCode,
        Self::TokenExchange,
        Self::JwtBearer,
        Self::PasswordlessOtp,
        Self::Password,
        Self::PasswordRealm,
        Self::Implicit,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            Self::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            Self::PasswordlessOtp => "http://auth0.com/oauth/grant-type/passwordless/otp",
            Self::Password => "password",
            Self::PasswordRealm => "http://auth0.com/oauth/grant-type/password-realm",
            Self::Implicit => "implicit",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum RotationType {
    #[serde(rename = "rotating")]
    Rotating,
    #[serde(rename = "non-rotating")]
    NonRotating,
}

impl RotationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rotating => "rotating",
            Self::NonRotating => "non-rotating",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "rotating" => Ok(Self::Rotating),
            "non-rotating" => Ok(Self::NonRotating),
            _ => Err(Error::invalid_body(format!("rotation_type must be rotating or non-rotating, not {s:?}"))),
        }
    }
}

/// Auth0's `refresh_token` object on an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenPolicy {
    pub rotation_type: RotationType,
    /// Reuse interval in seconds: a retry of the immediately previous token inside it gets
    /// the same successor instead of triggering reuse detection.
    pub leeway: i64,
    /// Absolute lifetime of a refresh-token family, seconds.
    pub token_lifetime: i64,
    /// Idle lifetime: a refresh token unused for this long expires, seconds.
    pub idle_token_lifetime: i64,
}

impl RefreshTokenPolicy {
    pub const DEFAULT_LIFETIME: i64 = 30 * 24 * 3600;
    pub const DEFAULT_IDLE_LIFETIME: i64 = 15 * 24 * 3600;
    pub const MAX_LEEWAY: i64 = 60;

    pub fn default_for(method: TokenEndpointAuthMethod) -> Self {
        Self {
            rotation_type: if method == TokenEndpointAuthMethod::None {
                RotationType::Rotating
            } else {
                RotationType::NonRotating
            },
            leeway: 0,
            token_lifetime: Self::DEFAULT_LIFETIME,
            idle_token_lifetime: Self::DEFAULT_IDLE_LIFETIME,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub app_type: AppType,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub grant_types: Vec<GrantType>,
    /// Registered redirect URIs (Auth0: "Allowed Callback URLs").
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    /// Auth0's Allowed Web Origins: origins `response_mode=web_message` may post an
    /// authorization response to (silent authentication in an iframe, popups).
    pub web_origins: Vec<String>,
    /// Auth0's Allowed Origins (CORS): origins allowed for cross-origin authentication.
    pub allowed_origins: Vec<String>,
    pub is_first_party: bool,
    /// Inline JWK Set for `private_key_jwt` (RFC 7591 `jwks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// URL of the client's JWK Set for `private_key_jwt` (RFC 7591 `jwks_uri`; a Tessera
    /// extension to Auth0's client), fetched through the SSRF-safe fetcher and cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The ids of the client's credentials enabled for `private_key_jwt` (Auth0's
    /// `client_authentication_methods.private_key_jwt.credentials`); with `jwks` or
    /// `jwks_uri`, the keys its assertions may be signed with.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub private_key_jwt_credentials: Vec<String>,
    pub refresh_token: RefreshTokenPolicy,
    pub id_token_signed_response_alg: SigningAlg,
    /// RFC 9449: token requests must carry a DPoP proof.
    pub require_dpop: bool,
    /// Whether DPoP proofs must carry a server nonce; `None` follows the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop_nonce: Option<bool>,
    /// RFC 8693: what this client may exchange; none means it cannot exchange tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_exchange_policy: Option<TokenExchangePolicy>,
    /// RFC 9126 §6 (Auth0's field name): /authorize accepts only pushed requests.
    pub require_pushed_authorization_requests: bool,
    #[serde(serialize_with = "super::time::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "super::time::serialize")]
    pub updated_at: i64,
}

/// Fields to set on a client; `None` leaves a field as it is (or at its default on create).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub app_type: Option<AppType>,
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    pub grant_types: Option<Vec<String>>,
    pub callbacks: Option<Vec<String>>,
    pub allowed_logout_urls: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub is_first_party: Option<bool>,
    /// Setting one of `jwks` / `jwks_uri` clears the other; a `null` jwks removes it.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// Replaces the credential ids enabled for `private_key_jwt` (the registry checks they
    /// are the client's).
    pub private_key_jwt_credentials: Option<Vec<String>>,
    pub rotation_type: Option<RotationType>,
    pub leeway: Option<i64>,
    pub token_lifetime: Option<i64>,
    pub idle_token_lifetime: Option<i64>,
    pub id_token_signed_response_alg: Option<SigningAlg>,
    pub require_dpop: Option<bool>,
    /// `Some(None)` resets to the deployment default.
    pub dpop_nonce: Option<Option<bool>>,
    /// `Some(None)` removes the policy.
    pub token_exchange_policy: Option<Option<TokenExchangePolicy>>,
    pub require_pushed_authorization_requests: Option<bool>,
}

impl Client {
    /// A new client from a patch; unspecified fields take Auth0's defaults for its app type.
    pub fn create(client_id: String, patch: ClientPatch, now: i64) -> Result<Self, Error> {
        let app_type = patch.app_type.unwrap_or(AppType::RegularWeb);
        let method = patch.token_endpoint_auth_method.unwrap_or_else(|| app_type.default_auth_method());
        let mut client = Client {
            client_id,
            name: String::new(),
            app_type,
            token_endpoint_auth_method: method,
            grant_types: app_type.default_grant_types(),
            callbacks: vec![],
            allowed_logout_urls: vec![],
            web_origins: vec![],
            allowed_origins: vec![],
            is_first_party: true,
            jwks: None,
            jwks_uri: None,
            private_key_jwt_credentials: vec![],
            refresh_token: RefreshTokenPolicy::default_for(method),
            id_token_signed_response_alg: SigningAlg::RS256,
            require_dpop: false,
            dpop_nonce: None,
            require_pushed_authorization_requests: false,
            token_exchange_policy: None,
            created_at: now,
            updated_at: now,
        };
        client.apply(patch, now)?;
        Ok(client)
    }

    /// Applies a patch and re-validates the whole client.
    pub fn apply(&mut self, p: ClientPatch, now: i64) -> Result<(), Error> {
        if let Some(v) = p.name {
            self.name = v;
        }
        if let Some(v) = p.app_type {
            self.app_type = v;
        }
        if let Some(v) = p.token_endpoint_auth_method {
            self.token_endpoint_auth_method = v;
        }
        if let Some(v) = p.grant_types {
            self.grant_types = v
                .iter()
                .map(|g| {
                    GrantType::parse(g).ok_or_else(|| {
                        let known: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
                        Error::invalid_body(format!("grant type {g:?} is not supported ({})", known.join(", ")))
                    })
                })
                .collect::<Result<_, _>>()?;
            self.grant_types.dedup();
        }
        if let Some(v) = p.callbacks {
            self.callbacks = v;
        }
        if let Some(v) = p.allowed_logout_urls {
            self.allowed_logout_urls = v;
        }
        if let Some(v) = p.web_origins {
            self.web_origins = v;
        }
        if let Some(v) = p.allowed_origins {
            self.allowed_origins = v;
        }
        if let Some(v) = p.is_first_party {
            self.is_first_party = v;
        }
        // RFC 7591 §2: `jwks_uri` is the URL of the client's JWK Set and `jwks` the set by
        // value; the two MUST NOT both be present. One replaces the other; both is refused.
        if p.jwks.as_ref().is_some_and(|v| !v.is_null()) && p.jwks_uri.is_some() {
            return Err(Error::invalid_body("jwks and jwks_uri must not both be given"));
        }
        if let Some(v) = p.jwks {
            if v.is_null() {
                self.jwks = None;
            } else {
                self.jwks = Some(v);
                self.jwks_uri = None;
            }
        }
        if let Some(v) = p.jwks_uri {
            self.jwks_uri = Some(v);
            self.jwks = None;
        }
        if let Some(mut v) = p.private_key_jwt_credentials {
            let mut seen = std::collections::HashSet::new();
            v.retain(|id| seen.insert(id.clone()));
            self.private_key_jwt_credentials = v;
        }
        // Credentials enabled for private_key_jwt are not kept for a client that stopped using it.
        if self.token_endpoint_auth_method != TokenEndpointAuthMethod::PrivateKeyJwt {
            self.private_key_jwt_credentials.clear();
        }
        if let Some(v) = p.rotation_type {
            self.refresh_token.rotation_type = v;
        }
        if let Some(v) = p.leeway {
            self.refresh_token.leeway = v;
        }
        if let Some(v) = p.token_lifetime {
            self.refresh_token.token_lifetime = v;
        }
        if let Some(v) = p.idle_token_lifetime {
            self.refresh_token.idle_token_lifetime = v;
        }
        if let Some(v) = p.id_token_signed_response_alg {
            self.id_token_signed_response_alg = v;
        }
        if let Some(v) = p.require_dpop {
            self.require_dpop = v;
        }
        if let Some(v) = p.dpop_nonce {
            self.dpop_nonce = v;
        }
        if let Some(v) = p.require_pushed_authorization_requests {
            self.require_pushed_authorization_requests = v;
        }
        if let Some(v) = p.token_exchange_policy {
            self.token_exchange_policy = v;
        }
        self.updated_at = now;
        self.validate()
    }

    /// Whether the client is identified by a client ID metadata document (its id is the
    /// document's URL; every registered client has a random alphanumeric id).
    pub fn is_metadata_document(&self) -> bool {
        crate::client_metadata::names_document(&self.client_id)
    }

    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == TokenEndpointAuthMethod::None
    }

    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    pub fn validate(&self) -> Result<(), Error> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(Error::invalid_body("name must be 1 to 128 printable characters"));
        }
        for uri in &self.callbacks {
            redirect_uri::validate_registration(uri, self.app_type).map_err(Error::invalid_body)?;
        }
        for uri in &self.allowed_logout_urls {
            redirect_uri::validate_registration(uri, self.app_type)
                .map_err(|e| Error::invalid_body(e.replace("redirect URI", "logout URL")))?;
        }
        for o in &self.web_origins {
            crate::origin::validate_registration(o, "web origin").map_err(Error::invalid_body)?;
        }
        for o in &self.allowed_origins {
            crate::origin::validate_registration(o, "allowed origin").map_err(Error::invalid_body)?;
        }
        if self.is_public() {
            // RFC 6749 §4.4: client_credentials is for confidential clients only.
            if self.allows_grant(GrantType::ClientCredentials) {
                return Err(Error::invalid_body(
                    "public clients (token_endpoint_auth_method none) cannot use client_credentials",
                ));
            }
            // RFC 8693 §2.1 and RFC 7523 §3.1 leave client authentication optional; Tessera
            // lets only clients that can authenticate turn tokens into other tokens.
            if let Some(g) = [GrantType::TokenExchange, GrantType::JwtBearer].into_iter().find(|g| self.allows_grant(*g)) {
                return Err(Error::invalid_body(format!("public clients cannot use the {} grant", g.as_str())));
            }
            // RFC 9700 §4.14.2: refresh tokens of public clients must be sender-constrained or rotated.
            if self.refresh_token.rotation_type != RotationType::Rotating {
                return Err(Error::invalid_body("public clients must use rotating refresh tokens"));
            }
        } else if matches!(self.app_type, AppType::Spa | AppType::Native) {
            return Err(Error::invalid_body("spa and native applications are public: token_endpoint_auth_method must be none"));
        }
        // RFC 7591 §2 (see `apply`): never both.
        if self.jwks.is_some() && self.jwks_uri.is_some() {
            return Err(Error::invalid_body("jwks and jwks_uri must not both be set"));
        }
        if self.token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt && self.jwks_uri.is_none() {
            let keys = self.jwks.as_ref().and_then(|j| j.get("keys")).and_then(|k| k.as_array());
            if keys.is_none_or(|k| k.is_empty()) && self.private_key_jwt_credentials.is_empty() {
                return Err(Error::invalid_body(
                    "private_key_jwt requires a credential, a jwks with at least one key, or a jwks_uri",
                ));
            }
        }
        if let Some(jwks) = &self.jwks {
            crate::tokens::jose::parse_client_jwks(jwks).map_err(Error::invalid_body)?;
        }
        if let Some(uri) = &self.jwks_uri {
            validate_jwks_uri(uri)?;
        }
        if let Some(policy) = &self.token_exchange_policy {
            policy.validate()?;
        }
        let r = &self.refresh_token;
        if !(0..=RefreshTokenPolicy::MAX_LEEWAY).contains(&r.leeway) {
            return Err(Error::invalid_body("refresh token leeway must be 0 to 60 seconds"));
        }
        if !(1..=10 * 365 * 24 * 3600).contains(&r.token_lifetime) {
            return Err(Error::invalid_body("refresh token token_lifetime must be 1 second to 10 years"));
        }
        if !(1..=r.token_lifetime).contains(&r.idle_token_lifetime) {
            return Err(Error::invalid_body("refresh token idle_token_lifetime must be positive and at most token_lifetime"));
        }
        Ok(())
    }
}

/// A client's `jwks_uri`: an absolute https URL without credentials or fragment. Whether
/// its host may be reached (private and loopback addresses are refused unless the
/// deployment's fetch policy allows them) is decided when it is fetched, after DNS
/// resolution, by the SSRF-safe fetcher: a name checked here could resolve elsewhere later.
fn validate_jwks_uri(uri: &str) -> Result<(), Error> {
    let bad = || Error::invalid_body(format!("jwks_uri {uri:?} must be an https URL without credentials or fragment"));
    let parsed = url::Url::parse(uri).map_err(|_| bad())?;
    if parsed.scheme() != "https"
        || parsed.host_str().is_none_or(str::is_empty)
        || !parsed.username().is_empty()
        || parsed.password().is_some()
        || parsed.fragment().is_some()
        || uri.len() > 2048
    {
        return Err(bad());
    }
    Ok(())
}

/// How a stored client secret is kept (DESIGN decision 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// HMAC-SHA-256 under the server key; verification only.
    Hmac,
    /// AES-256-GCM; needed when the secret is an HMAC key (`client_secret_jwt`).
    Aead,
    /// Argon2id, for imported low-entropy secrets.
    Argon2,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hmac => "hmac",
            Self::Aead => "aead",
            Self::Argon2 => "argon2",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hmac" => Some(Self::Hmac),
            "aead" => Some(Self::Aead),
            "argon2" => Some(Self::Argon2),
            _ => None,
        }
    }
}

/// A stored client secret. `value` is a hash or a ciphertext, never the secret itself.
#[derive(Clone, PartialEq)]
pub struct ClientSecret {
    pub id: String,
    pub client_id: String,
    pub kind: SecretKind,
    pub value: String,
    pub created_at: i64,
    /// Set when a rotation ends this secret's validity (possibly in the future: overlap).
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecret")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("kind", &self.kind)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl ClientSecret {
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

/// Auth0's ID-token lifetime (`jwt_configuration.lifetime_in_seconds`), which Tessera keeps
/// tenant-wide (DESIGN decision 4).
pub const ID_TOKEN_LIFETIME: i64 = 36_000;

impl Client {
    /// The client as Auth0's Management API shows it (Auth0 "Applications" object), with
    /// Tessera's own fields (`require_dpop`, `dpop_nonce`, `jwks`, `jwks_uri`, timestamps) kept.
    pub fn auth0_json(&self) -> serde_json::Value {
        use serde_json::{json, Value};
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        let Some(obj) = v.as_object_mut() else { return v };
        // Auth0: refresh tokens here always expire (absolute and idle lifetimes).
        if let Some(rt) = obj.get_mut("refresh_token").and_then(Value::as_object_mut) {
            rt.insert("expiration_type".into(), "expiring".into());
            rt.insert("infinite_token_lifetime".into(), false.into());
            rt.insert("infinite_idle_token_lifetime".into(), false.into());
        }
        obj.insert(
            "jwt_configuration".into(),
            json!({"alg": self.id_token_signed_response_alg.as_str(), "lifetime_in_seconds": ID_TOKEN_LIFETIME, "secret_encoded": false}),
        );
        obj.insert("require_proof_of_possession".into(), self.require_dpop.into());
        obj.insert("oidc_conformant".into(), true.into());
        obj.remove("private_key_jwt_credentials");
        // Auth0's shape of the credentials enabled for private_key_jwt.
        let methods = if self.private_key_jwt_credentials.is_empty() {
            Value::Null
        } else {
            let ids: Vec<Value> = self.private_key_jwt_credentials.iter().map(|id| json!({"id": id})).collect();
            json!({"private_key_jwt": {"credentials": ids}})
        };
        obj.insert("client_authentication_methods".into(), methods);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(jwks_uri: &str) -> Result<Client, Error> {
        let patch = ClientPatch {
            name: Some("k".into()),
            app_type: Some(AppType::NonInteractive),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::PrivateKeyJwt),
            jwks_uri: Some(jwks_uri.into()),
            ..Default::default()
        };
        Client::create("c".into(), patch, 0)
    }

    #[test]
    fn a_jwks_uri_is_an_https_url_without_credentials_or_fragment() {
        for ok in ["https://keys.example.com/jwks", "https://127.0.0.1:8443/jwks", "https://keys.example.com/j?v=2"] {
            assert!(keyed(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://keys.example.com/jwks",
            "http://127.0.0.1/jwks",
            "http://localhost/jwks",
            "https://u:p@keys.example.com/jwks",
            "https://keys.example.com/jwks#k",
            "file:///etc/passwd",
            "keys.example.com/jwks",
        ] {
            assert!(keyed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_key_jwt_needs_jwks_or_jwks_uri_and_one_replaces_the_other() {
        let mut no_keys = ClientPatch {
            name: Some("k".into()),
            app_type: Some(AppType::NonInteractive),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::PrivateKeyJwt),
            ..Default::default()
        };
        let err = Client::create("c".into(), no_keys.clone(), 0).unwrap_err();
        assert!(err.description().contains("jwks_uri"), "{err:?}");
        no_keys.jwks = Some(serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}));
        let mut c = Client::create("c".into(), no_keys, 0).unwrap();
        c.apply(ClientPatch { jwks_uri: Some("https://keys.example.com/jwks".into()), ..Default::default() }, 1).unwrap();
        assert_eq!((c.jwks.is_none(), c.jwks_uri.as_deref()), (true, Some("https://keys.example.com/jwks")));
        // Both at once is refused (RFC 7591 §2), whichever way a caller builds it.
        let both = ClientPatch {
            jwks: Some(serde_json::json!({"keys": []})),
            jwks_uri: Some("https://keys.example.com/other".into()),
            ..Default::default()
        };
        assert!(c.clone().apply(both, 1).is_err());
        let mut both = c.clone();
        both.jwks = Some(serde_json::json!({"keys": []}));
        assert!(both.validate().is_err());
        // Clearing the inline set does not clear the URL.
        c.apply(ClientPatch { jwks: Some(serde_json::Value::Null), ..Default::default() }, 2).unwrap();
        assert_eq!(c.jwks_uri.as_deref(), Some("https://keys.example.com/jwks"));
    }
}
