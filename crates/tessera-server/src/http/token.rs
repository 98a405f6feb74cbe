//! `POST /oauth/token` (RFC 6749 §3.2, §5): extract parameters and credentials, authenticate
//! the client, run the grant, render. The decisions live in `tessera_core::grants`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tessera_core::client_auth::ClientAuthContext;
use tessera_core::grants::{self, TokenContext};
use tessera_core::routes;

use super::error::HttpError;
use super::params::{client_credentials, parse_body, refuse_credentials_in_query};
use crate::app::AppState;

pub async fn token(State(state): State<AppState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Response, HttpError> {
    refuse_credentials_in_query(&uri)?;
    let params = parse_body(&headers, &body)?;
    let grant = grants::grant_type(&params)?;
    let (credentials, basic) = client_credentials(&headers, &params).map_err(|error| HttpError { error, basic_auth: headers.contains_key(header::AUTHORIZATION) })?;
    let now = state.now();
    let registry = &state.deployment.registry;
    let token_endpoint = routes::url(&state.issuer, routes::TOKEN);
    let auth_ctx = ClientAuthContext { registry, issuer: &state.issuer, token_endpoint: &token_endpoint, now };
    let client = match credentials.authenticate(&auth_ctx).await {
        Ok(c) => c,
        Err(error) => {
            if error.code == tessera_core::ErrorCode::InvalidClient {
                let claimed = credentials.basic.as_ref().map(|b| b.0.clone()).or_else(|| credentials.client_id.clone());
                registry
                    .record(
                        "client_authentication_failed",
                        claimed.as_deref(),
                        None,
                        json!({"endpoint": routes::TOKEN, "reason": error.detail.clone().unwrap_or_default()}),
                    )
                    .await;
            }
            return Err(HttpError { error, basic_auth: basic });
        }
    };
    let keys = state.keys.get();
    let ctx = TokenContext {
        registry,
        keys: &keys,
        issuer: &state.issuer,
        now,
        id_token_lifetime: state.deployment.config.tokens.id_token_lifetime,
    };
    let response = grants::exchange(&ctx, grant, &params, &client).await?;
    state.metrics.token_issued(grant.as_str());
    let mut resp = Json(response).into_response();
    // RFC 6749 §5.1: the response MUST carry Cache-Control: no-store and Pragma: no-cache.
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(resp)
}
