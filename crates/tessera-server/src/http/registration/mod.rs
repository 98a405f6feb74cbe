//! Dynamic client registration: `POST /oidc/register` (RFC 7591 §3, Auth0's path) and the
//! client configuration endpoint `GET/PUT/DELETE /oidc/register/{client_id}` (RFC 7592 §2),
//! on when `registration.mode` is `open` or `token` (otherwise 404, and not in discovery).
//!
//! - RFC 7591 §3.1: the body is a JSON object of client metadata; §3.2.1: 201 Created with
//!   the client information, `Cache-Control: no-store`.
//! - RFC 7591 §3: in token mode the initial access token comes as a Bearer token
//!   (RFC 6750 §2.1); RFC 7592 §2: so does the registration access token.
//! - Registrations are limited per client IP address ([`rate_limit`]).
//! - The decisions are `tessera_core::registration` and the registry's; errors become
//!   responses in [`error`] only.

pub mod error;
pub mod rate_limit;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tessera_core::registration::{RegistrationError, RegistrationErrorCode, RegistrationMode, RegistrationPolicy};
use tessera_core::routes;

use self::error::RegistrationFailure;
use self::rate_limit::RegistrationLimiter;
use crate::app::AppState;

/// The path of a client's configuration endpoint under [`routes::REGISTER`].
pub const CLIENT_PATH: &str = "/oidc/register/{client_id}";

/// What the endpoint needs beyond the registry: the policy and the per-address limit.
pub struct Registration {
    pub policy: RegistrationPolicy,
    pub limiter: RegistrationLimiter,
}

impl Registration {
    pub fn enabled(&self) -> bool {
        self.policy.mode != RegistrationMode::Off
    }
}

type Answer = Result<Response, Response>;

fn off() -> Response {
    super::error::HttpError::from(tessera_core::Error::not_found("no such endpoint")).into_response()
}

fn fail(e: RegistrationError) -> Response {
    RegistrationFailure(e).into_response()
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, RegistrationError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let v = v.to_str().unwrap_or("");
    match v.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(RegistrationError::token("the Authorization header must be: Bearer <token>")),
    }
}

/// RFC 7591 §3.1: the metadata as a JSON object.
fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, RegistrationError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(RegistrationError::metadata("Content-Type must be application/json"));
    }
    serde_json::from_slice(body).map_err(|_| RegistrationError::metadata("the body is not valid JSON"))
}

fn information(state: &AppState, registered: &tessera_core::registry::Registered, status: StatusCode) -> Response {
    let mut resp = super::no_store_json(&registered.response(&state.issuer));
    *resp.status_mut() = status;
    resp
}

pub async fn register(State(state): State<AppState>, peer: super::token::PeerIp, headers: HeaderMap, body: Bytes) -> Response {
    try_register(&state, peer.0, &headers, &body).await.unwrap_or_else(|e| e)
}

async fn try_register(state: &AppState, peer: Option<std::net::IpAddr>, headers: &HeaderMap, body: &[u8]) -> Answer {
    let reg = &state.registration;
    if !reg.enabled() {
        return Err(off());
    }
    let token = bearer(headers).map_err(fail)?;
    let metadata = json_body(headers, body).map_err(fail)?;
    if let Some(ip) = peer {
        if let Err(wait) = reg.limiter.take(ip, state.now()) {
            let mut e =
                RegistrationError::new(RegistrationErrorCode::TooManyRequests, "too many registrations from this address");
            e.retry_after = Some(wait);
            return Err(fail(e));
        }
    }
    let registered = state.deployment.registry.register_client(&metadata, &reg.policy, token.as_deref()).await.map_err(fail)?;
    Ok(information(state, &registered, StatusCode::CREATED))
}

pub async fn read(State(state): State<AppState>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    let run = async {
        if !state.registration.enabled() {
            return Err(off());
        }
        let token = bearer(&headers).map_err(fail)?;
        let r = state.deployment.registry.read_registration(&client_id, token.as_deref()).await.map_err(fail)?;
        Ok(information(&state, &r, StatusCode::OK))
    };
    run.await.unwrap_or_else(|e| e)
}

pub async fn update(State(state): State<AppState>, Path(client_id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        if !state.registration.enabled() {
            return Err(off());
        }
        let token = bearer(&headers).map_err(fail)?;
        let metadata = json_body(&headers, &body).map_err(fail)?;
        let registry = &state.deployment.registry;
        let r = registry
            .update_registration(&client_id, token.as_deref(), &metadata, &state.registration.policy)
            .await
            .map_err(fail)?;
        Ok(information(&state, &r, StatusCode::OK))
    };
    run.await.unwrap_or_else(|e| e)
}

pub async fn delete(State(state): State<AppState>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    let run = async {
        if !state.registration.enabled() {
            return Err(off());
        }
        let token = bearer(&headers).map_err(fail)?;
        state.deployment.registry.delete_registration(&client_id, token.as_deref()).await.map_err(fail)?;
        // RFC 7592 §2.3: 204 No Content.
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    run.await.unwrap_or_else(|e| e)
}

/// Routes of the registration endpoint (always routed; answering 404 while off keeps the
/// router independent of the configuration).
pub fn routes(router: axum::Router<AppState>) -> axum::Router<AppState> {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{get, post};
    router
        .route(routes::REGISTER, post(register).layer(DefaultBodyLimit::max(super::params::MAX_BODY)))
        .route(CLIENT_PATH, get(read).put(update).delete(delete).layer(DefaultBodyLimit::max(super::params::MAX_BODY)))
}
