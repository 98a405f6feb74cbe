//! A client's token-exchange policy (RFC 8693 §1.1, §2.1: who may exchange which tokens for
//! what is the authorization server's policy). Kept as plain as it can be while safe:
//!
//! - which kinds of subject token the client may present (`subject_token_types`);
//! - whose tokens: a subject token is accepted only if it was issued to this client
//!   (`client_id`/`azp` of a Tessera token; another issuer's client ids mean nothing here),
//!   names it in `aud`, or names one of `subject_audiences` in `aud`
//!   (the APIs this client serves, whose incoming tokens it passes on); an actor token
//!   only if it is the client's own (issued to it or naming it in `aud`);
//! - for which APIs the new token may be (`audiences`, registered API identifiers);
//! - whether it may impersonate (no `actor_token`) and/or delegate (`actor_token`, which
//!   yields the `act` claim);
//! - whether the new token may outlive the subject token (`extend_lifetime`, off).
//!
//! Scope is never widened: the new token carries at most the subject token's scope.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// RFC 8693 §3 token type identifiers Tessera accepts as subject or actor tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeTokenType {
    /// A Tessera access token (RFC 9068 JWT).
    AccessToken,
    /// A Tessera ID token.
    IdToken,
    /// A JWT signed by a registered trusted issuer.
    Jwt,
}

impl ExchangeTokenType {
    pub const ALL: [Self; 3] = [Self::AccessToken, Self::IdToken, Self::Jwt];

    /// The RFC 8693 §3 URN.
    pub fn urn(self) -> &'static str {
        match self {
            Self::AccessToken => "urn:ietf:params:oauth:token-type:access_token",
            Self::IdToken => "urn:ietf:params:oauth:token-type:id_token",
            Self::Jwt => "urn:ietf:params:oauth:token-type:jwt",
        }
    }

    pub fn from_urn(urn: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.urn() == urn)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::IdToken => "id_token",
            Self::Jwt => "jwt",
        }
    }
}

fn default_types() -> Vec<ExchangeTokenType> {
    vec![ExchangeTokenType::AccessToken]
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangePolicy {
    /// Default: `["access_token"]`.
    #[serde(default = "default_types")]
    pub subject_token_types: Vec<ExchangeTokenType>,
    /// Besides tokens issued to or addressed to the client itself, tokens whose `aud`
    /// names one of these are accepted. Default: none.
    #[serde(default)]
    pub subject_audiences: Vec<String>,
    /// The API identifiers the new token may be for (at least one).
    pub audiences: Vec<String>,
    /// Exchange without an actor token: the new token is the subject's. Default: true.
    #[serde(default = "yes")]
    pub impersonation: bool,
    /// Exchange with an actor token: the new token carries `act`. Default: false.
    #[serde(default)]
    pub delegation: bool,
    /// Let the new token live as long as the target API's token lifetime even past the
    /// subject token's expiry. Default: false.
    #[serde(default)]
    pub extend_lifetime: bool,
}

impl TokenExchangePolicy {
    pub fn validate(&self) -> Result<(), Error> {
        if self.audiences.is_empty() || self.audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(Error::invalid_body("token_exchange_policy.audiences must name at least one API"));
        }
        if self.subject_token_types.is_empty() {
            return Err(Error::invalid_body("token_exchange_policy.subject_token_types must name at least one token type"));
        }
        if !self.impersonation && !self.delegation {
            return Err(Error::invalid_body("token_exchange_policy must allow impersonation, delegation or both"));
        }
        Ok(())
    }

    /// Parses the JSON form (the client JSON's `token_exchange_policy` member, the CLI flag).
    pub fn parse(json: &str) -> Result<Self, Error> {
        let p: Self =
            serde_json::from_str(json).map_err(|e| Error::invalid_body(format!("token_exchange_policy is invalid: {e}")))?;
        p.validate()?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_impersonation_of_access_tokens_only() {
        let p = TokenExchangePolicy::parse(r#"{"audiences": ["https://api.b"]}"#).unwrap();
        assert_eq!(p.subject_token_types, vec![ExchangeTokenType::AccessToken]);
        assert!(p.impersonation && !p.delegation && !p.extend_lifetime);
        assert!(p.subject_audiences.is_empty());
    }

    #[test]
    fn invalid_policies_are_refused() {
        for bad in [
            r#"{}"#,
            r#"{"audiences": []}"#,
            r#"{"audiences": ["a"], "subject_token_types": []}"#,
            r#"{"audiences": ["a"], "impersonation": false}"#,
            r#"{"audiences": ["a"], "subject_token_types": ["refresh_token"]}"#,
            r#"{"audiences": ["a"], "surprise": 1}"#,
        ] {
            assert!(TokenExchangePolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_type_urns_round_trip() {
        for t in ExchangeTokenType::ALL {
            assert_eq!(ExchangeTokenType::from_urn(t.urn()), Some(t));
        }
        assert_eq!(ExchangeTokenType::from_urn("urn:ietf:params:oauth:token-type:refresh_token"), None);
    }
}
