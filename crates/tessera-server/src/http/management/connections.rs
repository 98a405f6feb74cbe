//! `/api/v2/connections` (Auth0 "Connections"): Tessera has one database connection, under
//! Auth0's default name, so SDK calls that name it work. Of its options, `disable_signup`
//! can be changed (`PATCH`); the others are fixed.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::error::ApiError;
use super::openapi;
use super::{ApiJson, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

/// Auth0's default database connection name.
pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";
/// The connection's fixed id.
pub const DATABASE_CONNECTION_ID: &str = "con_tessera_database";

async fn connection(state: &AppState) -> Result<Value, ApiError> {
    let clients = state.deployment.registry.list_clients().await?;
    Ok(json!({
        "id": DATABASE_CONNECTION_ID,
        "name": DATABASE_CONNECTION,
        "strategy": "auth0",
        "enabled_clients": clients.iter().map(|c| c.client_id.as_str()).collect::<Vec<_>>(),
        "realms": [DATABASE_CONNECTION],
        "is_domain_connection": false,
        "options": {
            "brute_force_protection": true,
            "disable_signup": state.deployment.registry.signup_disabled().await?,
        },
    }))
}

#[utoipa::path(
    get,
    path = "/connections",
    tag = "connections",
    operation_id = "get_connections",
    params(openapi::OffsetPaging, openapi::Totals, openapi::CheckpointPaging, openapi::Fields, openapi::ConnectionFilters),
    security(("bearer" = ["read:connections"])),
    responses((status = 200, description = "The connections: the one database connection.", body = openapi::ConnectionsPage), openapi::Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    caller.require(&["read:connections"])?;
    q.only(&["checkpoint", "strategy", "name"])?;
    let paging = q.paging()?;
    let mut all = vec![connection(&state).await?];
    all.retain(|c| q.strategy.as_deref().is_none_or(|s| c["strategy"] == s) && q.name.as_deref().is_none_or(|n| c["name"] == n));
    Ok(caller.ok(paging.page_of("connections", all)))
}

#[utoipa::path(
    get,
    path = "/connections/{id}",
    tag = "connections",
    operation_id = "get_connection",
    params(("id" = String, Path, description = "The connection's id.")),
    security(("bearer" = ["read:connections"])),
    responses((status = 200, description = "The connection.", body = openapi::Connection), openapi::ErrorsOne)
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:connections"])?;
    if id != DATABASE_CONNECTION_ID {
        return Err(ApiError::not_found("inexistent_connection", "The connection does not exist"));
    }
    Ok(caller.ok(connection(&state).await?))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConnectionUpdate)]
pub struct UpdateBody {
    options: Option<UpdateOptions>,
}

/// Auth0's connection options; Tessera changes `disable_signup` and ignores the others.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(as = ConnectionOptionsUpdate)]
pub struct UpdateOptions {
    disable_signup: Option<bool>,
}

/// Auth0 `PATCH /api/v2/connections/{id}`: `options.disable_signup` turns self-service
/// sign-up (`/dbconnections/signup`, the hosted sign-up screen) off or on.
#[utoipa::path(
    patch,
    path = "/connections/{id}",
    tag = "connections",
    operation_id = "patch_connection",
    params(("id" = String, Path, description = "The connection's id.")),
    request_body = UpdateBody,
    security(("bearer" = ["update:connections"])),
    responses((status = 200, description = "The updated connection.", body = openapi::Connection), openapi::ErrorsUpdate)
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Response, ApiError> {
    caller.require(&["update:connections"])?;
    if id != DATABASE_CONNECTION_ID {
        return Err(ApiError::not_found("inexistent_connection", "The connection does not exist"));
    }
    if let Some(disabled) = body.options.and_then(|o| o.disable_signup) {
        state.deployment.registry.set_signup_disabled(disabled).await?;
    }
    Ok(caller.ok(connection(&state).await?))
}
