//! `grant_type=http://auth0.com/oauth/grant-type/passwordless/otp` (Auth0 "Authenticate
//! User" for passwordless): `realm=email`, `username` (the address) and `otp` (the code
//! `/passwordless/start` emailed), with `scope` and `audience` as the code flow has them.
//!
//! - The code row counts the guess before the code is compared (one atomic increment), so
//!   at most `max_attempts` guesses are ever compared; then the code is dead.
//! - A right code is consumed by one conditional UPDATE in the transaction that records
//!   the tokens issued from it: single use, also under parallel requests.
//! - Every failure answers Auth0's `invalid_grant` "Wrong email or verification code."
//!   (unknown address, wrong, expired or used code alike), except the attempt limit, which
//!   Auth0 names.
//! - The user is the one with that address, or a new user of the `email` connection
//!   (`email|...`, email verified), as Auth0 creates passwordless users on first login.

use super::{new_family, FamilyGrant, Params, TokenContext, TokenResponse};
use crate::client_auth::AuthenticatedClient;
use crate::crypto::ct_eq;
use crate::error::Error;
use crate::model::{GrantType, ResourceServer, SigningAlg, User, UserPatch, PASSWORDLESS_CONNECTION};
use crate::scope::Scope;
use crate::state::{AccessTokenRecord, Issuance};
use crate::tickets::otp_key;
use crate::tokens::claims::{sign_access_token, sign_id_token, AccessTokenSpec, IdTokenSpec};

/// Auth0's answer to any wrong, unknown, expired or used code.
pub const WRONG_CODE: &str = "Wrong email or verification code.";
/// Auth0's answer once the code's attempts are used up.
pub const TOO_MANY_ATTEMPTS: &str = "You've reached the maximum number of attempts. Please try to login again.";

pub async fn exchange(
    ctx: &TokenContext<'_>,
    params: &Params,
    auth: &AuthenticatedClient,
    max_attempts: i64,
) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    let store = ctx.registry.store();
    let realm = params.get("realm").ok_or_else(|| Error::invalid_request("Missing required parameter: realm"))?;
    if realm != PASSWORDLESS_CONNECTION {
        return Err(Error::invalid_request(format!("realm must be \"{PASSWORDLESS_CONNECTION}\" (the email connection)")));
    }
    let email = params.get("username").ok_or_else(|| Error::invalid_request("Missing required parameter: username"))?;
    let email = email.trim().to_ascii_lowercase();
    let otp = params.get("otp").ok_or_else(|| Error::invalid_request("Missing required parameter: otp"))?;
    let keyring = ctx.registry.keyring();
    let key = keyring.hash_handle(&otp_key(&client.client_id, &email));

    let Some(code) = store.count_otp_attempt(&key, max_attempts, ctx.now).await? else {
        let row = store.get_ticket(&key).await?;
        let exhausted = row.is_some_and(|t| t.consumed_at.is_none() && t.expires_at > ctx.now && t.attempts >= max_attempts);
        return Err(Error::invalid_grant(if exhausted { TOO_MANY_ATTEMPTS } else { WRONG_CODE }));
    };
    let code_hash = keyring.hash_handle(otp.trim());
    if !code.code_hash.as_deref().is_some_and(|h| ct_eq(h.as_bytes(), code_hash.as_bytes())) {
        return Err(Error::invalid_grant(WRONG_CODE));
    }

    let user = find_or_create_user(ctx.registry, &email, ctx.now).await?;
    if user.blocked {
        return Err(Error::invalid_grant("user is blocked"));
    }
    let audience = match params.get("audience") {
        Some(a) => Some(a.clone()),
        None => ctx.registry.default_audience().await?,
    };
    let api = match &audience {
        Some(aud) => Some(
            ctx.registry
                .api_by_identifier(aud)
                .await?
                .ok_or_else(|| Error::access_denied(format!("Service not enabled within domain: {aud}")))?,
        ),
        None => None,
    };
    // As the code flow: the requested scope (default `openid`, the scope asked at
    // /passwordless/start otherwise) minus what the client or API does not allow.
    let requested = params.get("scope").cloned().or(code.scope.clone()).unwrap_or_else(|| "openid".into());
    let scope = crate::authorize::check_scope::grant(&Scope::parse(&requested)?, client, api.as_deref());
    let jkt = super::dpop_binding(ctx, client, api.as_deref())?;
    let alg = api.as_ref().map_or(SigningAlg::RS256, |a| a.signing_alg);
    let lifetime = api.as_ref().map_or(ResourceServer::DEFAULT_TOKEN_LIFETIME, |a| a.token_lifetime);
    let access = sign_access_token(
        &*ctx.signer(alg)?,
        &AccessTokenSpec {
            issuer: ctx.issuer,
            subject: &user.user_id,
            client_id: &client.client_id,
            audience: audience.as_deref(),
            scope: &scope,
            now: ctx.now,
            lifetime,
            auth_time: Some(ctx.now),
            gty: None,
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
                        user: &user,
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
    let wants_refresh = scope.contains("offline_access") && client.allows_grant(GrantType::RefreshToken);
    let family_jkt = if client.is_public() { jkt.clone() } else { None };
    let scope_text = scope.to_string();
    let grant = FamilyGrant {
        client_id: &client.client_id,
        user_id: &user.user_id,
        scope: &scope_text,
        audience: audience.as_deref(),
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
    // Losing this race means a parallel request redeemed the code (or it just expired).
    if !store.redeem_otp(&key, &code_hash, ctx.now, &issuance).await? {
        return Err(Error::invalid_grant(WRONG_CODE));
    }
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

/// The user with this address, or a new passwordless user (`email|<id>`, verified: the
/// code or link proved the mailbox). A user created concurrently by a parallel first login
/// is found on the retry of the lookup.
pub async fn find_or_create_user(registry: &crate::registry::Registry, email: &str, now: i64) -> Result<User, Error> {
    let store = registry.store();
    if let Some(u) = store.find_user_by_login(email).await? {
        return Ok(u);
    }
    let patch = UserPatch { email: Some(email.to_string()), email_verified: Some(true), ..Default::default() };
    let user = User::create(format!("email|{}", crate::crypto::random_hex::<12>()), patch, now)?;
    match store.insert_user(&user).await {
        Ok(()) => {
            registry.record("user_created", None, Some(&user.user_id), serde_json::json!({"connection": "email"})).await;
            Ok(user)
        }
        Err(crate::store::StoreError::Conflict(_)) => {
            store.find_user_by_login(email).await?.ok_or_else(|| Error::server_error("passwordless user vanished"))
        }
        Err(e) => Err(e.into()),
    }
}
