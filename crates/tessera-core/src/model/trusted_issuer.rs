//! Trusted issuers: other token issuers whose signed JWTs Tessera accepts as
//! authorization grants (RFC 7523 §2.1, `jwt-bearer`) and as token-exchange subject or
//! actor tokens (RFC 8693 `token-type:jwt`). Each names its keys (a JWK Set inline or a
//! `jwks_uri`), how its `sub` maps to a Tessera subject, and which clients may present its
//! tokens: a token from an issuer is accepted only from the clients it lists.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How a trusted issuer's `sub` becomes the subject of the token Tessera issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectMapping {
    /// `sub` is a Tessera user id.
    UserId,
    /// `sub` is the verified email address of a Tessera user.
    Email,
    /// `sub` is the presenting client's own client_id; the token is the client's
    /// (`<client_id>@clients`), as with client_credentials.
    Client,
}

impl SubjectMapping {
    pub fn parse(s: &str) -> Result<Self, Error> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| Error::invalid_body(format!("subject mapping must be user_id, email or client, not {s:?}")))
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserId => "user_id",
            Self::Email => "email",
            Self::Client => "client",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustedIssuer {
    pub id: String,
    /// The exact `iss` value of its tokens.
    pub issuer: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub subject_mapping: SubjectMapping,
    /// The clients that may present this issuer's tokens.
    pub clients: Vec<String>,
    #[serde(serialize_with = "super::time::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "super::time::serialize")]
    pub updated_at: i64,
}

/// Fields to set; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerPatch {
    pub issuer: Option<String>,
    pub name: Option<String>,
    /// Setting one of `jwks` / `jwks_uri` clears the other.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    pub subject_mapping: Option<SubjectMapping>,
    pub clients: Option<Vec<String>>,
}

impl TrustedIssuer {
    pub fn create(id: String, patch: TrustedIssuerPatch, now: i64) -> Result<Self, Error> {
        let mut t = TrustedIssuer {
            id,
            issuer: String::new(),
            name: String::new(),
            jwks: None,
            jwks_uri: None,
            subject_mapping: SubjectMapping::UserId,
            clients: vec![],
            created_at: now,
            updated_at: now,
        };
        t.apply(patch, now)?;
        Ok(t)
    }

    pub fn apply(&mut self, p: TrustedIssuerPatch, now: i64) -> Result<(), Error> {
        if let Some(v) = p.issuer {
            self.issuer = v;
        }
        if let Some(v) = p.name {
            self.name = v;
        }
        if let Some(v) = p.jwks {
            self.jwks = Some(v);
            self.jwks_uri = None;
        }
        if let Some(v) = p.jwks_uri {
            self.jwks_uri = Some(v);
            self.jwks = None;
        }
        if let Some(v) = p.subject_mapping {
            self.subject_mapping = v;
        }
        if let Some(mut v) = p.clients {
            v.sort();
            v.dedup();
            self.clients = v;
        }
        if self.name.is_empty() {
            self.name = self.issuer.clone();
        }
        self.updated_at = now;
        self.validate()
    }

    pub fn validate(&self) -> Result<(), Error> {
        if self.issuer.trim().is_empty() || self.issuer.len() > 512 || self.issuer.chars().any(char::is_control) {
            return Err(Error::invalid_body("issuer must be 1 to 512 printable characters"));
        }
        if self.name.chars().count() > 128 || self.name.chars().any(char::is_control) {
            return Err(Error::invalid_body("name must be at most 128 printable characters"));
        }
        match (&self.jwks, &self.jwks_uri) {
            (Some(jwks), None) => {
                let keys = crate::tokens::jose::parse_client_jwks(jwks).map_err(Error::invalid_body)?;
                if keys.is_empty() {
                    return Err(Error::invalid_body("jwks must hold at least one key"));
                }
            }
            (None, Some(uri)) => validate_jwks_uri(uri)?,
            _ => return Err(Error::invalid_body("a trusted issuer needs exactly one of jwks or jwks_uri")),
        }
        if self.clients.is_empty() {
            return Err(Error::invalid_body("a trusted issuer must name at least one client that may present its tokens"));
        }
        Ok(())
    }

    /// Whether `client_id` may present this issuer's tokens.
    pub fn trusts_client(&self, client_id: &str) -> bool {
        self.clients.iter().any(|c| c == client_id)
    }
}

/// `https`, or `http` on a loopback host only (a JWKS served next to Tessera, and tests).
fn validate_jwks_uri(uri: &str) -> Result<(), Error> {
    let parsed = url::Url::parse(uri).map_err(|_| Error::invalid_body(format!("jwks_uri {uri:?} is not a URL")))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    let ok = match parsed.scheme() {
        "https" => parsed.host_str().is_some(),
        "http" => loopback,
        _ => false,
    };
    if !ok || !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return Err(Error::invalid_body(
            "jwks_uri must be an https URL (http only on a loopback host), without credentials or fragment",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(jwks_uri: &str) -> TrustedIssuerPatch {
        TrustedIssuerPatch {
            issuer: Some("https://idp.example".into()),
            jwks_uri: Some(jwks_uri.into()),
            clients: Some(vec!["c1".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn jwks_uris_must_be_https_or_loopback_http() {
        for ok in ["https://idp.example/jwks", "http://127.0.0.1:9000/jwks", "http://localhost/k"] {
            assert!(TrustedIssuer::create("i".into(), patch(ok), 0).is_ok(), "{ok}");
        }
        for bad in ["http://idp.example/jwks", "file:///etc/passwd", "https://u:p@idp.example/", "https://idp.example/#x", "nope"]
        {
            assert!(TrustedIssuer::create("i".into(), patch(bad), 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn needs_keys_and_clients() {
        let mut p = patch("https://idp.example/jwks");
        p.clients = Some(vec![]);
        assert!(TrustedIssuer::create("i".into(), p, 0).is_err());
        let p = TrustedIssuerPatch { issuer: Some("x".into()), clients: Some(vec!["c".into()]), ..Default::default() };
        assert!(TrustedIssuer::create("i".into(), p, 0).is_err(), "no keys");
        let t = TrustedIssuer::create("i".into(), patch("https://idp.example/jwks"), 0).unwrap();
        assert_eq!(t.name, "https://idp.example");
        assert!(t.trusts_client("c1") && !t.trusts_client("c2"));
    }
}
