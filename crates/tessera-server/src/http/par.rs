//! `POST /oauth/par` (RFC 9126 §2): the client pushes its authorization request and gets a
//! `request_uri` for `/authorize`. Client authentication is the token endpoint's (every
//! method, §2: "the same rules as for the token endpoint"), a DPoP proof is accepted
//! (RFC 9449 §10.1), and every check of `/authorize` runs now, in
//! `tessera_core::authorize::push`, with its errors in this JSON response (§2.3).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_core::authorize::{self, Params};
use tessera_core::{routes, Error};

use super::client_auth::{authenticate, parse};
use super::error::HttpError;
use crate::app::AppState;

/// Client authentication parameters: not part of the authorization request.
const CLIENT_AUTH: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

pub async fn par(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let params = parse(&uri, &headers, body)?;
    let client = authenticate(&state, routes::PAR, &headers, &params).await?;
    let nonce_required = super::dpop::nonce_required(&state, Some(&client.client));
    let proof = super::dpop::proof(&state, &headers, "POST", routes::PAR, None, nonce_required).await?;
    let nonce = proof.as_ref().and_then(|_| super::dpop::fresh_nonce(&state, nonce_required));
    let fail = |e: Error| HttpError::from(e).with_dpop_nonce(nonce.clone());
    let request = Params::from_pairs(params.into_iter().filter(|(k, _)| !CLIENT_AUTH.contains(&k.as_str())));
    let d = &state.deployment;
    let keys = state.keys.get();
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    let lifetime = d.config.par.request_uri_lifetime;
    let pushed = authorize::push(&d.registry, &keys, &state.issuer, &request, &client.client, jkt, state.now(), lifetime)
        .await
        .map_err(fail)?;
    d.store.insert_pushed_request(&pushed.record).await.map_err(|e| fail(e.into()))?;
    // RFC 9126 §2.2: 201 Created with request_uri and expires_in.
    let body = json!({"request_uri": pushed.request_uri, "expires_in": pushed.expires_in});
    let mut resp = super::no_store_json(&body);
    *resp.status_mut() = StatusCode::CREATED;
    Ok(super::dpop::with_nonce(resp.into_response(), nonce))
}
