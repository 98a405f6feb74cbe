//! DPoP at the HTTP edge (RFC 9449): exactly one `DPoP` header, validated against the
//! externally visible URL of the endpoint (the issuer is the public base URL, so a proxy
//! in front does not break `htu`), replay-checked in the database, and server nonces
//! handed out in `DPoP-Nonce` when the deployment or the client asks for them.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use tessera_core::dpop::{self, ProofContext, ValidProof};
use tessera_core::model::Client;
use tessera_core::{Error, ErrorCode};

use super::error::HttpError;
use crate::app::AppState;

pub static DPOP: HeaderName = HeaderName::from_static("dpop");
pub static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Whether proofs for this client must carry a server nonce: the client's setting, else the
/// deployment's.
pub fn nonce_required(state: &AppState, client: Option<&Client>) -> bool {
    client.and_then(|c| c.dpop_nonce).unwrap_or_else(|| state.deployment.config.dpop.nonce_required())
}

/// A fresh nonce when nonces are in use, for the response.
pub fn fresh_nonce(state: &AppState, required: bool) -> Option<String> {
    required.then(|| dpop::issue_nonce(&state.deployment.keyring, state.now()))
}

/// The proof of a request, validated and recorded; `None` when the request has no `DPoP`
/// header. `path` is the route; `access_token` is set at resource endpoints (`ath`).
pub async fn proof(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    access_token: Option<&str>,
    require_nonce: bool,
) -> Result<Option<ValidProof>, HttpError> {
    let values: Vec<&HeaderValue> = headers.get_all(&DPOP).iter().collect();
    let nonce = fresh_nonce(state, require_nonce);
    let fail = |error: Error| HttpError::from(error).with_dpop_nonce(nonce.clone());
    // §4.3 (1): not more than one DPoP header.
    let value = match values.as_slice() {
        [] => return Ok(None),
        [one] => one.to_str().map_err(|_| fail(Error::new(ErrorCode::InvalidDpopProof, "DPoP header is not ASCII")))?,
        _ => return Err(fail(Error::new(ErrorCode::InvalidDpopProof, "exactly one DPoP header is allowed"))),
    };
    let url = tessera_core::routes::url(&state.issuer, path);
    let ctx = ProofContext {
        method,
        url: &url,
        now: state.now(),
        max_age: state.deployment.config.dpop.max_age,
        access_token,
        require_nonce,
    };
    let proof = dpop::validate_proof(value, &ctx, &state.deployment.keyring).map_err(fail)?;
    dpop::remember(state.deployment.store.as_ref(), &proof, ctx.max_age, ctx.now).await.map_err(fail)?;
    Ok(Some(proof))
}

/// Adds `DPoP-Nonce` to a successful response.
pub fn with_nonce(mut resp: Response, nonce: Option<String>) -> Response {
    if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        resp.headers_mut().insert(DPOP_NONCE.clone(), v);
    }
    resp
}
