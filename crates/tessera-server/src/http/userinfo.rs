//! `GET /userinfo` and `POST /userinfo` (OIDC Core §5.3): the user's claims, per scope
//! granted to the access token (§5.4), with `sub` always.
//!
//! - The token is found and checked as at every protected resource ([`super::bearer`]:
//!   RFC 6750 §2, RFC 9449 §7); here it may also come as the `access_token` form field.
//! - RFC 6750 §3.1: no token → 401 with bare challenges; an expired, revoked, forged or
//!   wrong-audience token → 401 `invalid_token`; a token without `openid` → 403
//!   `insufficient_scope`.
//! - Cross-origin reads are allowed (`Access-Control-Allow-Origin: *`, see [`super::cors`]):
//!   SPAs call this with a header token, never with cookies.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tessera_core::model::User;
use tessera_core::scope::Scope;
use tessera_core::tokens::claims::{userinfo_audience, UserClaims, UserInfo};
use tessera_core::{routes, Error, ErrorCode};

use super::bearer::{self, invalid_token, presented_token, Authorized, Refusal};
use super::dpop;
use super::error::{missing_access_token, resource_error, TokenScheme};
use crate::app::AppState;

/// The user `token` speaks for and the scope it was granted (which decides the claims
/// released), and the DPoP nonce for the response (if nonces are in use).
async fn claims(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    scheme: TokenScheme,
    token: &str,
) -> Result<(User, Scope, Option<String>), Refusal> {
    let audience = userinfo_audience(&state.issuer);
    let Authorized { token: verified, dpop_nonce: nonce } =
        bearer::authorize(state, method, headers, routes::USERINFO, &audience, scheme, token).await?;
    if !verified.scope.contains("openid") {
        return Err(Refusal(
            Error::new(ErrorCode::InsufficientScope, "the access token was not granted the openid scope"),
            nonce,
        ));
    }
    let user = state.deployment.store.get_user(&verified.sub).await?.filter(|u| !u.blocked);
    let Some(user) = user else {
        return Err(Refusal(invalid_token("the user of this access token no longer has access"), nonce));
    };
    Ok((user, verified.scope, nonce))
}

pub async fn userinfo(State(state): State<AppState>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    match presented_token(&method, &headers, Some(&body)) {
        Err(e) => resource_error(e, TokenScheme::Bearer, None),
        Ok(None) => missing_access_token(),
        Ok(Some((scheme, token))) => match claims(&state, &method, &headers, scheme, &token).await {
            Ok((user, scope, nonce)) => {
                let info = UserInfo { sub: &user.user_id, claims: UserClaims::of(&user, &scope) };
                let mut r = dpop::with_nonce(Json(info).into_response(), nonce);
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }
            Err(Refusal(e, nonce)) => resource_error(e, scheme, nonce),
        },
    }
}
