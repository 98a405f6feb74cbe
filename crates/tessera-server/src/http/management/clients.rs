//! `/api/v2/clients` (Auth0 "Clients"): list, create, get, update, delete, rotate-secret;
//! `client_authentication_methods` enables credentials (see [`super::credentials`]) for
//! `private_key_jwt`.
//! Bodies use Auth0's field names; a secret is shown at creation and rotation only (it is
//! stored as a keyed hash, DESIGN decision 2).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use tessera_core::model::auth0::{ClientBody, CredentialRef};
use tessera_core::model::{Client, NewCredential, TokenEndpointAuthMethod};

use super::error::ApiError;
use super::openapi;
use super::{parse_bool, ApiJson, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_client";

/// Auth0: `client_authentication_methods` is shown only with `read:client_keys` or
/// `read:client_credentials`.
fn visible(caller: &Caller, mut v: Value) -> Value {
    if !caller.has_any(super::credentials::READ) {
        if let Some(obj) = v.as_object_mut() {
            obj.remove("client_authentication_methods");
        }
    }
    v
}

fn with_secret(c: &Client, secret: Option<&str>) -> Value {
    let mut v = c.auth0_json();
    if let (Some(s), Some(obj)) = (secret, v.as_object_mut()) {
        obj.insert("client_secret".into(), s.into());
    }
    v
}

#[utoipa::path(
    get,
    path = "/clients",
    tag = "clients",
    operation_id = "get_clients",
    params(openapi::OffsetPaging, openapi::Totals, openapi::Fields, openapi::ClientFilters),
    security(("bearer" = ["read:clients"])),
    responses((status = 200, description = "The clients.", body = openapi::ClientsPage), openapi::Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    caller.require(&["read:clients"])?;
    q.only(&["app_type", "is_first_party", "is_global"])?;
    let paging = q.paging()?;
    let first_party = parse_bool("is_first_party", q.is_first_party.as_deref())?;
    // Auth0's global client is the tenant's own; Tessera has none.
    let global = parse_bool("is_global", q.is_global.as_deref())?.unwrap_or(false);
    let app_types: Option<Vec<&str>> = q.app_type.as_deref().map(|t| t.split(',').map(str::trim).collect());
    let clients = state.deployment.registry.list_clients().await?;
    let items = clients
        .iter()
        .filter(|_| !global)
        .filter(|c| first_party.is_none_or(|f| c.is_first_party == f))
        .filter(|c| app_types.as_ref().is_none_or(|t| t.contains(&c.app_type.as_str())))
        .map(|c| visible(&caller, c.auth0_json()))
        .collect();
    Ok(caller.ok(paging.page_of("clients", items)))
}

#[utoipa::path(
    get,
    path = "/clients/{id}",
    tag = "clients",
    operation_id = "get_client",
    params(("id" = String, Path, description = "The client_id."), openapi::Fields),
    security(("bearer" = ["read:clients"])),
    responses((status = 200, description = "The client.", body = openapi::Client), openapi::ErrorsOne)
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(&["read:clients"])?;
    q.only(&[])?;
    let paging = q.paging()?;
    let c = state.deployment.registry.get_client(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(paging.one(visible(&caller, c.auth0_json()))))
}

#[utoipa::path(
    post,
    path = "/clients",
    tag = "clients",
    operation_id = "post_client",
    summary = "Create a client (client_authentication_methods also takes create:client_credentials)",
    request_body = ClientBody,
    security(("bearer" = ["create:clients"])),
    responses((status = 201, description = "The new client, with its secret when it has one.", body = openapi::Client), openapi::ErrorsCreate)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(mut body): ApiJson<ClientBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:clients"])?;
    if body.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid_body("Missing required property: name"));
    }
    let credentials = match body.take_method_credentials()? {
        None => vec![],
        Some(list) => {
            // Auth0: configuring client_authentication_methods takes create:client_credentials.
            caller.require(&["create:client_credentials"])?;
            list.into_iter()
                .map(|c| serde_json::from_value::<NewCredential>(c).map_err(ApiError::invalid_body))
                .collect::<Result<_, _>>()?
        }
    };
    let created = state.deployment.registry.create_client_with_credentials(body.into_patch()?, credentials).await?;
    Ok(caller.respond(StatusCode::CREATED, with_secret(&created.client, created.client_secret.as_deref())))
}

#[utoipa::path(
    patch,
    path = "/clients/{id}",
    tag = "clients",
    operation_id = "patch_client",
    summary = "Update a client (client_authentication_methods also takes update:client_credentials)",
    params(("id" = String, Path, description = "The client_id.")),
    request_body = ClientBody,
    security(("bearer" = ["update:clients"])),
    responses((status = 200, description = "The updated client.", body = openapi::Client), openapi::ErrorsUpdate)
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(mut body): ApiJson<ClientBody>,
) -> Result<Response, ApiError> {
    caller.require(&["update:clients"])?;
    let credentials = body.take_method_credentials()?;
    let mut patch = body.into_patch()?;
    if let Some(list) = credentials {
        // Auth0: configuring client_authentication_methods takes update:client_credentials.
        caller.require(&["update:client_credentials"])?;
        let ids: Vec<String> = list
            .into_iter()
            .map(|c| serde_json::from_value::<CredentialRef>(c).map(|r| r.id).map_err(ApiError::invalid_body))
            .collect::<Result<_, _>>()?;
        if !ids.is_empty() {
            patch.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
        }
        patch.private_key_jwt_credentials = Some(ids);
    }
    let updated = state.deployment.registry.update_client(&id, patch).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(with_secret(&updated.client, updated.client_secret.as_deref())))
}

#[utoipa::path(
    delete,
    path = "/clients/{id}",
    tag = "clients",
    operation_id = "delete_client",
    params(("id" = String, Path, description = "The client_id.")),
    security(("bearer" = ["delete:clients"])),
    responses((status = 204, description = "Deleted."), openapi::ErrorsOne)
)]
pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:clients"])?;
    state.deployment.registry.delete_client(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.no_content())
}

/// Auth0: `POST /clients/{id}/rotate-secret` answers the client with its new secret; the
/// previous secret stops working at once.
#[utoipa::path(
    post,
    path = "/clients/{id}/rotate-secret",
    tag = "clients",
    operation_id = "post_rotate_secret",
    params(("id" = String, Path, description = "The client_id.")),
    security(("bearer" = ["update:client_keys", "update:clients"])),
    responses((status = 200, description = "The client with its new secret; the previous one stops working at once.", body = openapi::Client), openapi::ErrorsOne)
)]
pub async fn rotate_secret(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["update:client_keys", "update:clients"])?;
    let registry = &state.deployment.registry;
    let client = registry.get_client(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    if !client.token_endpoint_auth_method.uses_secret() {
        return Err(ApiError::invalid_body(format!(
            "the client authenticates with {}, not a client secret",
            client.token_endpoint_auth_method.as_str()
        )));
    }
    let secret = registry.rotate_client_secret(&id, 0).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(with_secret(&client, Some(&secret))))
}
