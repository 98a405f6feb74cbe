//! `POST /oauth/revoke` (RFC 7009 §2).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tessera_core::revocation::{revoke as revoke_token, RevocationRequest};
use tessera_core::{routes, Error};

use super::client_auth::{authenticate, parse};
use super::error::HttpError;
use crate::app::AppState;

pub async fn revoke(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let params = parse(&uri, &headers, &super::params::body_or_error(body)?)?;
    let client = authenticate(&state, routes::REVOKE, &headers, &params).await?;
    // RFC 7009 §2.1: `token` is REQUIRED.
    let token = params.get("token").ok_or_else(|| Error::invalid_request("token is required"))?;
    let req = RevocationRequest { token, hint: params.get("token_type_hint").map(String::as_str) };
    let keys = state.keys.get();
    revoke_token(&state.deployment.registry, &keys, &state.issuer, &client, &req, state.now()).await?;
    // RFC 7009 §2.2: 200 whether or not the token was valid; the body is ignored.
    Ok((StatusCode::OK, [(axum::http::header::CACHE_CONTROL, "no-store")]).into_response())
}
