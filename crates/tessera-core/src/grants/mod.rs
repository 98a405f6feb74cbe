//! The token endpoint's grants (RFC 6749 §4, §6). One module per `grant_type`, each
//! exposing `exchange(ctx, params, client) -> TokenResponse`; [`exchange`] parses the
//! grant type and dispatches with one `match`.
//!
//! Order of checks (issue 3): grant type known → client authenticated (by the caller, via
//! [`crate::client_auth`]) → grant type allowed for the client → the grant's own checks.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod jwt_bearer;
pub mod password;
pub mod password_realm;
pub mod passwordless_otp;
pub mod refresh_token;
pub mod token_exchange;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::client_auth::AuthenticatedClient;
use crate::dpop::ValidProof;
use crate::error::Error;
use crate::model::{Client, GrantType, ResourceServer, SigningAlg};
use crate::registry::Registry;
use crate::tokens::{KeySet, SigningKey};

/// Request parameters, each present at most once (the HTTP layer refuses repeats) and
/// none empty (RFC 6749 §3.1: parameters sent without a value are treated as omitted).
pub type Params = BTreeMap<String, String>;

/// What a grant needs: the registry (store, keyring, clock), the keys, the issuer.
pub struct TokenContext<'a> {
    pub registry: &'a Registry,
    pub keys: &'a KeySet,
    pub issuer: &'a str,
    pub now: i64,
    pub id_token_lifetime: i64,
    /// Wrong guesses a passwordless one-time code survives (Auth0's attempt limit).
    pub otp_max_attempts: i64,
    /// A validated, not replayed DPoP proof sent with the request (RFC 9449).
    pub dpop: Option<&'a ValidProof>,
    /// What the password grants need: the login page's limits and the slow-hash verifier.
    pub resource_owner: password::ResourceOwnerContext<'a>,
    /// Clock bounds of JWT-bearer assertions, the same settings as client assertions.
    pub assertion_limits: crate::client_auth::AssertionLimits,
}

impl TokenContext<'_> {
    /// The current key for `alg`; none means the deployment cannot sign and must fail closed.
    pub fn signer(&self, alg: SigningAlg) -> Result<std::sync::Arc<SigningKey>, Error> {
        self.keys.signer(alg).ok_or_else(|| Error::server_error(format!("no current {alg} signing key is loaded")))
    }
}

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    /// RFC 8693 §2.2.1: the type of the token issued by a token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// Parses `grant_type` (before client authentication: an unknown grant needs no secret
/// check). RFC 6749 §5.2: a grant type the server does not support is
/// `unsupported_grant_type`.
pub fn grant_type(params: &Params) -> Result<GrantType, Error> {
    let g = params.get("grant_type").ok_or_else(|| Error::invalid_request("grant_type is required"))?;
    GrantType::parse(g)
        .ok_or_else(|| Error::new(crate::ErrorCode::UnsupportedGrantType, format!("grant type {g:?} is not supported")))
}

/// Runs the grant for an authenticated client.
pub async fn exchange(
    ctx: &TokenContext<'_>,
    grant: GrantType,
    params: &Params,
    client: &AuthenticatedClient,
) -> Result<TokenResponse, Error> {
    // RFC 6749 §5.2 unauthorized_client: the authenticated client is not authorized to use
    // this authorization grant type (Auth0's wording).
    if !client.client.allows_grant(grant) {
        return Err(Error::new(
            crate::ErrorCode::UnauthorizedClient,
            format!("Grant type '{}' not allowed for the client.", grant.as_str()),
        ));
    }
    match grant {
        GrantType::AuthorizationCode => authorization_code::exchange(ctx, params, client).await,
        GrantType::RefreshToken => refresh_token::exchange(ctx, params, client).await,
        GrantType::ClientCredentials => client_credentials::exchange(ctx, params, client).await,
        GrantType::DeviceCode => device_code::exchange(ctx, params, client).await,
        GrantType::TokenExchange => token_exchange::exchange(ctx, params, client).await,
        GrantType::JwtBearer => jwt_bearer::exchange(ctx, params, client).await,
        GrantType::PasswordlessOtp => passwordless_otp::exchange(ctx, params, client, ctx.otp_max_attempts).await,
        GrantType::Password => password::exchange(ctx, params, client).await,
        GrantType::PasswordRealm => password_realm::exchange(ctx, params, client).await,
        // OIDC Core §3.2: implicit is an /authorize response type, never a token request.
        GrantType::Implicit => {
            Err(Error::new(crate::ErrorCode::UnsupportedGrantType, "implicit is not a grant type of the token endpoint"))
        }
    }
}

/// RFC 9449 §5: the key the issued access token is bound to (`cnf.jkt`), if a proof came.
/// A client or API that requires DPoP gets `invalid_request` without one.
pub fn dpop_binding(ctx: &TokenContext<'_>, client: &Client, api: Option<&ResourceServer>) -> Result<Option<String>, Error> {
    let jkt = ctx.dpop.map(|p| p.jkt.clone());
    if jkt.is_none() && (client.require_dpop || api.is_some_and(|a| a.require_dpop)) {
        return Err(Error::invalid_request("a DPoP proof is required for this client or API"));
    }
    Ok(jkt)
}

/// RFC 9449 §5: `token_type` is DPoP for a bound access token.
pub fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// RFC 8707 §2.2 / Auth0 `audience`: at the token endpoint a target may only repeat what
/// was authorized (narrowing a single audience can only keep it), never widen it.
pub fn check_target(params: &Params, authorized: Option<&str>) -> Result<(), Error> {
    if let Some(r) = params.get("resource") {
        check_resource_uri(r)?;
    }
    for name in ["audience", "resource"] {
        if let Some(asked) = params.get(name) {
            if Some(asked.as_str()) != authorized {
                return Err(Error::new(
                    crate::ErrorCode::InvalidTarget,
                    format!("{name} {asked:?} was not part of the authorization"),
                ));
            }
        }
    }
    Ok(())
}

/// RFC 8707 §2: a `resource` is an absolute URI without a fragment; anything else is
/// `invalid_target`.
pub fn check_resource_uri(r: &str) -> Result<(), Error> {
    if url::Url::parse(r).is_err() || r.contains('#') {
        return Err(Error::new(crate::ErrorCode::InvalidTarget, "resource must be an absolute URI without a fragment"));
    }
    Ok(())
}

/// What a new refresh-token family remembers of the grant that started it (the code or
/// the device code, and the user who authorized it).
pub(crate) struct FamilyGrant<'a> {
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub scope: &'a str,
    pub audience: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub sid: Option<&'a str>,
}

/// A new refresh-token family under the client's lifetimes, its first token (generation 0)
/// and that token's value (DESIGN decision 6): for every grant that starts a family.
pub(crate) fn new_family(
    ctx: &TokenContext<'_>,
    grant: FamilyGrant<'_>,
    policy: &crate::model::RefreshTokenPolicy,
    dpop_jkt: Option<String>,
) -> (String, crate::state::RefreshFamily, crate::state::RefreshTokenRecord) {
    let plain = crate::crypto::ordered_handle();
    let family_id = crate::crypto::ordered_id::<15>("rtf_");
    let absolute = ctx.now + policy.token_lifetime;
    let family = crate::state::RefreshFamily {
        family_id: family_id.clone(),
        client_id: grant.client_id.to_string(),
        user_id: grant.user_id.to_string(),
        scope: grant.scope.to_string(),
        audience: grant.audience.map(str::to_string),
        nonce: grant.nonce.map(str::to_string),
        auth_time: grant.auth_time,
        sid: grant.sid.map(str::to_string),
        dpop_jkt,
        created_at: ctx.now,
        absolute_expires_at: absolute,
        revoked_at: None,
    };
    let token = crate::state::RefreshTokenRecord {
        token_hash: ctx.registry.keyring().hash_handle(&plain),
        family_id,
        generation: 0,
        created_at: ctx.now,
        idle_expires_at: (ctx.now + policy.idle_token_lifetime).min(absolute),
        superseded_at: None,
        successor_hash: None,
        successor_token: None,
    };
    (plain, family, token)
}
