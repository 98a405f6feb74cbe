//! `/api/v2/resource-servers` (Auth0 "Resource Servers", the APIs `audience` names): list,
//! create, get, update, delete, by id or by identifier as Auth0 accepts both.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_core::model::auth0::ResourceServerBody;
use tessera_core::model::ResourceServer;
use tessera_core::registry::management_audience;

use super::error::ApiError;
use super::openapi;
use super::{ApiJson, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_resource_server";

/// Auth0 refuses changes to its own Management API.
fn refuse_system(api: &ResourceServer, issuer: &str) -> Result<(), ApiError> {
    if api.identifier == management_audience(issuer) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "operation_not_supported",
            "The Management API cannot be changed or deleted",
        ));
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/resource-servers",
    tag = "resource-servers",
    operation_id = "get_resource_servers",
    params(openapi::OffsetPaging, openapi::Totals, openapi::Fields, openapi::ApiFilters),
    security(("bearer" = ["read:resource_servers"])),
    responses((status = 200, description = "The APIs.", body = openapi::ResourceServersPage), openapi::Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    caller.require(&["read:resource_servers"])?;
    q.only(&["identifiers"])?;
    let paging = q.paging()?;
    let apis = state.deployment.registry.list_apis().await?;
    let items = apis
        .iter()
        .filter(|a| q.identifiers.as_ref().is_none_or(|i| *i == a.identifier))
        .map(|a| a.auth0_json(&state.issuer))
        .collect();
    Ok(caller.ok(paging.page_of("resource_servers", items)))
}

#[utoipa::path(
    get,
    path = "/resource-servers/{id}",
    tag = "resource-servers",
    operation_id = "get_resource_server",
    params(("id" = String, Path, description = "The API's id or identifier.")),
    security(("bearer" = ["read:resource_servers"])),
    responses((status = 200, description = "The API.", body = openapi::ResourceServer), openapi::ErrorsOne)
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:resource_servers"])?;
    let api = state.deployment.registry.get_api(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(api.auth0_json(&state.issuer)))
}

#[utoipa::path(
    post,
    path = "/resource-servers",
    tag = "resource-servers",
    operation_id = "post_resource_server",
    request_body = ResourceServerBody,
    security(("bearer" = ["create:resource_servers"])),
    responses((status = 201, description = "The new API.", body = openapi::ResourceServer), openapi::ErrorsCreate)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ResourceServerBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:resource_servers"])?;
    if body.identifier.is_none() {
        return Err(ApiError::invalid_body("Missing required property: identifier"));
    }
    let api = state.deployment.registry.create_api(body.into_patch()?).await?;
    Ok(caller.respond(StatusCode::CREATED, api.auth0_json(&state.issuer)))
}

#[utoipa::path(
    patch,
    path = "/resource-servers/{id}",
    tag = "resource-servers",
    operation_id = "patch_resource_server",
    params(("id" = String, Path, description = "The API's id or identifier.")),
    request_body = ResourceServerBody,
    security(("bearer" = ["update:resource_servers"])),
    responses((status = 200, description = "The updated API.", body = openapi::ResourceServer), openapi::ErrorsUpdate)
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResourceServerBody>,
) -> Result<Response, ApiError> {
    caller.require(&["update:resource_servers"])?;
    let registry = &state.deployment.registry;
    let api = registry.get_api(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    refuse_system(&api, &state.issuer)?;
    if body.identifier.as_ref().is_some_and(|i| *i != api.identifier) {
        return Err(ApiError::invalid_body("identifier cannot be changed"));
    }
    let api = registry.update_api(&api.id, body.into_patch()?).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(api.auth0_json(&state.issuer)))
}

#[utoipa::path(
    delete,
    path = "/resource-servers/{id}",
    tag = "resource-servers",
    operation_id = "delete_resource_server",
    params(("id" = String, Path, description = "The API's id or identifier.")),
    security(("bearer" = ["delete:resource_servers"])),
    responses((status = 204, description = "Deleted."), openapi::ErrorsOne)
)]
pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:resource_servers"])?;
    let registry = &state.deployment.registry;
    let api = registry.get_api(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    refuse_system(&api, &state.issuer)?;
    registry.delete_api(&api.id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.no_content())
}
