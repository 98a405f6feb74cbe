//! `/.well-known/openid-configuration` (OIDC Discovery §4), `/.well-known/oauth-authorization-server`
//! (RFC 8414 §3) and `/.well-known/jwks.json` (RFC 7517 §5).
//!
//! All three are public and cacheable, and SPAs fetch them cross-origin, so they carry
//! `Access-Control-Allow-Origin: *`. The JWKS max-age is short enough that a key published
//! as `next` is in every cache long before a rotation makes it sign.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// Seconds caches may keep the JWKS and metadata.
pub const MAX_AGE: &str = "public, max-age=300";

fn json_public(body: String) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(MAX_AGE));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    resp
}

fn metadata(state: &AppState) -> String {
    let keys = state.keys.get();
    let algs: Vec<_> = keys.algorithms().collect();
    tessera_core::discovery::metadata(&state.issuer, &state.capabilities, &algs).to_string()
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    json_public(metadata(&state))
}

pub async fn oauth_authorization_server(State(state): State<AppState>) -> Response {
    json_public(metadata(&state))
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    json_public(state.keys.get().jwks_json().to_string())
}
