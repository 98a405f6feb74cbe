//! `POST /oauth/revoke` (RFC 7009 §2).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tessera_core::revocation::{revoke as revoke_token, RevocationRequest};
use tessera_core::routes;

use super::client_auth::token_request;
use super::error::HttpError;
use crate::app::AppState;

pub async fn revoke(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let r = token_request(&state, routes::REVOKE, &uri, &headers, body).await?;
    let req = RevocationRequest { token: &r.token, hint: r.hint.as_deref() };
    let keys = state.keys.get();
    revoke_token(&state.deployment.registry, &keys, &state.issuer, &r.client, &req, state.now()).await?;
    // RFC 7009 §2.2: 200 whether or not the token was valid; the body is ignored.
    Ok((StatusCode::OK, [(axum::http::header::CACHE_CONTROL, "no-store")]).into_response())
}
