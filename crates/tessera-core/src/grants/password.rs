//! `grant_type=password` (RFC 6749 §4.3), as Auth0 serves it: the client sends the user's
//! `username` and `password` and gets the tokens the code flow would give.
//!
//! - Off unless the deployment enables it and the client lists the grant (checked by the
//!   caller); first-party clients only (Auth0: the grant is for highly trusted apps).
//! - Behind the hosted login page's brute-force limits ([`crate::login`]): the same
//!   counters, each attempt counted atomically before the slow hash, so the two ways in
//!   share one allowance. A blocked user fails like a wrong password, as on the login page.
//! - `audience`/`resource` and `scope` are judged as at /authorize; without either target
//!   the tenant's default audience applies (Auth0). An ID token with `openid`, a refresh
//!   token with `offline_access`; no consent step (first-party clients only).
//! - RFC 6749 §4.3.2 / Auth0: wrong credentials are `invalid_grant`, "Wrong email or
//!   password."; too many failures are Auth0's `too_many_attempts`.

use async_trait::async_trait;

use super::{new_family, FamilyGrant, Params, TokenContext, TokenResponse};
use crate::client_auth::AuthenticatedClient;
use crate::error::{Error, ErrorCode};
use crate::login::{self, Begin, LoginPolicy, LoginResult};
use crate::model::{GrantType, ResourceServer, SigningAlg, User};
use crate::state::{AccessTokenRecord, Issuance};
use crate::tokens::claims::{sign_access_token, sign_id_token, AccessTokenSpec, IdTokenSpec};

/// Auth0's description for wrong credentials (and, here, for a blocked user too).
pub const WRONG_CREDENTIALS: &str = "Wrong email or password.";
/// Auth0's description when brute-force protection refuses the attempt.
pub const TOO_MANY_ATTEMPTS: &str = "Your account has been blocked after multiple consecutive login attempts. Try again later.";

/// Verifies a password against a PHC hash. The server runs it on its bounded pool of
/// hashing threads, off the async workers.
#[async_trait]
pub trait PasswordVerifier: Send + Sync {
    /// A match against an imported hash carries its Argon2id replacement, which
    /// [`login::Attempt::finish`] stores (the upgrade at login, issue 18).
    async fn verify(&self, password: String, phc: String) -> crate::password::Verified;
}

/// The login page's limits, the verifier and the caller's address (the throttle's keys).
pub struct ResourceOwnerContext<'a> {
    pub verifier: &'a dyn PasswordVerifier,
    pub policy: LoginPolicy,
    pub ip: &'a str,
}

pub async fn exchange(ctx: &TokenContext<'_>, params: &Params, auth: &AuthenticatedClient) -> Result<TokenResponse, Error> {
    exchange_as(ctx, params, auth, GrantType::Password).await
}

/// The password grants' shared steps, for `grant` (password or password-realm).
pub(super) async fn exchange_as(
    ctx: &TokenContext<'_>,
    params: &Params,
    auth: &AuthenticatedClient,
    grant: GrantType,
) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    // Auth0: the password grants are for first-party applications only; a third party
    // must never see the user's password.
    if !client.is_first_party {
        return Err(Error::new(
            ErrorCode::UnauthorizedClient,
            format!("Grant type '{}' not allowed for third-party clients.", grant.as_str()),
        ));
    }
    // RFC 6749 §4.3.2: username and password are required (Auth0's wording).
    let username = params.get("username").ok_or_else(|| Error::invalid_request("Missing required parameter: username"))?;
    let password = params.get("password").ok_or_else(|| Error::invalid_request("Missing required parameter: password"))?;
    let (scope, api) = scope_and_api(ctx, params, client).await?;
    let user = authenticate_user(ctx, &client.client_id, username, password).await?;
    issue(ctx, auth, &user, scope, api.as_deref()).await
}

/// The target and scope as /authorize judges them; Auth0: without `audience` (or
/// `resource`) the tenant's default audience is the target.
async fn scope_and_api(
    ctx: &TokenContext<'_>,
    params: &Params,
    client: &crate::model::Client,
) -> Result<(crate::scope::Scope, Option<std::sync::Arc<ResourceServer>>), Error> {
    let mut pairs: Vec<(String, String)> =
        ["scope", "audience", "resource"].iter().filter_map(|k| params.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
    if params.get("audience").is_none() && params.get("resource").is_none() {
        if let Some(default) = ctx.registry.default_audience().await? {
            pairs.push(("audience".into(), default));
        }
    }
    crate::authorize::scope_and_api(ctx.registry, &crate::authorize::Params::from_pairs(pairs), client).await
}

/// The login page's check: counted first, then the slow hash, then the outcome.
async fn authenticate_user(ctx: &TokenContext<'_>, client_id: &str, username: &str, password: &str) -> Result<User, Error> {
    let store = ctx.registry.store().as_ref();
    let ro = &ctx.resource_owner;
    let too_many = || Error::new(ErrorCode::TooManyAttempts, TOO_MANY_ATTEMPTS);
    let attempt = match login::begin(store, &ro.policy, username, ro.ip, Some(client_id), ctx.now).await? {
        Begin::Blocked { .. } => return Err(too_many()),
        Begin::Verify(attempt) => attempt,
    };
    let ok = ro.verifier.verify(password.to_string(), attempt.phc()).await;
    match attempt.finish(store, &ro.policy, ok, ctx.now).await? {
        LoginResult::Success(user) => Ok(*user),
        LoginResult::Failed => Err(Error::invalid_grant(WRONG_CREDENTIALS)),
        LoginResult::Blocked { .. } => Err(too_many()),
    }
}

/// The code flow's tokens for a user who just authenticated: access token, ID token with
/// `openid`, refresh token with `offline_access`, recorded in one transaction.
async fn issue(
    ctx: &TokenContext<'_>,
    auth: &AuthenticatedClient,
    user: &User,
    scope: crate::scope::Scope,
    api: Option<&ResourceServer>,
) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    let jkt = super::dpop_binding(ctx, client, api)?;
    let audience = api.map(|a| a.identifier.as_str());
    let alg = api.map_or(SigningAlg::RS256, |a| a.signing_alg);
    let lifetime = api.map_or(ResourceServer::DEFAULT_TOKEN_LIFETIME, |a| a.token_lifetime);
    let access = sign_access_token(
        &*ctx.signer(alg)?,
        &AccessTokenSpec {
            issuer: ctx.issuer,
            subject: &user.user_id,
            client_id: &client.client_id,
            audience,
            scope: &scope,
            now: ctx.now,
            lifetime,
            auth_time: Some(ctx.now),
            gty: Some("password"),
            jkt: jkt.as_deref(),
        },
    );
    let id_token = scope
        .contains("openid")
        .then(|| {
            ctx.signer(client.id_token_signed_response_alg).map(|key| {
                sign_id_token(
                    &key,
                    &IdTokenSpec {
                        issuer: ctx.issuer,
                        user,
                        client_id: &client.client_id,
                        scope: &scope,
                        now: ctx.now,
                        lifetime: ctx.id_token_lifetime,
                        auth_time: ctx.now,
                        nonce: None,
                        sid: None,
                        access_token: Some(&access.token),
                    },
                )
            })
        })
        .transpose()?;
    // As in the code flow: the granted scope has offline_access only for a client allowed
    // the refresh grant and an API that allows offline access.
    let wants_refresh = scope.contains("offline_access");
    // RFC 9449 §5: refresh tokens of public clients are bound to the proof key.
    let family_jkt = if client.is_public() { jkt.clone() } else { None };
    let scope_text = scope.to_string();
    let grant = FamilyGrant {
        client_id: &client.client_id,
        user_id: &user.user_id,
        scope: &scope_text,
        audience,
        nonce: None,
        auth_time: ctx.now,
        sid: None,
    };
    let refresh = wants_refresh.then(|| new_family(ctx, grant, &client.refresh_token, family_jkt));
    let issuance = Issuance {
        access_token: AccessTokenRecord {
            jti: access.jti.clone(),
            client_id: client.client_id.clone(),
            family_id: refresh.as_ref().map(|(_, f, _)| f.family_id.clone()),
            code_hash: None,
            expires_at: access.expires_at,
        },
        refresh: refresh.as_ref().map(|(_, f, t)| (f.clone(), t.clone())),
    };
    ctx.registry.store().record_issuance(&issuance).await?;
    Ok(TokenResponse {
        access_token: access.token,
        refresh_token: refresh.map(|(plain, _, _)| plain),
        id_token,
        token_type: super::token_type(jkt.as_deref()),
        expires_in: lifetime,
        scope: scope_text,
        issued_token_type: None,
    })
}
