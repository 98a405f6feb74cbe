//! `POST /oauth/introspect` (RFC 7662 §2).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tessera_core::introspection::introspect as introspect_token;
use tessera_core::{routes, Error};

use super::client_auth::{authenticate, parse};
use super::error::HttpError;
use crate::app::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let params = parse(&uri, &headers, &super::params::body_or_error(body)?)?;
    let client = authenticate(&state, routes::INTROSPECT, &headers, &params).await?;
    // RFC 7662 §2.1: `token` is REQUIRED.
    let token = params.get("token").ok_or_else(|| Error::invalid_request("token is required"))?;
    let hint = params.get("token_type_hint").map(String::as_str);
    let keys = state.keys.get();
    let body = introspect_token(&state.deployment.registry, &keys, &state.issuer, &client, token, hint, state.now()).await?;
    Ok(super::no_store_json(&body))
}
