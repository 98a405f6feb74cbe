//! Pushing an authorization request (RFC 9126 §2): the same checks as `/authorize`, run
//! when the client pushes, so every error reaches the client in the PAR response rather
//! than a user's browser; the validated request is stored under a fresh `request_uri`.
//!
//! - RFC 9126 §2.1: the request carries every authorization parameter except
//!   `request_uri`, which MUST NOT be pushed.
//! - RFC 9126 §2.2: `request_uri` is `urn:ietf:params:oauth:request_uri:` + a reference
//!   the server made; `expires_in` its lifetime in seconds. The reference is 256 random
//!   bits (after the time, [`crate::crypto::ordered_handle`]); only its keyed hash is stored.
//! - RFC 9449 §10.1: a DPoP proof sent with the push binds the code to its key, as
//!   `dpop_jkt` would; when both are sent they must name the same key.

use std::sync::Arc;

use super::check_request_uri::PREFIX;
use super::params::Params;
use super::request::AuthorizeRequest;
use crate::crypto::ordered_handle;
use crate::error::Error;
use crate::model::Client;
use crate::registry::Registry;
use crate::state::PushedRequest;
use crate::tokens::KeySet;

/// What the push answers (RFC 9126 §2.2) and what it stores.
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
    pub record: PushedRequest,
}

/// Validates `params` for the authenticated `client` and makes the record to store.
/// `proof_jkt` is the thumbprint of the push's DPoP proof, if it had one.
#[allow(clippy::too_many_arguments)]
pub async fn push(
    registry: &Registry,
    keys: &KeySet,
    issuer: &str,
    params: &Params,
    client: &Arc<Client>,
    proof_jkt: Option<&str>,
    now: i64,
    lifetime: i64,
) -> Result<Pushed, Error> {
    // RFC 9126 §2.1: request_uri MUST NOT be provided in a pushed request.
    if params.get("request_uri").is_some() {
        return Err(Error::invalid_request("request_uri must not be sent to the pushed authorization request endpoint"));
    }
    // RFC 9126 §2.1: client_id, when sent, names the authenticated client.
    if params.get("client_id").is_some_and(|id| id != client.client_id) {
        return Err(Error::invalid_request("client_id does not match the authenticated client"));
    }
    let mut req = super::validate_for(registry, keys, issuer, params, client).await.map_err(|e| e.error().clone())?;
    // RFC 9449 §10.1: with both a DPoP proof and dpop_jkt, the thumbprints must match.
    if let Some(jkt) = proof_jkt {
        if req.dpop_jkt.as_deref().is_some_and(|sent| sent != jkt) {
            return Err(Error::invalid_request("dpop_jkt does not match the key of the DPoP proof"));
        }
        req.dpop_jkt = Some(jkt.to_string());
    }
    store_form(registry, &req, now, lifetime)
}

fn store_form(registry: &Registry, req: &AuthorizeRequest, now: i64, lifetime: i64) -> Result<Pushed, Error> {
    let handle = ordered_handle();
    let request = serde_json::to_string(req).map_err(|e| Error::server_error(format!("pushed request: {e}")))?;
    let record = PushedRequest {
        request_uri_hash: registry.keyring().hash_handle(&handle),
        client_id: req.client_id.clone(),
        request,
        created_at: now,
        expires_at: now + lifetime,
        consumed_at: None,
    };
    Ok(Pushed { request_uri: format!("{PREFIX}{handle}"), expires_in: lifetime, record })
}
