//! `/api/v2/clients/{client_id}/credentials` (Auth0 "Client Credentials"): list, create,
//! get, update (`expires_at` only), delete. A credential is a public key given as PEM (a
//! SubjectPublicKeyInfo, PKCS #1 key or X.509 certificate); it authenticates the client's
//! `private_key_jwt` assertions once enabled in the client's `client_authentication_methods`,
//! until it expires or is deleted.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use tessera_core::model::{parse_expires_at, ClientCredential, NewCredential};

use super::error::ApiError;
use super::openapi;
use super::{ApiJson, Caller};
use crate::app::AppState;

const NO_CLIENT: &str = "inexistent_client";
const NO_CREDENTIAL: &str = "inexistent_credential";

/// Auth0: reading credentials takes `read:client_credentials` (or the older `read:client_keys`).
pub(super) const READ: &[&str] = &["read:client_credentials", "read:client_keys"];

/// 404 `inexistent_client` unless the client exists.
async fn client_exists(state: &AppState, client_id: &str) -> Result<(), ApiError> {
    state.deployment.registry.get_client(client_id).await.map(|_| ()).map_err(|e| ApiError::from_core(e, NO_CLIENT))
}

#[utoipa::path(
    get,
    path = "/clients/{id}/credentials",
    tag = "client-credentials",
    operation_id = "get_credentials",
    params(("id" = String, Path, description = "The client_id.")),
    security(("bearer" = ["read:client_credentials", "read:client_keys"])),
    responses((status = 200, description = "The client's credentials.", body = Vec<openapi::ClientCredential>), openapi::ErrorsOne)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, Path(client_id): Path<String>) -> Result<Response, ApiError> {
    caller.require(READ)?;
    let all = state.deployment.registry.list_credentials(&client_id).await.map_err(|e| ApiError::from_core(e, NO_CLIENT))?;
    Ok(caller.ok(Value::Array(all.iter().map(ClientCredential::auth0_json).collect())))
}

#[utoipa::path(
    post,
    path = "/clients/{id}/credentials",
    tag = "client-credentials",
    operation_id = "post_credentials",
    params(("id" = String, Path, description = "The client_id.")),
    request_body = NewCredential,
    security(("bearer" = ["create:client_credentials"])),
    responses((status = 201, description = "The new credential.", body = openapi::ClientCredential), openapi::ErrorsCreate)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(client_id): Path<String>,
    ApiJson(body): ApiJson<NewCredential>,
) -> Result<Response, ApiError> {
    caller.require(&["create:client_credentials"])?;
    client_exists(&state, &client_id).await?;
    // Auth0 answers 409 when the client already has this key or this kid.
    let created =
        state.deployment.registry.create_credential(&client_id, body).await.map_err(|e| ApiError::from_core(e, NO_CLIENT))?;
    Ok(caller.respond(StatusCode::CREATED, created.auth0_json()))
}

#[utoipa::path(
    get,
    path = "/clients/{id}/credentials/{credential_id}",
    tag = "client-credentials",
    operation_id = "get_credential",
    params(("id" = String, Path, description = "The client_id."), ("credential_id" = String, Path, description = "The credential's id.")),
    security(("bearer" = ["read:client_credentials", "read:client_keys"])),
    responses((status = 200, description = "The credential.", body = openapi::ClientCredential), openapi::ErrorsOne)
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((client_id, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(READ)?;
    client_exists(&state, &client_id).await?;
    let c = state.deployment.registry.get_credential(&client_id, &id).await.map_err(|e| ApiError::from_core(e, NO_CREDENTIAL))?;
    Ok(caller.ok(c.auth0_json()))
}

/// Auth0's PATCH body: only `expires_at` can change (`null`: the credential never expires).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Option<String>>,
}

/// Tells an absent field (`None`) from `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[utoipa::path(
    patch,
    path = "/clients/{id}/credentials/{credential_id}",
    tag = "client-credentials",
    operation_id = "patch_credential",
    params(("id" = String, Path, description = "The client_id."), ("credential_id" = String, Path, description = "The credential's id.")),
    request_body = CredentialPatch,
    security(("bearer" = ["update:client_credentials"])),
    responses((status = 200, description = "The updated credential.", body = openapi::ClientCredential), openapi::ErrorsUpdate)
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((client_id, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CredentialPatch>,
) -> Result<Response, ApiError> {
    caller.require(&["update:client_credentials"])?;
    client_exists(&state, &client_id).await?;
    let registry = &state.deployment.registry;
    let Some(expires_at) = body.expires_at else {
        return Err(ApiError::invalid_body("Missing required property: expires_at"));
    };
    let expires_at = expires_at
        .map(|s| parse_expires_at(&s, registry.now()))
        .transpose()
        .map_err(|e| ApiError::from_core(e, NO_CREDENTIAL))?;
    let c =
        registry.set_credential_expiry(&client_id, &id, expires_at).await.map_err(|e| ApiError::from_core(e, NO_CREDENTIAL))?;
    Ok(caller.ok(c.auth0_json()))
}

#[utoipa::path(
    delete,
    path = "/clients/{id}/credentials/{credential_id}",
    tag = "client-credentials",
    operation_id = "delete_credential",
    params(("id" = String, Path, description = "The client_id."), ("credential_id" = String, Path, description = "The credential's id.")),
    security(("bearer" = ["delete:client_credentials"])),
    responses((status = 204, description = "Deleted."), openapi::ErrorsOne)
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((client_id, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&["delete:client_credentials"])?;
    client_exists(&state, &client_id).await?;
    state.deployment.registry.delete_credential(&client_id, &id).await.map_err(|e| ApiError::from_core(e, NO_CREDENTIAL))?;
    Ok(caller.no_content())
}
