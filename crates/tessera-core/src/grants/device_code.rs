//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4-3.5): the
//! device polls with its `device_code` until the user decides on `/activate`.
//!
//! Before the decision a poll is one indexed read and no write (DESIGN decision 10's
//! spirit, issue 20): its pace is judged in memory ([`crate::device::polls`]). The first
//! poll after approval gets tokens exactly as the code flow issues them (access token for
//! the audience, ID token with `openid`, refresh token with `offline_access`), and one
//! conditional UPDATE consumes the device code in the transaction that records them, so
//! of two parallel polls exactly one gets tokens.

use super::{new_family, FamilyGrant, Params, TokenContext, TokenResponse};
use crate::client_auth::AuthenticatedClient;
use crate::error::{Error, ErrorCode};
use crate::model::{GrantType, ResourceServer, SigningAlg};
use crate::scope::Scope;
use crate::state::{AccessTokenRecord, DeviceCode, DeviceStatus, Issuance};
use crate::tokens::claims::{sign_access_token, sign_id_token, AccessTokenSpec, IdTokenSpec};

pub async fn exchange(ctx: &TokenContext<'_>, params: &Params, auth: &AuthenticatedClient) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    let store = ctx.registry.store();
    let value = params.get("device_code").ok_or_else(|| Error::invalid_request("device_code is required"))?;
    let hash = ctx.registry.keyring().hash_handle(value);
    let (code, user) =
        store.get_device_code_and_user(&hash).await?.ok_or_else(|| Error::invalid_grant("the device code is invalid"))?;
    // RFC 6749 §5.2 invalid_grant (RFC 8628 §3.5 defers to it): a device code issued to
    // another client is as good as none.
    if code.client_id != client.client_id {
        return Err(Error::invalid_grant("the device code is invalid")
            .with_detail(format!("device code of client {} presented by {}", code.client_id, client.client_id)));
    }
    if code.consumed_at.is_some() {
        return Err(Error::invalid_grant("the device code was already used"));
    }
    // RFC 8628 §3.5 expired_token: the device code has expired; the client may start over.
    if code.expires_at <= ctx.now {
        return Err(Error::new(ErrorCode::ExpiredToken, "the device code has expired"));
    }
    match code.status {
        // RFC 8628 §3.5 access_denied: the user denied the authorization request.
        DeviceStatus::Denied => Err(Error::access_denied("the user denied the authorization request")),
        DeviceStatus::Pending => {
            // RFC 8628 §3.5 slow_down: still pending, but the client polls too fast.
            ctx.registry.device_polls().poll(&hash, ctx.now, code.interval, code.expires_at)?;
            // RFC 8628 §3.5 authorization_pending: the user has not decided yet.
            Err(Error::new(ErrorCode::AuthorizationPending, "the user has not yet approved the request"))
        }
        DeviceStatus::Approved => {
            // RFC 8707 §2.2: a resource at the token endpoint may only repeat the one the
            // user approved.
            super::check_target(params, code.audience.as_deref())?;
            let user = user.ok_or_else(|| Error::invalid_grant("the user no longer exists"))?;
            if user.blocked {
                return Err(Error::invalid_grant("the user is blocked"));
            }
            let response = issue(ctx, auth, &code, &user).await?;
            ctx.registry.device_polls().forget(&hash);
            Ok(response)
        }
    }
}

async fn issue(
    ctx: &TokenContext<'_>,
    auth: &AuthenticatedClient,
    code: &DeviceCode,
    user: &crate::model::User,
) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    let api = match &code.audience {
        Some(aud) => Some(
            ctx.registry
                .api_by_identifier(aud)
                .await?
                .ok_or_else(|| Error::access_denied(format!("Service not enabled within domain: {aud}")))?,
        ),
        None => None,
    };
    let scope = Scope::parse(&code.scope)?;
    let jkt = super::dpop_binding(ctx, client, api.as_deref())?;
    let auth_time = code.auth_time.unwrap_or(ctx.now);
    let alg = api.as_ref().map_or(SigningAlg::RS256, |a| a.signing_alg);
    let lifetime = api.as_ref().map_or(ResourceServer::DEFAULT_TOKEN_LIFETIME, |a| a.token_lifetime);
    let access = sign_access_token(
        &*ctx.signer(alg)?,
        &AccessTokenSpec {
            issuer: ctx.issuer,
            subject: &user.user_id,
            client_id: &client.client_id,
            audience: code.audience.as_deref(),
            scope: &scope,
            now: ctx.now,
            lifetime,
            auth_time: Some(auth_time),
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
                        user,
                        client_id: &client.client_id,
                        scope: &scope,
                        now: ctx.now,
                        lifetime: ctx.id_token_lifetime,
                        auth_time,
                        nonce: None,
                        sid: code.sid.as_deref(),
                        access_token: Some(&access.token),
                    },
                )
            })
        })
        .transpose()?;
    // As in the code flow: a refresh token only with offline_access, for a client allowed
    // the refresh grant and an API that allows offline access (Auth0).
    let wants_refresh = scope.contains("offline_access")
        && client.allows_grant(GrantType::RefreshToken)
        && api.as_ref().is_none_or(|a| a.allow_offline_access);
    // RFC 9449 §5: refresh tokens of public clients are bound to the proof key.
    let family_jkt = if client.is_public() { jkt.clone() } else { None };
    let grant = FamilyGrant {
        client_id: &code.client_id,
        user_id: &user.user_id,
        scope: &code.scope,
        audience: code.audience.as_deref(),
        nonce: None,
        auth_time,
        sid: code.sid.as_deref(),
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
    // One conditional UPDATE consumes the device code with the records of what it issued;
    // losing it means a parallel poll got the tokens (or the code just expired).
    if !ctx.registry.store().redeem_device_code(&code.device_code_hash, ctx.now, &issuance).await? {
        return Err(Error::invalid_grant("the device code was already used"));
    }
    Ok(TokenResponse {
        access_token: access.token,
        refresh_token: refresh.map(|(plain, _, _)| plain),
        id_token,
        token_type: super::token_type(jkt.as_deref()),
        expires_in: lifetime,
        scope: scope.to_string(),
        issued_token_type: None,
    })
}
