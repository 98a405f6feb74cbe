//! `grant_type=refresh_token` (RFC 6749 §6; RFC 9700 §4.14; OAuth 2.1 §4.3).
//!
//! Rotation (per client, as Auth0 has it): each use of a rotating token returns a successor
//! in the same family. Inside the client's `leeway`, the immediately previous token may be
//! presented again and yields the **same** successor (a retry after a lost response, not a
//! new branch). Any other superseded token is reuse: the whole family is revoked
//! (RFC 9700 §4.14.2).

use serde_json::json;

use super::{Params, TokenContext, TokenResponse};
use crate::client_auth::AuthenticatedClient;
use crate::crypto::ordered_handle;
use crate::error::Error;
use crate::model::{Client, ResourceServer, RotationType, SigningAlg, User};
use crate::scope::Scope;
use crate::state::{AccessTokenRecord, RefreshFamily, RefreshTokenRecord};
use crate::tokens::claims::{sign_access_token, sign_id_token, AccessTokenSpec, IdTokenSpec};

fn invalid_grant(why: &'static str) -> Error {
    Error::invalid_grant(why)
}

fn successor_context(old_hash: &str) -> String {
    format!("refresh-successor:{old_hash}")
}

pub async fn exchange(ctx: &TokenContext<'_>, params: &Params, auth: &AuthenticatedClient) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    let store = ctx.registry.store();
    let presented = params.get("refresh_token").ok_or_else(|| Error::invalid_request("refresh_token is required"))?;
    let hash = ctx.registry.keyring().hash_handle(presented);
    let (token, family, user) =
        store.get_refresh_token_and_user(&hash).await?.ok_or_else(|| invalid_grant("the refresh token is invalid"))?;

    // RFC 6749 §6: the refresh token must have been issued to the authenticated client.
    if family.client_id != client.client_id {
        return Err(invalid_grant("the refresh token is invalid").with_detail("refresh token of another client"));
    }
    if family.revoked_at.is_some() {
        return Err(invalid_grant("the refresh token has been revoked"));
    }
    if family.absolute_expires_at <= ctx.now {
        return Err(invalid_grant("the refresh token has expired"));
    }
    check_dpop_binding(ctx, &family)?;
    if token.superseded_at.is_some() {
        return retry_or_reuse(ctx, params, client, &token, &family, user).await;
    }
    if token.idle_expires_at <= ctx.now {
        return Err(invalid_grant("the refresh token has expired (unused for too long)"));
    }
    let (api, scope, user) = check_scope_and_user(ctx, params, &family, user).await?;
    let rotating = client.refresh_token.rotation_type == RotationType::Rotating;
    let issued = issue(ctx, client, &family, &user, api.as_deref(), &scope).await?;
    let access_record = AccessTokenRecord {
        jti: issued.jti.clone(),
        client_id: client.client_id.clone(),
        family_id: Some(family.family_id.clone()),
        code_hash: None,
        expires_at: issued.expires_at,
    };
    let idle_until = (ctx.now + client.refresh_token.idle_token_lifetime).min(family.absolute_expires_at);
    if !rotating {
        if !store.use_refresh_token(&hash, ctx.now, idle_until, &access_record).await? {
            return Err(invalid_grant("the refresh token is no longer valid"));
        }
        return Ok(issued.response(None));
    }
    let successor_plain = ordered_handle();
    let successor = RefreshTokenRecord {
        token_hash: ctx.registry.keyring().hash_handle(&successor_plain),
        family_id: family.family_id.clone(),
        generation: token.generation + 1,
        created_at: ctx.now,
        idle_expires_at: idle_until,
        superseded_at: None,
        successor_hash: None,
        successor_token: None,
    };
    // Only keep the successor (encrypted) when a retry may need it.
    let sealed = (client.refresh_token.leeway > 0)
        .then(|| ctx.registry.keyring().encrypt(&successor_context(&hash), successor_plain.as_bytes()));
    if store.rotate_refresh_token(&hash, ctx.now, &successor, sealed.as_deref(), &access_record).await? {
        return Ok(issued.response(Some(successor_plain)));
    }
    // Lost the compare-and-set: a concurrent request rotated this token first (or the
    // family was revoked meanwhile). Decide as for any superseded token.
    let (token, family, user) =
        store.get_refresh_token_and_user(&hash).await?.ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
    if family.revoked_at.is_some() {
        return Err(invalid_grant("the refresh token has been revoked"));
    }
    if token.superseded_at.is_none() {
        return Err(invalid_grant("the refresh token is no longer valid"));
    }
    retry_or_reuse(ctx, params, client, &token, &family, user).await
}

/// A superseded token: the same successor inside the reuse interval when this token is the
/// immediately previous one; otherwise reuse detection revokes the family.
async fn retry_or_reuse(
    ctx: &TokenContext<'_>,
    params: &Params,
    client: &Client,
    token: &RefreshTokenRecord,
    family: &RefreshFamily,
    user: Option<User>,
) -> Result<TokenResponse, Error> {
    let store = ctx.registry.store();
    let within_leeway = token.superseded_at.is_some_and(|at| ctx.now < at + client.refresh_token.leeway);
    if within_leeway {
        if let (Some(succ_hash), Some(sealed)) = (&token.successor_hash, &token.successor_token) {
            let head = store.get_refresh_token(succ_hash).await?;
            let successor_is_head = head.as_ref().is_some_and(|(t, _)| t.superseded_at.is_none());
            if successor_is_head {
                let plain = ctx.registry.keyring().decrypt(&successor_context(&token.token_hash), sealed)?;
                let plain = String::from_utf8(plain).map_err(|_| Error::server_error("successor token is not UTF-8"))?;
                let (api, scope, user) = check_scope_and_user(ctx, params, family, user).await?;
                let issued = issue(ctx, client, family, &user, api.as_deref(), &scope).await?;
                // RFC 7009 §2.1: revoking the grant also invalidates the access tokens based
                // on it, so the retry's access token is recorded with the family like any
                // other (under the family's lock, so a concurrent revocation is ordered
                // before it, and then nothing is issued, or after it, and then it dies too).
                let access_record = AccessTokenRecord {
                    jti: issued.jti.clone(),
                    client_id: client.client_id.clone(),
                    family_id: Some(family.family_id.clone()),
                    code_hash: None,
                    expires_at: issued.expires_at,
                };
                let head_idle = head.as_ref().map_or(ctx.now, |(t, _)| t.idle_expires_at);
                if !store.use_refresh_token(succ_hash, ctx.now, head_idle, &access_record).await? {
                    return Err(invalid_grant("the refresh token is no longer valid"));
                }
                return Ok(issued.response(Some(plain)));
            }
        }
    }
    store.revoke_family(&family.family_id, ctx.now, "refresh_token_reuse").await?;
    ctx.registry
        .record(
            "refresh_token_reuse_detected",
            Some(&family.client_id),
            Some(&family.user_id),
            json!({"family_id": family.family_id, "generation": token.generation}),
        )
        .await;
    Err(invalid_grant("the refresh token was already used; the token family has been revoked"))
}

/// RFC 9449 §5: a refresh token bound to a key needs a proof from that key.
fn check_dpop_binding(ctx: &TokenContext<'_>, family: &RefreshFamily) -> Result<(), Error> {
    match (&family.dpop_jkt, ctx.dpop) {
        (Some(bound), Some(p)) if &p.jkt == bound => Ok(()),
        (Some(_), Some(_)) => Err(invalid_grant("the DPoP proof key does not match the key the refresh token is bound to")),
        (Some(_), None) => Err(invalid_grant("the refresh token is DPoP-bound: a DPoP proof is required")),
        (None, _) => Ok(()),
    }
}

/// The family's API still exists; the user (read with the token) exists and is not
/// blocked; a `scope` parameter may only narrow (RFC 6749 §6: must not include any scope
/// not originally granted).
async fn check_scope_and_user(
    ctx: &TokenContext<'_>,
    params: &Params,
    family: &RefreshFamily,
    user: Option<User>,
) -> Result<(Option<std::sync::Arc<ResourceServer>>, Scope, User), Error> {
    let granted = Scope::parse(&family.scope)?;
    let scope = match params.get("scope") {
        Some(s) => {
            let asked = Scope::parse(s)?;
            if !asked.is_subset(&granted) {
                return Err(Error::invalid_scope("the requested scope exceeds the scope originally granted"));
            }
            asked
        }
        None => granted,
    };
    super::check_target(params, family.audience.as_deref())?;
    let api = match &family.audience {
        Some(aud) => Some(
            ctx.registry
                .api_by_identifier(aud)
                .await?
                .ok_or_else(|| Error::access_denied(format!("Service not enabled within domain: {aud}")))?,
        ),
        None => None,
    };
    match user {
        Some(user) if !user.blocked => Ok((api, scope, user)),
        _ => Err(invalid_grant("the user is blocked or no longer exists")),
    }
}

struct Issued {
    token_type: &'static str,
    access_token: String,
    id_token: Option<String>,
    jti: String,
    expires_at: i64,
    lifetime: i64,
    scope: String,
}

impl Issued {
    fn response(self, refresh_token: Option<String>) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token,
            refresh_token,
            id_token: self.id_token,
            token_type: self.token_type,
            expires_in: self.lifetime,
            scope: self.scope,
            issued_token_type: None,
        }
    }
}

/// A new access token, and a new ID token when `openid` is in scope (OIDC Core §12.2: same
/// `sub`, `auth_time` of the original authentication).
async fn issue(
    ctx: &TokenContext<'_>,
    client: &Client,
    family: &RefreshFamily,
    user: &User,
    api: Option<&ResourceServer>,
    scope: &Scope,
) -> Result<Issued, Error> {
    let alg = api.map_or(SigningAlg::RS256, |a| a.signing_alg);
    let lifetime = api.map_or(ResourceServer::DEFAULT_TOKEN_LIFETIME, |a| a.token_lifetime);
    let jkt = super::dpop_binding(ctx, client, api)?;
    let access = sign_access_token(
        &*ctx.signer(alg)?,
        &AccessTokenSpec {
            issuer: ctx.issuer,
            subject: &family.user_id,
            client_id: &client.client_id,
            audience: family.audience.as_deref(),
            scope,
            now: ctx.now,
            lifetime,
            auth_time: Some(family.auth_time),
            gty: None,
            jkt: jkt.as_deref(),
        },
    );
    let id_token = if scope.contains("openid") {
        Some(sign_id_token(
            &*ctx.signer(client.id_token_signed_response_alg)?,
            &IdTokenSpec {
                issuer: ctx.issuer,
                user,
                client_id: &client.client_id,
                scope,
                now: ctx.now,
                lifetime: ctx.id_token_lifetime,
                auth_time: family.auth_time,
                nonce: None,
                sid: family.sid.as_deref(),
                access_token: Some(&access.token),
            },
        ))
    } else {
        None
    };
    Ok(Issued {
        token_type: super::token_type(jkt.as_deref()),
        access_token: access.token,
        id_token,
        jti: access.jti,
        expires_at: access.expires_at,
        lifetime,
        scope: scope.to_string(),
    })
}
