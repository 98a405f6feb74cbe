//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1, §3): a JWT
//! signed by a registered trusted issuer is the authorization grant.
//!
//! The assertion's `iss` names the trusted issuer (which must list the client), its
//! signature verifies with that issuer's keys, `aud` names Tessera, `exp`/`nbf`/`iat` hold
//! with the client-assertion clock leeway, and its `jti` is remembered in the database-wide
//! replay cache (one conditional write, the only one on this path). `sub` becomes a
//! Tessera user or the client itself by the issuer's [`SubjectMapping`]. The token is for
//! an API the client has a client grant for, with at most the granted scopes, exactly as
//! client_credentials decides it. Every refusal of the assertion is `invalid_grant` (§3.1).

use serde_json::Value;

use super::{Params, TokenContext, TokenResponse};
use crate::client_auth::{AuthenticatedClient, ASSERTION_SIGNING_ALGS};
use crate::error::Error;
use crate::model::{Client, SubjectMapping, TrustedIssuer};
use crate::routes;
use crate::tokens::claims::{sign_access_token, AccessTokenSpec};
use crate::tokens::jose::Jws;

/// Replay-cache namespace for jwt-bearer assertion `jti`s (DESIGN decision 9).
pub const JTI_NAMESPACE: &str = "jwt_bearer";

/// A JWT from a trusted issuer whose signature and validity window were checked.
pub(crate) struct TrustedJwt {
    pub jws: Jws,
    pub issuer: TrustedIssuer,
    pub sub: String,
    pub exp: i64,
}

/// Verifies a JWT signed by a trusted issuer that trusts `client`: issuer known, client
/// listed, signature by one of its keys with an algorithm that fits the key, `exp` not
/// passed and `nbf`/`iat` not in the future (both with the client-assertion leeway), a
/// `sub`. `fail` builds the refusal (each grant has its own error code).
pub(crate) async fn verify_trusted_jwt(
    ctx: &TokenContext<'_>,
    client: &Client,
    token: &str,
    fail: fn(String) -> Error,
) -> Result<TrustedJwt, Error> {
    let jws = Jws::parse(token).map_err(|e| fail(format!("the JWT is malformed: {e}")))?;
    let iss = jws.claims.get("iss").and_then(Value::as_str).ok_or_else(|| fail("the JWT has no iss".into()))?.to_string();
    let issuer =
        ctx.registry.store().find_trusted_issuer(&iss).await?.ok_or_else(|| fail(format!("'{iss}' is not a trusted issuer")))?;
    if !issuer.trusts_client(&client.client_id) {
        return Err(fail(format!("client '{}' may not present tokens of '{iss}'", client.client_id)));
    }
    // RFC 7515 §10.7 / RFC 8725 §3.1: only asymmetric algorithms that fit the issuer's
    // registered key types; the key comes from the issuer's registration, never the token.
    let alg = jws.alg().unwrap_or("none");
    if alg == "HS256" || !ASSERTION_SIGNING_ALGS.contains(&alg) {
        return Err(fail(format!("the JWT algorithm {alg} is not accepted")));
    }
    let keys = ctx.registry.trusted_issuer_keys(&issuer, jws.kid(), ctx.now).await?;
    let verified = keys
        .iter()
        .filter(|k| jws.kid().is_none() || k.kid.as_deref() == jws.kid())
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg))
        .any(|k| jws.verify_with(&k.key));
    if !verified {
        return Err(fail(format!("the JWT signature does not verify with the keys of '{iss}'")));
    }
    // RFC 7523 §3 (4): exp is required and the JWT is refused once it has expired.
    let exp = jws.claims.get("exp").and_then(Value::as_i64).ok_or_else(|| fail("the JWT has no exp".into()))?;
    if exp + ctx.assertion_limits.leeway <= ctx.now {
        return Err(fail("the JWT has expired".into()));
    }
    // RFC 7523 §3 (5), (6): not usable before nbf; an iat in the future is refused.
    for claim in ["nbf", "iat"] {
        if let Some(t) = jws.claims.get(claim) {
            let t = t.as_i64().ok_or_else(|| fail(format!("the JWT {claim} is not a number")))?;
            if t > ctx.now + ctx.assertion_limits.max_future {
                return Err(fail(format!("the JWT {claim} is in the future")));
            }
        }
    }
    // RFC 7523 §3 (2): the JWT MUST contain a sub claim.
    let sub = jws
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| fail("the JWT has no sub".into()))?
        .to_string();
    Ok(TrustedJwt { jws, issuer, sub, exp })
}

/// The Tessera subject a trusted issuer's `sub` stands for, by the issuer's mapping rule:
/// an existing, unblocked user, or the presenting client itself.
pub(crate) async fn map_subject(
    ctx: &TokenContext<'_>,
    client: &Client,
    jwt: &TrustedJwt,
    fail: fn(String) -> Error,
) -> Result<String, Error> {
    let store = ctx.registry.store();
    let user = match jwt.issuer.subject_mapping {
        SubjectMapping::Client => {
            if jwt.sub != client.client_id {
                return Err(fail(format!("the JWT sub must be the client '{}' itself", client.client_id)));
            }
            return Ok(format!("{}@clients", client.client_id));
        }
        SubjectMapping::UserId => store.get_user(&jwt.sub).await?,
        SubjectMapping::Email => {
            let email = jwt.sub.to_lowercase();
            // Only a verified address names a user: anyone can claim an unverified one.
            store.find_user_by_login(&email).await?.filter(|u| u.email.as_deref() == Some(email.as_str()) && u.email_verified)
        }
    };
    match user {
        Some(u) if !u.blocked => Ok(u.user_id),
        Some(_) => Err(fail("the user is blocked".into())),
        None => Err(fail(format!("no user matches the JWT sub by {}", jwt.issuer.subject_mapping.as_str()))),
    }
}

fn invalid_grant(why: String) -> Error {
    Error::invalid_grant(why)
}

pub async fn exchange(ctx: &TokenContext<'_>, params: &Params, auth: &AuthenticatedClient) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    // RFC 7523 §2.1: the assertion parameter holds a single JWT.
    let assertion = params.get("assertion").ok_or_else(|| Error::invalid_request("assertion is required"))?;
    let jwt = verify_trusted_jwt(ctx, client, assertion, invalid_grant).await?;
    let claims = &jwt.jws.claims;
    // RFC 7523 §3 (3): aud MUST identify the authorization server (issuer or token endpoint).
    let token_endpoint = routes::url(ctx.issuer, routes::TOKEN);
    let accepted = |a: &str| a == ctx.issuer || a == ctx.issuer.trim_end_matches('/') || a == token_endpoint;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => accepted(a),
        Some(Value::Array(list)) => list.iter().any(|v| v.as_str().is_some_and(accepted)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid_grant("the assertion aud does not name this authorization server".into()));
    }
    // RFC 7523 §3 (4) lets the server refuse an `exp` unreasonably far in the future: the
    // same `[client_assertions] max_lifetime` as client assertions.
    let issued_at = claims.get("iat").and_then(Value::as_i64).unwrap_or(ctx.now);
    let max = ctx.assertion_limits.max_lifetime;
    if jwt.exp - issued_at > max {
        return Err(invalid_grant(format!("the assertion lifetime {} s exceeds the maximum {max} s", jwt.exp - issued_at)));
    }
    let subject = map_subject(ctx, client, &jwt, invalid_grant).await?;
    let (api, scope) = super::client_credentials::granted_api_and_scope(ctx, params, client).await?;
    let jkt = super::dpop_binding(ctx, client, Some(api.as_ref()))?;
    // RFC 7523 §3 (7): a jti is used once; every node shares the cache (DESIGN decision 9).
    // Tessera requires one, so an assertion can never be replayed. Checked last, after
    // everything that could refuse the request, so a refused request does not burn it.
    let jti = claims.get("jti").and_then(Value::as_str).ok_or_else(|| invalid_grant("the assertion has no jti".into()))?;
    let key = format!("{}:{jti}", jwt.issuer.issuer);
    if !ctx.registry.store().remember_jti(JTI_NAMESPACE, &key, jwt.exp + ctx.assertion_limits.leeway, ctx.now).await? {
        return Err(invalid_grant(format!("the assertion jti '{jti}' was already used")));
    }
    let access = sign_access_token(
        &*ctx.signer(api.signing_alg)?,
        &AccessTokenSpec {
            issuer: ctx.issuer,
            subject: &subject,
            client_id: &client.client_id,
            audience: Some(&api.identifier),
            scope: &scope,
            now: ctx.now,
            lifetime: api.token_lifetime,
            auth_time: None,
            gty: Some("jwt-bearer"),
            jkt: jkt.as_deref(),
        },
    );
    Ok(TokenResponse {
        access_token: access.token,
        refresh_token: None,
        id_token: None,
        token_type: super::token_type(jkt.as_deref()),
        expires_in: api.token_lifetime,
        scope: scope.to_string(),
        issued_token_type: None,
    })
}
