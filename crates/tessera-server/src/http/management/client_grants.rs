//! `/api/v2/client-grants` (Auth0 "Client Grants"): which APIs a client may call with
//! `client_credentials`, and with which scopes; filtered by `audience` and `client_id`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::error::ApiError;
use super::{to_json, ApiJson, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_client_grant";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    client_id: String,
    audience: String,
    scope: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    scope: Vec<String>,
}

pub async fn list(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    caller.require(&["read:client_grants"])?;
    q.only(&["audience", "client_id", "checkpoint"])?;
    let paging = q.paging()?;
    let grants = state.deployment.registry.list_grants(q.client_id.as_deref()).await?;
    let items = grants.iter().filter(|g| q.audience.as_ref().is_none_or(|a| *a == g.audience)).map(to_json).collect();
    Ok(caller.ok(paging.page_of("client_grants", items)))
}

pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:client_grants"])?;
    let g = state.deployment.registry.get_grant(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(to_json(&g)))
}

/// Auth0: 409 when the client already has a grant for the audience; 404 when the client
/// or the API does not exist.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:client_grants"])?;
    let g = state.deployment.registry.create_grant(&body.client_id, &body.audience, Some(body.scope)).await?;
    Ok(caller.respond(StatusCode::CREATED, to_json(&g)))
}

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

pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:client_grants"])?;
    state.deployment.registry.delete_grant(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.no_content())
}
