//! `/api/v2/users` and `/api/v2/users-by-email` (Auth0 "Users"): users of the one database
//! connection, `Username-Password-Authentication`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_core::model::{User, UserPatch};
use tessera_core::store::UserFilter;

use super::connections::DATABASE_CONNECTION;
use super::error::ApiError;
use super::openapi;
use super::{ApiJson, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_user";

/// A user as Auth0's create and update endpoints take it.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
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
    /// Auth0: profile data the user may change; on update, merged at the top level (a
    /// property set to null is removed).
    #[schema(value_type = Option<Object>)]
    user_metadata: Option<Value>,
    /// Auth0: data the application controls, merged the same way.
    #[schema(value_type = Option<Object>)]
    app_metadata: Option<Value>,
}

/// Auth0 keeps each metadata object small; so does Tessera.
const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Auth0's metadata update: top-level properties of `patch` replace those of `current`,
/// and a property set to `null` is removed.
fn merge_metadata(current: &mut Value, patch: Value) {
    let (Value::Object(cur), Value::Object(p)) = (current, patch) else { return };
    for (k, v) in p {
        if v.is_null() {
            cur.remove(&k);
        } else {
            cur.insert(k, v);
        }
    }
}

fn check_metadata(name: &str, v: &Option<Value>) -> Result<(), ApiError> {
    match v {
        None => Ok(()),
        Some(Value::Object(_)) if serde_json::to_string(v).map_or(0, |s| s.len()) > MAX_METADATA_BYTES => {
            Err(ApiError::invalid_body(format!("{name} is larger than {MAX_METADATA_BYTES} bytes")))
        }
        Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(ApiError::invalid_body(format!("{name} must be an object"))),
    }
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
        check_metadata("user_metadata", &self.user_metadata)?;
        check_metadata("app_metadata", &self.app_metadata)?;
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

/// The user in Auth0's shape, with its one identity and its metadata.
pub(super) async fn user_json(state: &AppState, u: &User) -> Result<Value, ApiError> {
    let metadata = state.deployment.store.get_user_metadata(&u.user_id).await?;
    Ok(shape(u, metadata))
}

fn shape(u: &User, metadata: Option<(Value, Value)>) -> Value {
    let (user_metadata, app_metadata) = metadata.unwrap_or_else(|| (json!({}), json!({})));
    u.auth0_json(user_metadata, app_metadata)
}

/// A page of users, their metadata read in one query (one per user made a page of 50 on
/// PostgreSQL 50 round trips).
async fn users_json(state: &AppState, users: &[User], paging: &super::Paging) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<String> = users.iter().map(|u| u.user_id.clone()).collect();
    let mut metadata: std::collections::HashMap<String, (Value, Value)> =
        state.deployment.store.get_users_metadata(&ids).await?.into_iter().map(|(id, um, am)| (id, (um, am))).collect();
    Ok(users.iter().map(|u| paging.select(shape(u, metadata.remove(&u.user_id)))).collect())
}

/// The terms of Auth0's `q` (Lucene syntax) Tessera answers: `email:"…"`, `user_id:"…"`
/// and `email_verified:true|false`, alone or joined by `AND` (every term must match).
#[derive(Debug, Default, PartialEq)]
struct UserQuery {
    email: Option<String>,
    user_id: Option<String>,
    filter: UserFilter,
}

impl UserQuery {
    fn matches(&self, u: &User) -> bool {
        self.email.as_ref().is_none_or(|e| u.email.as_deref() == Some(e.as_str()))
            && self.user_id.as_ref().is_none_or(|id| &u.user_id == id)
            && self.filter.email_verified.is_none_or(|v| u.email_verified == v)
    }
}

fn parse_q(q: &str) -> Result<UserQuery, ApiError> {
    let unsupported = || {
        ApiError::invalid_query(format!(
            "q {q:?} is not supported; use email:\"...\", user_id:\"...\" or email_verified:true|false, joined by AND"
        ))
    };
    let mut out = UserQuery::default();
    for term in q.trim().split(" AND ") {
        let (field, value) = term.trim().split_once(':').ok_or_else(unsupported)?;
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        if value.is_empty() || value.contains('"') {
            return Err(unsupported());
        }
        // A field given twice is a contradiction or a repetition; neither is answered.
        let taken = match field.trim() {
            "email" => out.email.replace(value.to_ascii_lowercase()).is_some(),
            "user_id" => out.user_id.replace(value.to_string()).is_some(),
            "email_verified" => {
                let v = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(unsupported()),
                };
                out.filter.email_verified.replace(v).is_some()
            }
            _ => return Err(unsupported()),
        };
        if taken {
            return Err(unsupported());
        }
    }
    Ok(out)
}

#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    operation_id = "get_users",
    params(openapi::OffsetPaging, openapi::Totals, openapi::Fields, openapi::UserSearch),
    security(("bearer" = ["read:users"])),
    responses((status = 200, description = "The users, oldest first unless sort=created_at:-1.", body = openapi::UsersPage), openapi::Errors)
)]
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
    let store = state.deployment.registry.store();
    let query = q.q.as_deref().map(parse_q).transpose()?.unwrap_or_default();
    // A term naming one user (email, user_id): look it up, then check the other terms.
    if query.email.is_some() || query.user_id.is_some() {
        let found = match (&query.user_id, &query.email) {
            (Some(id), _) => store.get_user(id).await?,
            (None, Some(email)) => store.find_user_by_login(email).await?,
            (None, None) => None,
        };
        let found: Vec<User> = found.into_iter().filter(|u| query.matches(u)).collect();
        let items = users_json(&state, &found, &paging).await?;
        let total = items.len();
        return Ok(caller.ok(paging.wrap("users", items, total)));
    }
    let filter = query.filter;
    let total = store.count_users_matching(&filter).await? as usize;
    // Newest first: the same page read from the other end of the list.
    let (offset, take) = if q.sort.as_deref() == Some("created_at:-1") {
        (total.saturating_sub(paging.offset() + paging.per_page), total.saturating_sub(paging.offset()).min(paging.per_page))
    } else {
        (paging.offset(), paging.per_page)
    };
    let mut users =
        if take == 0 { vec![] } else { store.list_users_matching(&filter, take.min(1000) as i64, offset as i64).await? };
    users.truncate(take);
    if q.sort.as_deref() == Some("created_at:-1") {
        users.reverse();
    }
    let items = users_json(&state, &users, &paging).await?;
    Ok(caller.ok(paging.wrap("users", items, total)))
}

#[utoipa::path(
    get,
    path = "/users-by-email",
    tag = "users",
    operation_id = "get_users_by_email",
    params(openapi::ByEmail, openapi::Fields),
    security(("bearer" = ["read:users"])),
    responses((status = 200, description = "The users with this email (none or one).", body = Vec<openapi::User>), openapi::Errors)
)]
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
    Ok(caller.ok(Value::Array(users_json(&state, &found.into_iter().collect::<Vec<_>>(), &paging).await?)))
}

#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    operation_id = "get_user",
    params(("id" = String, Path, description = "The user_id.")),
    security(("bearer" = ["read:users", "read:users_app_metadata"])),
    responses((status = 200, description = "The user.", body = openapi::User), openapi::ErrorsOne)
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:users", "read:users_app_metadata"])?;
    let u =
        state.deployment.store.get_user(&id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND, "The user does not exist."))?;
    Ok(caller.ok(user_json(&state, &u).await?))
}

/// Auth0: `connection` is required; 409 when the email (or username) is taken.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    operation_id = "post_user",
    request_body = UserBody,
    security(("bearer" = ["create:users"])),
    responses((status = 201, description = "The new user.", body = openapi::User), openapi::ErrorsCreate)
)]
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
    if body.user_metadata.is_some() || body.app_metadata.is_some() {
        let um = body.user_metadata.unwrap_or_else(|| json!({}));
        let am = body.app_metadata.unwrap_or_else(|| json!({}));
        state.deployment.store.put_user_metadata(&user.user_id, &um, &am).await?;
    }
    Ok(caller.respond(StatusCode::CREATED, user_json(&state, &user).await?))
}

/// Auth0: only the fields given change; a new password is set with the same policy as at
/// sign-up; `blocked: true` also ends the user's refresh tokens.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    operation_id = "patch_user",
    summary = "Update a user (update:users_app_metadata is enough for app_metadata alone)",
    params(("id" = String, Path, description = "The user_id.")),
    request_body = UserBody,
    security(("bearer" = ["update:users", "update:users_app_metadata"])),
    responses((status = 200, description = "The updated user.", body = openapi::User), openapi::ErrorsUpdate)
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserBody>,
) -> Result<Response, ApiError> {
    // Auth0: update:users_app_metadata is enough for a change of app_metadata alone.
    let only_app_metadata = body.app_metadata.is_some() && UserBody { app_metadata: None, ..body.clone() } == UserBody::default();
    if only_app_metadata {
        caller.require(&["update:users", "update:users_app_metadata"])?;
    } else {
        caller.require(&["update:users"])?;
    }
    body.check()?;
    // Everything is checked before anything is written, so a refused update changes nothing.
    if let Some(p) = &body.password {
        tessera_core::password::validate_password(p)?;
    }
    let registry = &state.deployment.registry;
    let store = &state.deployment.store;
    let existing = store.get_user(&id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND, "The user does not exist."))?;
    let mut check = existing.clone();
    check.apply(body.patch(), state.now())?;
    let metadata = if body.user_metadata.is_some() || body.app_metadata.is_some() {
        let (mut um, mut am) = store.get_user_metadata(&existing.user_id).await?.unwrap_or_else(|| (json!({}), json!({})));
        if let Some(p) = body.user_metadata.clone() {
            merge_metadata(&mut um, p);
        }
        if let Some(p) = body.app_metadata.clone() {
            merge_metadata(&mut am, p);
        }
        check_metadata("user_metadata", &Some(um.clone()))?;
        check_metadata("app_metadata", &Some(am.clone()))?;
        Some((um, am))
    } else {
        None
    };
    if let Some((um, am)) = &metadata {
        store.put_user_metadata(&existing.user_id, um, am).await?;
    }
    let mut user = registry.update_user(&existing.user_id, body.patch()).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    if let Some(p) = &body.password {
        user = registry.set_password(&user.user_id, p).await?;
    }
    if let Some(b) = body.blocked.filter(|b| *b != user.blocked) {
        user = registry.set_blocked(&user.user_id, b).await?;
    }
    Ok(caller.ok(user_json(&state, &user).await?))
}

#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    operation_id = "delete_user",
    params(("id" = String, Path, description = "The user_id.")),
    security(("bearer" = ["delete:users"])),
    responses((status = 204, description = "Deleted."), openapi::ErrorsOne)
)]
pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:users"])?;
    if state.deployment.store.get_user(&id).await?.is_none() {
        return Err(ApiError::not_found(NOT_FOUND, "The user does not exist."));
    }
    state.deployment.registry.delete_user(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.no_content())
}
