//! Client credentials (Auth0 "Client Credentials", `/api/v2/clients/{id}/credentials`): the
//! public keys a client signs its `private_key_jwt` assertions with (RFC 7523 §2.2, OIDC
//! Core §9). A credential is given as PEM and kept as its public JWK; it verifies only
//! while it is linked to the client's `private_key_jwt` method and not expired.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::Error;
use crate::tokens::jose::{ClientKey, PublicKey};

/// Auth0's only `credential_type` for client authentication keys.
pub const PUBLIC_KEY: &str = "public_key";

/// The algorithms a credential may be used with: Auth0's (RS256, RS384, PS256) and ES256,
/// which Tessera's assertion verifier also supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub enum CredentialAlg {
    RS256,
    RS384,
    PS256,
    ES256,
}

impl CredentialAlg {
    pub const ALL: [Self; 4] = [Self::RS256, Self::RS384, Self::PS256, Self::ES256];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::invalid_body(format!("alg must be one of RS256, RS384, PS256, ES256; not {s:?}")))
    }
}

/// A stored credential.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCredential {
    /// `cred_` + random (Auth0's form).
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub kid: String,
    pub alg: CredentialAlg,
    /// The public key as a JWK (RFC 7517), required members only.
    pub public_jwk: Value,
    /// RFC 7638 thumbprint of the key: the same key cannot be added twice to one client.
    pub thumbprint: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: Option<i64>,
}

/// A credential as Auth0's create endpoint (and `client_authentication_methods` at client
/// creation) takes it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    pub credential_type: Option<String>,
    pub name: Option<String>,
    pub pem: Option<String>,
    pub alg: Option<String>,
    pub kid: Option<String>,
    pub expires_at: Option<String>,
    pub parse_expiry_from_cert: Option<bool>,
}

/// Auth0: a credential's `kid` matches `[0-9a-zA-Z-_]{10,64}`.
fn valid_kid(kid: &str) -> bool {
    (10..=64).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses an `expires_at` (ISO 8601 / RFC 3339), which must lie after `now`.
pub fn parse_expires_at(s: &str, now: i64) -> Result<i64, Error> {
    let t = super::parse_rfc3339(s)
        .ok_or_else(|| Error::invalid_body(format!("expires_at must be an ISO 8601 date-time, not {s:?}")))?;
    if t <= now {
        return Err(Error::invalid_body("expires_at must be in the future"));
    }
    Ok(t)
}

impl NewCredential {
    /// Validates the request and builds the credential `id` of `client_id` at `now`.
    pub fn build(self, id: String, client_id: &str, now: i64) -> Result<ClientCredential, Error> {
        match self.credential_type.as_deref() {
            None => return Err(Error::invalid_body("Missing required property: credential_type")),
            Some(PUBLIC_KEY) => {}
            Some(other) => return Err(Error::invalid_body(format!("credential_type must be public_key, not {other:?}"))),
        }
        let pem = self.pem.ok_or_else(|| Error::invalid_body("Missing required property: pem"))?;
        let parsed = crate::tokens::pem::parse_public_pem(&pem).map_err(|e| Error::invalid_body(format!("pem: {e}")))?;
        // Auth0: RS256 when no alg is given.
        let alg = CredentialAlg::parse(self.alg.as_deref().unwrap_or("RS256"))?;
        if !parsed.key.allows_alg(alg.as_str()) {
            return Err(Error::invalid_body(format!("alg {} does not fit the key in pem", alg.as_str())));
        }
        let thumbprint = parsed.key.thumbprint();
        // Auth0 derives the kid from the key when none is given: here its RFC 7638 thumbprint.
        let kid = self.kid.unwrap_or_else(|| thumbprint.clone());
        if !valid_kid(&kid) {
            return Err(Error::invalid_body("kid must be 10 to 64 characters of [0-9a-zA-Z-_]"));
        }
        let name = self.name.unwrap_or_default();
        if name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(Error::invalid_body("name must be at most 128 printable characters"));
        }
        let expires_at = match (self.expires_at, self.parse_expiry_from_cert) {
            (Some(_), Some(true)) => {
                return Err(Error::invalid_body("expires_at and parse_expiry_from_cert cannot be used together"))
            }
            (Some(s), _) => Some(parse_expires_at(&s, now)?),
            (None, Some(true)) => {
                let not_after = parsed
                    .not_after
                    .ok_or_else(|| Error::invalid_body("parse_expiry_from_cert needs pem to be an X.509 certificate"))?;
                if not_after <= now {
                    return Err(Error::invalid_body("the certificate has expired"));
                }
                Some(not_after)
            }
            (None, _) => None,
        };
        Ok(ClientCredential {
            id,
            client_id: client_id.to_string(),
            name,
            kid,
            alg,
            public_jwk: Value::Object(parsed.key.to_jwk()),
            thumbprint,
            created_at: now,
            updated_at: now,
            expires_at,
        })
    }
}

impl ClientCredential {
    /// An expired credential (Auth0: `expires_at` in the past) no longer authenticates.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }

    /// The key as the assertion verifier takes it: bound to its `kid` and `alg`.
    pub fn client_key(&self) -> Result<ClientKey, String> {
        Ok(ClientKey {
            kid: Some(self.kid.clone()),
            alg: Some(self.alg.as_str().to_string()),
            key: PublicKey::from_jwk(&self.public_jwk)?,
        })
    }

    /// Auth0's credential object.
    pub fn auth0_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "kid": self.kid,
            "alg": self.alg.as_str(),
            "credential_type": PUBLIC_KEY,
            "created_at": super::rfc3339(self.created_at),
            "updated_at": super::rfc3339(self.updated_at),
        });
        if let (Some(e), Some(obj)) = (self.expires_at, v.as_object_mut()) {
            obj.insert("expires_at".into(), super::rfc3339(e).into());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kids_follow_auth0s_pattern() {
        for ok in ["abcdefghij", "A-b_C-d_E-f_0123", &"x".repeat(64)] {
            assert!(valid_kid(ok), "{ok}");
        }
        for bad in ["short", "has space in it", "dots.are.not.ok", &"x".repeat(65), "ünïcödé-kid"] {
            assert!(!valid_kid(bad), "{bad}");
        }
    }

    #[test]
    fn requests_without_type_or_pem_are_refused() {
        let err = |n: NewCredential| n.build("cred_x".into(), "c", 0).unwrap_err().description().to_string();
        assert!(err(NewCredential::default()).contains("credential_type"));
        let typed = NewCredential { credential_type: Some(PUBLIC_KEY.into()), ..Default::default() };
        assert!(err(typed.clone()).contains("pem"));
        let wrong = NewCredential { credential_type: Some("x509_cert".into()), ..Default::default() };
        assert!(err(wrong).contains("public_key"));
        let garbage = NewCredential { pem: Some("nope".into()), ..typed };
        assert!(err(garbage).starts_with("pem:"));
    }

    #[test]
    fn expiry_is_checked_against_now() {
        assert_eq!(parse_expires_at("2000-02-29T00:00:00Z", 951_782_399), Ok(951_782_400));
        assert!(parse_expires_at("2000-02-29T00:00:00Z", 951_782_400).is_err());
        assert!(parse_expires_at("tomorrow", 0).is_err());
    }
}
