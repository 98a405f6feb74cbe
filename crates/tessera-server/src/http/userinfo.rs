//! `GET /userinfo` and `POST /userinfo` (OIDC Core §5.3): the user's claims, per scope
//! granted to the access token (§5.4), with `sub` always.
//!
//! - RFC 6750 §2.1 / §2.2: the token comes in the `Authorization: Bearer` header or, on a
//!   POST, as the `access_token` form field; using both is `invalid_request` (§2). The query
//!   string is not accepted (§2.3 is a "SHOULD NOT" we make a "not").
//! - RFC 6750 §3.1: no token → 401 with a bare `Bearer` challenge; an expired, revoked,
//!   forged or wrong-audience token → 401 `invalid_token`; a token without `openid` → 403
//!   `insufficient_scope`.
//! - RFC 9449 §7.1: a DPoP-bound token (`cnf.jkt`) is not accepted as a Bearer token.
//!   TODO(dpop): accept `Authorization: DPoP` with a verified proof once DPoP lands.
//! - Cross-origin reads are allowed (`Access-Control-Allow-Origin: *`): SPAs call this with
//!   a header token, never with cookies.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};
use tessera_core::authorize::Params;
use tessera_core::tokens::claims::{user_claims, userinfo_audience, verify_access_token};
use tessera_core::{Error, ErrorCode};

use super::error::{missing_bearer_token, HttpError};
use crate::app::AppState;

fn invalid_token(d: &'static str) -> Error {
    Error::new(ErrorCode::InvalidToken, d)
}

/// The presented token; `Ok(None)` when there is none.
fn presented_token(method: &Method, headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, Error> {
    let from_header = match headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("")) {
        None => None,
        Some(v) => match v.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Some(token.trim().to_string()),
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("dpop") => {
                return Err(invalid_token("DPoP-bound access tokens are not accepted here yet"));
            }
            _ => return Err(invalid_token("the Authorization header must be: Bearer <access token>")),
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
        params.get("access_token").map(str::to_string)
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(Error::invalid_request("send the access token in one place only (RFC 6750 section 2)")),
        (h, b) => Ok(h.or(b)),
    }
}

async fn claims(state: &AppState, token: &str) -> Result<Map<String, Value>, Error> {
    let now = state.now();
    let verified = verify_access_token(&state.keys.get(), &state.issuer, token, now)?;
    if !verified.has_audience(&userinfo_audience(&state.issuer)) {
        return Err(invalid_token("the access token is not valid for /userinfo"));
    }
    if verified.jkt().is_some() {
        return Err(invalid_token("a DPoP-bound access token must be presented with a DPoP proof"));
    }
    let store = state.deployment.store.as_ref();
    if store.is_access_token_revoked(&verified.jti).await? {
        return Err(invalid_token("the access token has been revoked"));
    }
    if !verified.scope.contains("openid") {
        return Err(Error::new(ErrorCode::InsufficientScope, "the access token was not granted the openid scope"));
    }
    let user = store.get_user(&verified.sub).await?.filter(|u| !u.blocked);
    let Some(user) = user else { return Err(invalid_token("the user of this access token no longer has access")) };
    let mut out = Map::new();
    out.insert("sub".into(), user.user_id.clone().into());
    user_claims(&user, &verified.scope, &mut out);
    Ok(out)
}

pub async fn userinfo(State(state): State<AppState>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let mut resp = match presented_token(&method, &headers, &body) {
        Err(e) => HttpError::from(e).into_response(),
        Ok(None) => missing_bearer_token(),
        Ok(Some(token)) => match claims(&state, &token).await {
            Ok(c) => {
                let mut r = Json(Value::Object(c)).into_response();
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }
            Err(e) => HttpError::from(e).into_response(),
        },
    };
    resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    resp
}

/// CORS preflight (the Authorization header is not CORS-safelisted).
pub async fn preflight() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Authorization, Content-Type, DPoP"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    resp
}
