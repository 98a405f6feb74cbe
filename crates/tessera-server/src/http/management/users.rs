//! `/api/v2/users` and `/api/v2/users-by-email` (Auth0 "Users"): users of the one database
//! connection, `Username-Password-Authentication`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_core::model::{User, UserPatch};

use super::connections::DATABASE_CONNECTION;
use super::error::ApiError;
use super::{ApiJson, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_user";

/// A user as Auth0's create and update endpoints take it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    connection: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    /// Auth0: send the verification email. Tessera sends no email from this endpoint.
    verify_email: Option<bool>,
    username: Option<String>,
    password: Option<String>,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    picture: Option<String>,
    blocked: Option<bool>,
}

impl UserBody {
    fn check(&self) -> Result<(), ApiError> {
        if let Some(c) = &self.connection {
            if c != DATABASE_CONNECTION {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "inexistent_connection",
                    format!("The connection does not exist. ({c})"),
                ));
            }
        }
        if self.verify_email == Some(true) {
            return Err(ApiError::invalid_body(
                "verify_email: Tessera does not send verification emails from the Management API",
            ));
        }
        Ok(())
    }

    fn patch(&self) -> UserPatch {
        UserPatch {
            email: self.email.clone(),
            email_verified: self.email_verified,
            username: self.username.clone(),
            name: self.name.clone(),
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            picture: self.picture.clone(),
        }
    }
}

/// The user in Auth0's shape, with its one identity.
fn user_json(u: &User) -> Value {
    let mut v = serde_json::to_value(u).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        let id = u.user_id.strip_prefix("auth0|").unwrap_or(&u.user_id);
        obj.insert(
            "identities".into(),
            json!([{"connection": DATABASE_CONNECTION, "provider": "auth0", "user_id": id, "isSocial": false}]),
        );
    }
    v
}

/// Auth0's `q` (Lucene syntax), the subset Tessera answers: `email:"…"` and `user_id:"…"`.
fn parse_q(q: &str) -> Result<(&'static str, String), ApiError> {
    let unsupported = || ApiError::invalid_query(format!("q {q:?} is not supported; use email:\"...\" or user_id:\"...\""));
    let (field, value) = q.trim().split_once(':').ok_or_else(unsupported)?;
    let value = value.trim();
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    if value.is_empty() || value.contains('"') {
        return Err(unsupported());
    }
    match field.trim() {
        "email" => Ok(("email", value.to_ascii_lowercase())),
        "user_id" => Ok(("user_id", value.to_string())),
        _ => Err(unsupported()),
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    caller.require(&["read:users"])?;
    q.only(&["q", "search_engine", "sort", "connection"])?;
    let paging = q.paging()?;
    if q.connection.as_deref().is_some_and(|c| c != DATABASE_CONNECTION) {
        return Ok(caller.ok(paging.wrap("users", vec![], 0)));
    }
    if let Some(engine) = q.search_engine.as_deref().filter(|e| *e != "v3") {
        return Err(ApiError::invalid_query(format!("search_engine must be v3, not {engine:?}")));
    }
    if let Some(sort) = q.sort.as_deref().filter(|s| !matches!(*s, "created_at:1" | "created_at:-1")) {
        return Err(ApiError::invalid_query(format!("sort {sort:?} is not supported; use created_at:1 or created_at:-1")));
    }
    let registry = &state.deployment.registry;
    let store = registry.store();
    if let Some(q) = q.q.as_deref() {
        let (field, value) = parse_q(q)?;
        let found = match field {
            "email" => store.find_user_by_login(&value).await?.filter(|u| u.email.as_deref() == Some(value.as_str())),
            _ => store.get_user(&value).await?,
        };
        return Ok(caller.ok(paging.page_of("users", found.iter().map(user_json).collect())));
    }
    let total = store.count_users().await?;
    let mut users = registry.list_users(paging.per_page.max(1) as i64, paging.offset() as i64).await?;
    if q.sort.as_deref() == Some("created_at:-1") {
        // Newest first: read the page from the other end.
        let from_end = (total as usize).saturating_sub(paging.offset() + paging.per_page);
        let take = (total as usize).saturating_sub(paging.offset()).min(paging.per_page);
        users = registry.list_users(take.max(1) as i64, from_end as i64).await?;
        users.truncate(take);
        users.reverse();
    }
    if paging.per_page == 0 {
        users.clear();
    }
    let items = users.iter().map(|u| paging.select(user_json(u))).collect();
    Ok(caller.ok(paging.wrap("users", items, total as usize)))
}

pub async fn by_email(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(&["read:users"])?;
    q.only(&["email"])?;
    let email =
        q.email.as_deref().ok_or_else(|| ApiError::invalid_query("Missing required property: email"))?.to_ascii_lowercase();
    let paging = q.paging()?;
    let found = state.deployment.store.find_user_by_login(&email).await?.filter(|u| u.email.as_deref() == Some(email.as_str()));
    Ok(caller.ok(Value::Array(found.iter().map(|u| paging.select(user_json(u))).collect())))
}

pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:users"])?;
    let u =
        state.deployment.store.get_user(&id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND, "The user does not exist."))?;
    Ok(caller.ok(user_json(&u)))
}

/// Auth0: `connection` is required; 409 when the email (or username) is taken.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UserBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:users"])?;
    if body.connection.is_none() {
        return Err(ApiError::invalid_body("Missing required property: connection"));
    }
    body.check()?;
    let registry = &state.deployment.registry;
    let mut user = registry.create_user(body.patch(), body.password.as_deref()).await.map_err(|e| match e.code {
        tessera_core::ErrorCode::Conflict => ApiError::new(StatusCode::CONFLICT, "auth0_idp_error", "The user already exists."),
        _ => e.into(),
    })?;
    if body.blocked == Some(true) {
        user = registry.set_blocked(&user.user_id, true).await?;
    }
    Ok(caller.respond(StatusCode::CREATED, user_json(&user)))
}

/// Auth0: only the fields given change; a new password is set with the same policy as at
/// sign-up; `blocked: true` also ends the user's refresh tokens.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserBody>,
) -> Result<Response, ApiError> {
    caller.require(&["update:users"])?;
    body.check()?;
    let registry = &state.deployment.registry;
    let existing =
        state.deployment.store.get_user(&id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND, "The user does not exist."))?;
    let mut user = registry.update_user(&existing.user_id, body.patch()).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    if let Some(p) = &body.password {
        user = registry.set_password(&user.user_id, p).await?;
    }
    if let Some(b) = body.blocked.filter(|b| *b != user.blocked) {
        user = registry.set_blocked(&user.user_id, b).await?;
    }
    Ok(caller.ok(user_json(&user)))
}

pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:users"])?;
    if state.deployment.store.get_user(&id).await?.is_none() {
        return Err(ApiError::not_found(NOT_FOUND, "The user does not exist."));
    }
    state.deployment.registry.delete_user(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.no_content())
}
