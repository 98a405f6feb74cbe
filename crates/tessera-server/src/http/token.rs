//! `POST /oauth/token` (RFC 6749 §3.2, §5): extract parameters and credentials, authenticate
//! the client, run the grant, render. The decisions live in `tessera_core::grants`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tessera_core::grants::{self, TokenContext};
use tessera_core::routes;

use super::client_auth::{authenticate, parse};
use super::error::HttpError;
use crate::app::AppState;

pub async fn token(State(state): State<AppState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Response, HttpError> {
    let params = parse(&uri, &headers, &body)?;
    let grant = grants::grant_type(&params)?;
    let client = authenticate(&state, routes::TOKEN, &headers, &params).await?;
    let keys = state.keys.get();
    let ctx = TokenContext {
        registry: &state.deployment.registry,
        keys: &keys,
        issuer: &state.issuer,
        now: state.now(),
        id_token_lifetime: state.deployment.config.tokens.id_token_lifetime,
    };
    let response = grants::exchange(&ctx, grant, &params, &client).await?;
    state.metrics.token_issued(grant.as_str());
    Ok(super::no_store_json(&response))
}
