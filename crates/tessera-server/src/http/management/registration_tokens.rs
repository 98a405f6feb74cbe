//! `/api/v2/registration-tokens` (Tessera's own; Auth0 has no initial access tokens):
//! issue, list and delete the initial access tokens `POST /oidc/register` requires when
//! `registration.mode` is `token` (RFC 7591 §3). The token value is in the creation answer
//! only. An initial access token is the right to create clients, so the scopes are the
//! clients' (`create:clients`, `read:clients`, `delete:clients`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use tessera_core::registration::RegistrationToken;

use super::error::ApiError;
use super::openapi;
use super::{ApiJson, Caller};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_registration_token";

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RegistrationTokenCreate)]
pub struct TokenBody {
    /// Seconds the token stays valid; absent: until deleted.
    expires_in: Option<i64>,
    /// Registrations it allows; absent: any number.
    uses: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/registration-tokens",
    tag = "registration-tokens",
    operation_id = "post_registration_token",
    request_body = TokenBody,
    security(("bearer" = ["create:clients"])),
    responses((status = 201, description = "The new token; its value is shown only here.", body = openapi::RegistrationToken), openapi::ErrorsBody)
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:clients"])?;
    let (t, plain) = state.deployment.registry.create_registration_token(body.expires_in, body.uses).await?;
    let mut v = t.auth0_json();
    v["token"] = plain.into();
    Ok(caller.respond(StatusCode::CREATED, v))
}

#[utoipa::path(
    get,
    path = "/registration-tokens",
    tag = "registration-tokens",
    operation_id = "get_registration_tokens",
    security(("bearer" = ["read:clients"])),
    responses((status = 200, description = "The tokens (without their values).", body = Vec<openapi::RegistrationToken>), openapi::Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&["read:clients"])?;
    let all = state.deployment.registry.list_registration_tokens().await?;
    Ok(caller.ok(Value::Array(all.iter().map(RegistrationToken::auth0_json).collect())))
}

#[utoipa::path(
    delete,
    path = "/registration-tokens/{id}",
    tag = "registration-tokens",
    operation_id = "delete_registration_token",
    params(("id" = String, Path, description = "The token's id.")),
    security(("bearer" = ["delete:clients"])),
    responses((status = 204, description = "Deleted."), openapi::ErrorsOne)
)]
pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:clients"])?;
    state.deployment.registry.delete_registration_token(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.no_content())
}
