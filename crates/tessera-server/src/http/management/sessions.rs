//! `/api/v2/sessions/{id}` and `/api/v2/users/{id}/sessions` (Auth0 "Sessions"): a user's
//! single sign-on sessions, by their public id (`sid`); deleting one signs the user out of
//! it (the next /authorize asks them to log in).

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};
use tessera_core::model::rfc3339;
use tessera_core::state::Session;

use super::error::ApiError;
use super::openapi;
use super::{user_exists, user_page, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_session";

/// The session in Auth0's shape.
fn session_json(s: &Session) -> Value {
    json!({
        "id": s.sid,
        "user_id": s.user_id,
        "created_at": rfc3339(s.created_at),
        "updated_at": rfc3339(s.last_seen_at),
        "authenticated_at": rfc3339(s.auth_time),
        "last_interacted_at": rfc3339(s.last_seen_at),
        "idle_expires_at": rfc3339(s.idle_expires_at),
        "expires_at": rfc3339(s.absolute_expires_at),
        "authentication": {"methods": [{"name": "pwd", "timestamp": rfc3339(s.auth_time)}]},
    })
}

#[utoipa::path(
    get,
    path = "/users/{id}/sessions",
    tag = "sessions",
    operation_id = "get_user_sessions",
    params(("id" = String, Path, description = "The user_id."), openapi::CheckpointPaging, openapi::Totals, openapi::Fields),
    security(("bearer" = ["read:sessions"])),
    responses((status = 200, description = "The user's active sessions.", body = openapi::SessionsPage), openapi::ErrorsOne)
)]
pub async fn list_for_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let paging = user_page(&state, &caller, "read:sessions", &user_id, &q).await?;
    let sessions = state.deployment.store.list_user_sessions(&user_id, state.now()).await?;
    Ok(caller.ok(paging.page_of("sessions", sessions.iter().map(session_json).collect())))
}

#[utoipa::path(
    delete,
    path = "/users/{id}/sessions",
    tag = "sessions",
    operation_id = "delete_user_sessions",
    params(("id" = String, Path, description = "The user_id.")),
    security(("bearer" = ["delete:sessions"])),
    responses((status = 202, description = "Every session of the user ends."), openapi::ErrorsOne)
)]
pub async fn delete_for_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&["delete:sessions"])?;
    user_exists(&state, &user_id).await?;
    state.deployment.store.end_user_sessions(&user_id, state.now()).await?;
    Ok(caller.accepted())
}

/// An ended or expired session is gone, as at Auth0.
async fn active(state: &AppState, sid: &str) -> Result<Session, ApiError> {
    let s = state.deployment.store.get_session_by_sid(sid).await?;
    s.filter(|s| s.is_active(state.now())).ok_or_else(|| ApiError::not_found(NOT_FOUND, "The session does not exist"))
}

#[utoipa::path(
    get,
    path = "/sessions/{id}",
    tag = "sessions",
    operation_id = "get_session",
    params(("id" = String, Path, description = "The session's id (sid).")),
    security(("bearer" = ["read:sessions"])),
    responses((status = 200, description = "The session.", body = openapi::Session), openapi::ErrorsOne)
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(sid): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:sessions"])?;
    Ok(caller.ok(session_json(&active(&state, &sid).await?)))
}

#[utoipa::path(
    delete,
    path = "/sessions/{id}",
    tag = "sessions",
    operation_id = "delete_session",
    params(("id" = String, Path, description = "The session's id (sid).")),
    security(("bearer" = ["delete:sessions"])),
    responses((status = 204, description = "The session ended."), openapi::ErrorsOne)
)]
pub async fn delete(State(state): State<AppState>, caller: Caller, Path(sid): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:sessions"])?;
    active(&state, &sid).await?;
    state.deployment.store.end_session_by_sid(&sid, state.now()).await?;
    Ok(caller.no_content())
}
