//! `/api/v2/tenants/settings` (Auth0 "Tenant Settings"): the tenant-wide settings Tessera
//! has. Today that is `default_audience` (and the read-only issuer-derived fields).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::openapi;
use super::{ApiJson, Caller};
use crate::app::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TenantSettingsUpdate)]
pub struct SettingsBody {
    /// Auth0's "Default Audience"; an empty string clears it.
    default_audience: Option<String>,
}

async fn settings(state: &AppState) -> Result<serde_json::Value, ApiError> {
    let aud = state.deployment.registry.default_audience().await?;
    Ok(json!({"default_audience": aud.unwrap_or_default()}))
}

#[utoipa::path(
    get,
    path = "/tenants/settings",
    tag = "tenants",
    operation_id = "get_tenant_settings",
    security(("bearer" = ["read:tenant_settings"])),
    responses((status = 200, description = "The tenant settings.", body = openapi::TenantSettings), openapi::Errors)
)]
pub async fn get(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&["read:tenant_settings"])?;
    Ok(caller.ok(settings(&state).await?))
}

#[utoipa::path(
    patch,
    path = "/tenants/settings",
    tag = "tenants",
    operation_id = "patch_tenant_settings",
    request_body = SettingsBody,
    security(("bearer" = ["update:tenant_settings"])),
    responses((status = 200, description = "The updated settings.", body = openapi::TenantSettings), openapi::ErrorsBody)
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SettingsBody>,
) -> Result<Response, ApiError> {
    caller.require(&["update:tenant_settings"])?;
    if let Some(aud) = body.default_audience {
        // The default audience must name a registered API; one that does not is a
        // validation error of this body (400 invalid_body), not a missing resource (404).
        state.deployment.registry.set_default_audience(Some(aud.as_str()).filter(|a| !a.is_empty())).await.map_err(|e| {
            if e.code == tessera_core::ErrorCode::NotFound {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid_body",
                    format!("Payload validation error: default_audience: {}", e.description()),
                )
            } else {
                e.into()
            }
        })?;
    }
    Ok(caller.ok(settings(&state).await?))
}
