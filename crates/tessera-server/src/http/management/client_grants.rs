//! `/api/v2/client-grants` (Auth0 "Client Grants"): which APIs a client may call with
//! `client_credentials`, and with which scopes; filtered by `audience` and `client_id`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::error::ApiError;
use super::openapi;
use super::{to_json, ApiJson, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_client_grant";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ClientGrantCreate)]
pub struct CreateBody {
    client_id: String,
    audience: String,
    scope: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ClientGrantUpdate)]
pub struct UpdateBody {
    scope: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/client-grants",
    tag = "client-grants",
    operation_id = "get_client_grants",
    params(openapi::OffsetPaging, openapi::Totals, openapi::CheckpointPaging, openapi::Fields, openapi::GrantFilters),
    security(("bearer" = ["read:client_grants"])),
    responses((status = 200, description = "The client grants.", body = openapi::ClientGrantsPage), openapi::Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    caller.require(&["read:client_grants"])?;
    q.only(&["audience", "client_id", "checkpoint"])?;
    let paging = q.paging()?;
    let grants = state.deployment.registry.list_grants(q.client_id.as_deref()).await?;
    let items = grants.iter().filter(|g| q.audience.as_ref().is_none_or(|a| *a == g.audience)).map(to_json).collect();
    Ok(caller.ok(paging.page_of("client_grants", items)))
}

#[utoipa::path(
    get,
    path = "/client-grants/{id}",
    tag = "client-grants",
    operation_id = "get_client_grant",
    params(("id" = String, Path, description = "The grant's id.")),
    security(("bearer" = ["read:client_grants"])),
    responses((status = 200, description = "The client grant.", body = openapi::ClientGrant), openapi::ErrorsOne)
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:client_grants"])?;
    let g = state.deployment.registry.get_grant(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(to_json(&g)))
}

/// Auth0: 409 when the client already has a grant for the audience; 404 when the client
/// or the API does not exist.
#[utoipa::path(
    post,
    path = "/client-grants",
    tag = "client-grants",
    operation_id = "post_client_grant",
    request_body = CreateBody,
    security(("bearer" = ["create:client_grants"])),
    responses((status = 201, description = "The new client grant.", body = openapi::ClientGrant), openapi::ErrorsCreate)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:client_grants"])?;
    let g = state.deployment.registry.create_grant(&body.client_id, &body.audience, Some(body.scope)).await?;
    Ok(caller.respond(StatusCode::CREATED, to_json(&g)))
}

#[utoipa::path(
    patch,
    path = "/client-grants/{id}",
    tag = "client-grants",
    operation_id = "patch_client_grant",
    params(("id" = String, Path, description = "The grant's id.")),
    request_body = UpdateBody,
    security(("bearer" = ["update:client_grants"])),
    responses((status = 200, description = "The updated client grant.", body = openapi::ClientGrant), openapi::ErrorsUpdate)
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Response, ApiError> {
    caller.require(&["update:client_grants"])?;
    let g = state.deployment.registry.update_grant(&id, body.scope).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(to_json(&g)))
}

#[utoipa::path(
    delete,
    path = "/client-grants/{id}",
    tag = "client-grants",
    operation_id = "delete_client_grant",
    params(("id" = String, Path, description = "The grant's id.")),
    security(("bearer" = ["delete:client_grants"])),
    responses((status = 204, description = "Deleted."), openapi::ErrorsOne)
)]
pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:client_grants"])?;
    state.deployment.registry.delete_grant(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.no_content())
}
