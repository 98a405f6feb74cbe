//! `/api/v2/refresh-tokens/{id}` and `/api/v2/users/{id}/refresh-tokens` (Auth0 "Refresh
//! Tokens"): a user's live refresh tokens. Tessera's id of a refresh token is its family's
//! (one id for a token and every rotation of it); deleting it revokes the family and the
//! access tokens it issued.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};
use tessera_core::model::rfc3339;
use tessera_core::state::RefreshFamily;

use super::error::ApiError;
use super::openapi;
use super::{user_exists, user_page, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_refresh_token";

/// The refresh token in Auth0's shape.
fn token_json(f: &RefreshFamily) -> Value {
    let scopes: Vec<&str> = f.scope.split_whitespace().collect();
    json!({
        "id": f.family_id,
        "user_id": f.user_id,
        "client_id": f.client_id,
        "session_id": f.sid,
        "created_at": rfc3339(f.created_at),
        "expires_at": rfc3339(f.absolute_expires_at),
        "rotating": true,
        "resource_servers": f.audience.as_ref().map(|a| vec![json!({"audience": a, "scopes": scopes.join(" ")})]).unwrap_or_default(),
    })
}

#[utoipa::path(
    get,
    path = "/users/{id}/refresh-tokens",
    tag = "refresh-tokens",
    operation_id = "get_user_refresh_tokens",
    params(("id" = String, Path, description = "The user_id."), openapi::CheckpointPaging, openapi::Totals, openapi::Fields),
    security(("bearer" = ["read:refresh_tokens"])),
    responses((status = 200, description = "The user's live refresh tokens.", body = openapi::RefreshTokensPage), openapi::ErrorsOne)
)]
pub async fn list_for_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let paging = user_page(&state, &caller, "read:refresh_tokens", &user_id, &q).await?;
    let families = state.deployment.store.list_user_families(&user_id, state.now()).await?;
    Ok(caller.ok(paging.page_of("tokens", families.iter().map(token_json).collect())))
}

#[utoipa::path(
    delete,
    path = "/users/{id}/refresh-tokens",
    tag = "refresh-tokens",
    operation_id = "delete_user_refresh_tokens",
    params(("id" = String, Path, description = "The user_id.")),
    security(("bearer" = ["delete:refresh_tokens"])),
    responses((status = 202, description = "Every refresh token of the user is revoked."), openapi::ErrorsOne)
)]
pub async fn delete_for_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&["delete:refresh_tokens"])?;
    user_exists(&state, &user_id).await?;
    state.deployment.store.revoke_families(None, Some(&user_id), state.now(), "management_api").await?;
    Ok(caller.accepted())
}

/// A revoked or expired refresh token is gone, as at Auth0.
async fn live(state: &AppState, id: &str) -> Result<RefreshFamily, ApiError> {
    let f = state.deployment.store.get_family(id).await?;
    f.filter(|f| f.revoked_at.is_none() && f.absolute_expires_at > state.now())
        .ok_or_else(|| ApiError::not_found(NOT_FOUND, "The refresh token does not exist"))
}

#[utoipa::path(
    get,
    path = "/refresh-tokens/{id}",
    tag = "refresh-tokens",
    operation_id = "get_refresh_token",
    params(("id" = String, Path, description = "The refresh token's id.")),
    security(("bearer" = ["read:refresh_tokens"])),
    responses((status = 200, description = "The refresh token.", body = openapi::RefreshToken), openapi::ErrorsOne)
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:refresh_tokens"])?;
    Ok(caller.ok(token_json(&live(&state, &id).await?)))
}

#[utoipa::path(
    delete,
    path = "/refresh-tokens/{id}",
    tag = "refresh-tokens",
    operation_id = "delete_refresh_token",
    params(("id" = String, Path, description = "The refresh token's id.")),
    security(("bearer" = ["delete:refresh_tokens"])),
    responses((status = 204, description = "Revoked, with the access tokens it issued."), openapi::ErrorsOne)
)]
pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:refresh_tokens"])?;
    live(&state, &id).await?;
    state.deployment.store.revoke_family(&id, state.now(), "management_api").await?;
    Ok(caller.no_content())
}
