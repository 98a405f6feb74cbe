//! APIs (resource servers): what `audience` (Auth0) and `resource` (RFC 8707) name.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::scope::is_scope_token;

/// JWS algorithms Tessera signs with (RFC 7518 §3). Never `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SigningAlg {
    RS256,
    PS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [Self; 4] = [Self::RS256, Self::PS256, Self::ES256, Self::EdDSA];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::invalid_body(format!("signing algorithm must be RS256, PS256, ES256 or EdDSA, not {s:?}")))
    }
}

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiScope {
    pub value: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceServer {
    pub id: String,
    /// The `audience` value, e.g. `https://api.example.com`.
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub signing_alg: SigningAlg,
    /// Access-token lifetime in seconds.
    pub token_lifetime: i64,
    pub allow_offline_access: bool,
    /// RFC 9449: tokens for this API must be DPoP-bound.
    pub require_dpop: bool,
    #[serde(serialize_with = "super::time::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "super::time::serialize")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerPatch {
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub scopes: Option<Vec<ApiScope>>,
    pub signing_alg: Option<SigningAlg>,
    pub token_lifetime: Option<i64>,
    pub allow_offline_access: Option<bool>,
    pub require_dpop: Option<bool>,
}

impl ResourceServer {
    /// The API as Auth0's Management API shows it (Auth0 "Resource Servers" object): what
    /// `GET /api/v2/resource-servers/{id}` answers and `tessera apis … --json` prints.
    /// `is_system` marks the tenant's own Management API, `{issuer}api/v2/`.
    pub fn auth0_json(&self, issuer: &str) -> serde_json::Value {
        use serde_json::{json, Value};
        json!({
            "id": self.id,
            "identifier": self.identifier,
            "name": self.name,
            "scopes": self.scopes,
            "signing_alg": self.signing_alg.as_str(),
            "token_lifetime": self.token_lifetime,
            "token_lifetime_for_web": self.token_lifetime,
            "allow_offline_access": self.allow_offline_access,
            "skip_consent_for_verifiable_first_party_clients": true,
            "proof_of_possession": if self.require_dpop { json!({"mechanism": "dpop", "required": true}) } else { Value::Null },
            "is_system": self.identifier == crate::registry::management_audience(issuer),
        })
    }

    pub const DEFAULT_TOKEN_LIFETIME: i64 = 86_400;

    pub fn create(id: String, patch: ResourceServerPatch, now: i64) -> Result<Self, Error> {
        let identifier = patch.identifier.clone().ok_or_else(|| Error::invalid_body("identifier is required"))?;
        let mut api = ResourceServer {
            id,
            name: identifier.clone(),
            identifier,
            scopes: vec![],
            signing_alg: SigningAlg::RS256,
            token_lifetime: Self::DEFAULT_TOKEN_LIFETIME,
            allow_offline_access: false,
            require_dpop: false,
            created_at: now,
            updated_at: now,
        };
        api.apply(patch, now)?;
        Ok(api)
    }

    pub fn apply(&mut self, p: ResourceServerPatch, now: i64) -> Result<(), Error> {
        if let Some(v) = p.identifier {
            if v != self.identifier && self.created_at != now {
                return Err(Error::invalid_body("identifier cannot be changed"));
            }
            self.identifier = v;
        }
        if let Some(v) = p.name {
            self.name = v;
        }
        if let Some(v) = p.scopes {
            self.scopes = v;
        }
        if let Some(v) = p.signing_alg {
            self.signing_alg = v;
        }
        if let Some(v) = p.token_lifetime {
            self.token_lifetime = v;
        }
        if let Some(v) = p.allow_offline_access {
            self.allow_offline_access = v;
        }
        if let Some(v) = p.require_dpop {
            self.require_dpop = v;
        }
        self.updated_at = now;
        self.validate()
    }

    pub fn validate(&self) -> Result<(), Error> {
        let id = &self.identifier;
        if id.is_empty() || id.len() > 600 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid_body("identifier must be 1 to 600 characters without whitespace"));
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(Error::invalid_body("name must be 1 to 128 printable characters"));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.scopes {
            if !is_scope_token(&s.value) {
                return Err(Error::invalid_body(format!(
                    "scope {:?} is not a valid scope token (RFC 6749 section 3.3)",
                    s.value
                )));
            }
            // OIDC scopes are granted by the authorization server itself, not by an API.
            if matches!(s.value.as_str(), "openid" | "profile" | "email" | "offline_access" | "address" | "phone") {
                return Err(Error::invalid_body(format!("scope {:?} is reserved for OpenID Connect", s.value)));
            }
            if !seen.insert(&s.value) {
                return Err(Error::invalid_body(format!("scope {:?} is listed twice", s.value)));
            }
        }
        if !(1..=super::MAX_TOKEN_LIFETIME).contains(&self.token_lifetime) {
            return Err(Error::invalid_body("token_lifetime must be 1 to 2592000 seconds (30 days)"));
        }
        Ok(())
    }

    pub fn has_scope(&self, value: &str) -> bool {
        self.scopes.iter().any(|s| s.value == value)
    }
}
