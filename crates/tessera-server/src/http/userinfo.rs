//! `GET /userinfo` and `POST /userinfo` (OIDC Core §5.3): the user's claims, per scope
//! granted to the access token (§5.4), with `sub` always.
//!
//! - RFC 6750 §2.1 / §2.2: a Bearer token comes in the `Authorization` header or, on a
//!   POST, as the `access_token` form field; using both is `invalid_request` (§2). The query
//!   string is not accepted (§2.3 is a "SHOULD NOT" we make a "not").
//! - RFC 9449 §7.1: a DPoP-bound token (`cnf.jkt`) comes as `Authorization: DPoP <token>`
//!   with a `DPoP` proof for this request whose key is the token's and whose `ath` is the
//!   token's hash. §7.2: a bound token presented as a Bearer token is refused (no downgrade),
//!   and so is an unbound token presented with the DPoP scheme.
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
use tessera_core::authorize::Params;
use tessera_core::model::User;
use tessera_core::scope::Scope;
use tessera_core::tokens::claims::{userinfo_audience, verify_access_token, UserClaims, UserInfo};
use tessera_core::{routes, Error, ErrorCode};

use super::dpop;
use super::error::{missing_access_token, resource_error, TokenScheme};
use crate::app::AppState;

fn invalid_token(d: &'static str) -> Error {
    Error::new(ErrorCode::InvalidToken, d)
}

/// The presented token and its scheme; `Ok(None)` when there is none.
fn presented_token(method: &Method, headers: &HeaderMap, body: &[u8]) -> Result<Option<(TokenScheme, String)>, Error> {
    let from_header = match headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("")) {
        None => None,
        Some(v) => match v.split_once(' ').map(|(s, t)| (s, t.trim())) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                Some((TokenScheme::Bearer, token.to_string()))
            }
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") && !token.is_empty() => {
                Some((TokenScheme::Dpop, token.to_string()))
            }
            _ => return Err(invalid_token("the Authorization header must be: Bearer <token> or DPoP <token>")),
        },
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let from_body = if *method == Method::POST && is_form {
        let params = Params::parse(body);
        if params.is_repeated("access_token") {
            return Err(Error::invalid_request("parameter access_token is repeated"));
        }
        params.get("access_token").map(|t| (TokenScheme::Bearer, t.to_string()))
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(Error::invalid_request("send the access token in one place only (RFC 6750 section 2)")),
        (h, b) => Ok(h.or(b)),
    }
}

/// A refusal, with the DPoP nonce to hand back if one is in use.
struct Refusal(Error, Option<String>);

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Self(e, None)
    }
}

impl From<tessera_core::store::StoreError> for Refusal {
    fn from(e: tessera_core::store::StoreError) -> Self {
        Self(e.into(), None)
    }
}

/// The user `token` speaks for and the scope it was granted (which decides the claims
/// released), and the DPoP nonce for the response (if nonces are in use).
async fn claims(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    scheme: TokenScheme,
    token: &str,
) -> Result<(User, Scope, Option<String>), Refusal> {
    let verified = verify_access_token(&state.keys.get(), &state.issuer, token, state.now())?;
    if !verified.has_audience(&userinfo_audience(&state.issuer)) {
        return Err(invalid_token("the access token is not valid for /userinfo").into());
    }
    let store = state.deployment.store.as_ref();
    let nonce = match (scheme, verified.jkt()) {
        (TokenScheme::Bearer, None) => None,
        (TokenScheme::Bearer, Some(_)) => {
            return Err(invalid_token("a DPoP-bound access token must be presented with the DPoP scheme and a proof").into())
        }
        (TokenScheme::Dpop, None) => {
            return Err(invalid_token("the access token is not DPoP-bound; present it as a Bearer token").into())
        }
        (TokenScheme::Dpop, Some(jkt)) => {
            let client = store.get_client(&verified.client_id).await?;
            let require_nonce = dpop::nonce_required(state, client.as_ref());
            let proof = dpop::proof(state, headers, method.as_str(), routes::USERINFO, Some(token), require_nonce)
                .await
                .map_err(|h| Refusal(h.error, h.dpop_nonce))?;
            let nonce = dpop::fresh_nonce(state, require_nonce);
            let refuse = |d: &'static str| Refusal(Error::new(ErrorCode::InvalidDpopProof, d), nonce.clone());
            // RFC 9449 §7.1: the proof's key must be the one the token is bound to.
            match proof {
                None => return Err(refuse("a DPoP proof is required with the DPoP scheme")),
                Some(p) if p.jkt != jkt => return Err(refuse("the DPoP proof key is not the key the token is bound to")),
                Some(_) => nonce,
            }
        }
    };
    if store.is_access_token_revoked(&verified.jti).await? {
        return Err(Refusal(invalid_token("the access token has been revoked"), nonce));
    }
    if !verified.scope.contains("openid") {
        return Err(Refusal(
            Error::new(ErrorCode::InsufficientScope, "the access token was not granted the openid scope"),
            nonce,
        ));
    }
    let user = store.get_user(&verified.sub).await?.filter(|u| !u.blocked);
    let Some(user) = user else {
        return Err(Refusal(invalid_token("the user of this access token no longer has access"), nonce));
    };
    Ok((user, verified.scope, nonce))
}

pub async fn userinfo(State(state): State<AppState>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    match presented_token(&method, &headers, &body) {
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
