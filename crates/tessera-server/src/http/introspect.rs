//! `POST /oauth/introspect` (RFC 7662 §2).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tessera_core::introspection::introspect as introspect_token;
use tessera_core::routes;

use super::client_auth::token_request;
use super::error::HttpError;
use crate::app::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let r = token_request(&state, routes::INTROSPECT, &uri, &headers, body).await?;
    let keys = state.keys.get();
    let body =
        introspect_token(&state.deployment.registry, &keys, &state.issuer, &r.client, &r.token, r.hint.as_deref(), state.now())
            .await?;
    Ok(super::no_store_json(&body))
}
