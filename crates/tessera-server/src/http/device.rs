//! `POST /oauth/device/code` (RFC 8628 §3.1-3.2, Auth0's path): the device authorization
//! endpoint. The client authenticates as at the token endpoint (a public client sends its
//! `client_id`); the answer carries the device code, the user code shown as `XXXX-XXXX`,
//! the `/activate` URL with and without the code, the lifetime and the polling interval.
//! The decisions live in `tessera_core::device`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tessera_core::device::{self, DevicePolicy};
use tessera_core::routes;

use super::client_auth::{authenticate, parse};
use super::error::HttpError;
use crate::app::AppState;

pub async fn device_code(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let params = parse(&uri, &headers, body)?;
    let client = authenticate(&state, routes::DEVICE_CODE, &headers, &params).await?;
    let c = &state.deployment.config.device;
    let policy = DevicePolicy { lifetime: c.code_lifetime, interval: c.interval };
    let activate = routes::url(&state.issuer, routes::ACTIVATE);
    let answer = device::start(&state.deployment.registry, &client, &params, policy, &activate, state.now()).await?;
    // RFC 8628 §3.2: the response is JSON like a token response, and holds a credential.
    Ok(super::no_store_json(&answer))
}
