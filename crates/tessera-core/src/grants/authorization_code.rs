//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6, RFC 9700 §2.1.1, §4.5).

use serde_json::json;

use super::{check_target, new_family, FamilyGrant, Params, TokenContext, TokenResponse};
use crate::client_auth::AuthenticatedClient;
use crate::error::Error;
use crate::model::{GrantType, SigningAlg};
use crate::pkce;
use crate::scope::Scope;
use crate::state::{AccessTokenRecord, AuthorizationCode, Issuance};
use crate::tokens::claims::{sign_access_token, sign_id_token, AccessTokenSpec, IdTokenSpec};

fn invalid_grant(why: &'static str) -> Error {
    Error::invalid_grant(why)
}

pub async fn exchange(ctx: &TokenContext<'_>, params: &Params, auth: &AuthenticatedClient) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    let store = ctx.registry.store();
    let code_value = params.get("code").ok_or_else(|| Error::invalid_request("code is required"))?;
    let code_hash = ctx.registry.keyring().hash_handle(code_value);

    // RFC 6749 §4.1.3: ensure the code was issued to the authenticated client and is valid.
    let (code, user) =
        store.get_code_and_user(&code_hash).await?.ok_or_else(|| invalid_grant("the authorization code is invalid"))?;
    if code.client_id != client.client_id {
        return Err(invalid_grant("the authorization code is invalid")
            .with_detail(format!("code of client {} presented by {}", code.client_id, client.client_id)));
    }
    // RFC 6749 §4.1.2: a code used more than once is refused and, the presenting client being
    // its owner, every token issued from it is revoked.
    if code.consumed_at.is_some() {
        return Err(reuse(ctx, &code).await);
    }
    if code.expires_at <= ctx.now {
        return Err(invalid_grant("the authorization code has expired"));
    }
    check_redirect_uri(params, &code, &client.callbacks)?;
    check_pkce(params, &code)?;
    check_target(params, code.audience.as_deref())?;
    // RFC 9449 §10: a code bound with dpop_jkt at /authorize is redeemable only with a
    // proof from that key.
    if let Some(bound) = &code.dpop_jkt {
        if ctx.dpop.map(|p| &p.jkt) != Some(bound) {
            return Err(invalid_grant("the DPoP proof key does not match the dpop_jkt of the authorization request"));
        }
    }

    let user = user.ok_or_else(|| invalid_grant("the user no longer exists"))?;
    if user.blocked {
        return Err(invalid_grant("the user is blocked"));
    }
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

    // Sign everything first; nothing is returned unless the consumption below commits.
    let alg = api.as_ref().map_or(SigningAlg::RS256, |a| a.signing_alg);
    let lifetime = api.as_ref().map_or(crate::model::ResourceServer::DEFAULT_TOKEN_LIFETIME, |a| a.token_lifetime);
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
            auth_time: Some(code.auth_time),
            gty: None,
            jkt: jkt.as_deref(),
        },
    );
    let id_token = scope.contains("openid").then(|| {
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
                    auth_time: code.auth_time,
                    nonce: code.nonce.as_deref(),
                    sid: code.sid.as_deref(),
                    access_token: Some(&access.token),
                },
            )
        })
    });
    let id_token = id_token.transpose()?;
    // A refresh token only with offline_access, for a client allowed the refresh grant and
    // an API that allows offline access (Auth0).
    let wants_refresh = scope.contains("offline_access")
        && client.allows_grant(GrantType::RefreshToken)
        && api.as_ref().is_none_or(|a| a.allow_offline_access);
    // RFC 9449 §5: refresh tokens of public clients are bound to the proof key; those of
    // confidential clients are bound by client authentication instead.
    let family_jkt = if client.is_public() { jkt.clone() } else { None };
    let grant = FamilyGrant {
        client_id: &code.client_id,
        user_id: &code.user_id,
        scope: &code.scope,
        audience: code.audience.as_deref(),
        nonce: code.nonce.as_deref(),
        auth_time: code.auth_time,
        sid: code.sid.as_deref(),
    };
    let refresh = wants_refresh.then(|| new_family(ctx, grant, &client.refresh_token, family_jkt));

    let issuance = Issuance {
        access_token: AccessTokenRecord {
            jti: access.jti.clone(),
            client_id: client.client_id.clone(),
            family_id: refresh.as_ref().map(|(_, f, _)| f.family_id.clone()),
            code_hash: Some(code_hash.clone()),
            expires_at: access.expires_at,
        },
        refresh: refresh.as_ref().map(|(_, f, t)| (f.clone(), t.clone())),
    };
    // One conditional UPDATE consumes the code, in the same transaction as the records of
    // what it issued. Losing a race here means another request redeemed it: that is reuse.
    if !store.redeem_code(&code_hash, ctx.now, &issuance).await? {
        let now_code = store.get_code(&code_hash).await?.unwrap_or(code);
        if now_code.consumed_at.is_some() {
            return Err(reuse(ctx, &now_code).await);
        }
        return Err(invalid_grant("the authorization code has expired"));
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

/// RFC 6749 §4.1.3: redirect_uri is required if it was included in the authorization request,
/// and must be identical. When /authorize defaulted to the single registered URI, a
/// redirect_uri sent now must be that one.
fn check_redirect_uri(params: &Params, code: &AuthorizationCode, callbacks: &[String]) -> Result<(), Error> {
    let sent = params.get("redirect_uri");
    match (&code.redirect_uri, sent) {
        (Some(expected), Some(sent)) if expected == sent => Ok(()),
        (Some(_), Some(_)) => Err(invalid_grant("redirect_uri does not match the authorization request")),
        (Some(_), None) => Err(invalid_grant("redirect_uri is required: it was sent to /authorize")),
        (None, Some(sent)) if callbacks.len() == 1 && &callbacks[0] == sent => Ok(()),
        (None, Some(_)) => Err(invalid_grant("redirect_uri does not match the authorization request")),
        (None, None) => Ok(()),
    }
}

/// RFC 7636 §4.6 and RFC 9700 §2.1.1 (PKCE downgrade): a stored challenge needs a matching
/// verifier; a verifier without a stored challenge is refused.
fn check_pkce(params: &Params, code: &AuthorizationCode) -> Result<(), Error> {
    match (&code.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let method = code.code_challenge_method.as_deref().unwrap_or("S256");
            if !pkce::is_valid_verifier(verifier) {
                return Err(invalid_grant("code_verifier must be 43 to 128 unreserved characters (RFC 7636)"));
            }
            if pkce::verify(challenge, method, verifier) {
                Ok(())
            } else {
                Err(invalid_grant("code_verifier does not match the code_challenge"))
            }
        }
        (Some(_), None) => Err(invalid_grant("code_verifier is required: a code_challenge was sent to /authorize")),
        (None, Some(_)) => Err(invalid_grant("code_verifier was sent but no code_challenge was sent to /authorize")),
        (None, None) => Ok(()),
    }
}

/// Revokes what the code issued and records the event; returns the error to answer with.
async fn reuse(ctx: &TokenContext<'_>, code: &AuthorizationCode) -> Error {
    let revoked = ctx.registry.store().revoke_code_grant(&code.code_hash, ctx.now).await;
    ctx.registry
        .record(
            "authorization_code_reuse",
            Some(&code.client_id),
            Some(&code.user_id),
            json!({"family_id": code.family_id, "revoked": revoked.is_ok()}),
        )
        .await;
    match revoked {
        Ok(()) => invalid_grant("the authorization code was already used"),
        Err(e) => Error::from(e),
    }
}
