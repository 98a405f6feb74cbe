//! `POST /oauth/token` (RFC 6749 §3.2, §5): extract parameters and credentials, authenticate
//! the client, check the DPoP proof, run the grant, render. The decisions live in
//! `tessera_core::grants`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tessera_core::grants::{self, TokenContext};
use tessera_core::routes;
use tessera_core::{Error, ErrorCode};

use super::client_auth::{authenticate, parse};
use super::error::HttpError;
use crate::app::AppState;

pub async fn token(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let params = parse(&uri, &headers, body)?;
    let grant = grants::grant_type(&params)?;
    // RFC 6749 §5.2: a grant this deployment has not enabled is unsupported here; discovery
    // advertises exactly the same list.
    if !state.capabilities.grant_types.contains(&grant.as_str()) {
        return Err(Error::new(ErrorCode::UnsupportedGrantType, format!("grant type {:?} is not enabled", grant.as_str())).into());
    }
    let client = authenticate(&state, routes::TOKEN, &headers, &params).await?;
    let nonce_required = super::dpop::nonce_required(&state, Some(&client.client));
    let proof = super::dpop::proof(&state, &headers, "POST", routes::TOKEN, None, nonce_required).await?;
    let nonce = proof.as_ref().and_then(|_| super::dpop::fresh_nonce(&state, nonce_required));
    let keys = state.keys.get();
    let ctx = TokenContext {
        registry: &state.deployment.registry,
        keys: &keys,
        issuer: &state.issuer,
        now: state.now(),
        id_token_lifetime: state.deployment.config.tokens.id_token_lifetime,
        dpop: proof.as_ref(),
    };
    let response =
        grants::exchange(&ctx, grant, &params, &client).await.map_err(|e| HttpError::from(e).with_dpop_nonce(nonce.clone()))?;
    state.metrics.token_issued(grant.as_str());
    Ok(super::dpop::with_nonce(super::no_store_json(&response), nonce))
}
