//! `/api/v2/keys/signing` (Auth0 "Signing Keys"): list, get, rotate, revoke. A rotation or
//! revocation made here is in this node's key set before the response is sent.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};
use tessera_core::tokens::SigningKeyRecord;

use super::error::ApiError;
use super::openapi;
use super::Caller;
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_key";

async fn reload(state: &AppState) {
    if let Err(e) = state.keys.reload(&state.deployment).await {
        tracing::error!(error = %e, "cannot reload signing keys after a management change");
    }
}

#[utoipa::path(
    get,
    path = "/keys/signing",
    tag = "keys",
    operation_id = "get_signing_keys",
    security(("bearer" = ["read:signing_keys"])),
    responses((status = 200, description = "The signing keys.", body = Vec<openapi::SigningKey>), openapi::Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&["read:signing_keys"])?;
    let keys = state.deployment.registry.list_keys().await?;
    Ok(caller.ok(Value::Array(keys.iter().map(SigningKeyRecord::auth0_json).collect())))
}

#[utoipa::path(
    get,
    path = "/keys/signing/{kid}",
    tag = "keys",
    operation_id = "get_signing_key",
    params(("kid" = String, Path, description = "The key's kid.")),
    security(("bearer" = ["read:signing_keys"])),
    responses((status = 200, description = "The key.", body = openapi::SigningKey), openapi::ErrorsOne)
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(kid): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:signing_keys"])?;
    let keys = state.deployment.registry.list_keys().await?;
    let k = keys.iter().find(|k| k.kid == kid).ok_or_else(|| ApiError::not_found(NOT_FOUND, "The key does not exist"))?;
    Ok(caller.ok(k.auth0_json()))
}

/// Auth0: promotes the next key to current for every algorithm in use and answers the new
/// current key's `kid` (the RS256 one, Auth0's algorithm, when several are in use).
#[utoipa::path(
    post,
    path = "/keys/signing/rotate",
    tag = "keys",
    operation_id = "post_signing_keys_rotate",
    security(("bearer" = ["create:signing_keys", "update:signing_keys"])),
    responses((status = 200, description = "The next key of each algorithm in use is now current.", body = openapi::RotatedKey), openapi::Errors)
)]
pub async fn rotate(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&["create:signing_keys", "update:signing_keys"])?;
    let registry = &state.deployment.registry;
    let mut kids = Vec::new();
    for alg in registry.algorithms_in_use().await? {
        kids.push((alg, registry.rotate_keys(alg).await?));
    }
    reload(&state).await;
    let kid = kids.iter().find(|(a, _)| a.as_str() == "RS256").or(kids.first()).map(|(_, k)| k.clone());
    Ok(caller.ok(json!({"kid": kid, "cert": "", "kids": kids.iter().map(|(_, k)| k).collect::<Vec<_>>()})))
}

/// Auth0: a revoked key leaves the JWKS at once and tokens it signed stop verifying.
#[utoipa::path(
    put,
    path = "/keys/signing/{kid}/revoke",
    tag = "keys",
    operation_id = "put_signing_key_revoke",
    params(("kid" = String, Path, description = "The key's kid.")),
    security(("bearer" = ["update:signing_keys"])),
    responses((status = 200, description = "Revoked: the key leaves the JWKS and tokens it signed stop verifying.", body = openapi::RevokedKey), openapi::ErrorsOne)
)]
pub async fn revoke(State(state): State<AppState>, caller: Caller, Path(kid): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["update:signing_keys"])?;
    state.deployment.registry.revoke_key(&kid).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    reload(&state).await;
    Ok(caller.ok(json!({"kid": kid, "cert": ""})))
}
