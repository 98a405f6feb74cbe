//! HTTP: the router, the middleware every request passes through (request id, access log,
//! metrics), and one module per endpoint family. Handlers extract, call into
//! `tessera-core` and render; errors become responses only in [`error`].

pub mod activate;
pub mod authorize;
pub mod bearer;
pub mod client_auth;
pub mod consent;
pub mod cookies;
pub mod cors;
pub mod dbconnections;
pub mod demo;
pub mod device;
pub mod dpop;
pub mod error;
pub mod health;
pub mod html;
pub mod interaction;
pub mod introspect;
pub mod login;
pub mod logout;
pub mod management;
pub mod metrics;
pub mod par;
pub mod params;
pub mod passwordless;
pub mod passwordless_verify;
pub mod registration;
pub mod reset_password;
pub mod revoke;
pub mod signup;
pub mod token;
pub mod userinfo;
pub mod verify_email;
pub mod well_known;

use std::time::Instant;

use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tessera_core::routes;
use tessera_core::ErrorCode;
use tracing::Instrument;

use crate::app::AppState;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    if state.demo.is_some() {
        router = router.route(demo::CALLBACK, get(demo::callback));
    }
    router = registration::routes(router);
    router
        .route(routes::OPENID_CONFIGURATION, get(well_known::openid_configuration))
        .route(routes::OAUTH_AUTHORIZATION_SERVER, get(well_known::oauth_authorization_server))
        .route(routes::JWKS, get(well_known::jwks))
        .route(routes::TOKEN, cors::any_origin(post(token::token), "POST").layer(DefaultBodyLimit::max(params::MAX_BODY)))
        .route(routes::REVOKE, cors::any_origin(post(revoke::revoke), "POST").layer(DefaultBodyLimit::max(params::MAX_BODY)))
        .route(routes::INTROSPECT, post(introspect::introspect).layer(DefaultBodyLimit::max(params::MAX_BODY)))
        .route(routes::PAR, post(par::par).layer(DefaultBodyLimit::max(params::MAX_BODY)))
        .route(routes::DEVICE_CODE, post(device::device_code).layer(DefaultBodyLimit::max(params::MAX_BODY)))
        .route(routes::ACTIVATE, get(activate::page).post(activate::submit))
        .route(routes::AUTHORIZE, get(authorize::get).post(authorize::post))
        .route(routes::LOGIN, get(login::page).post(login::submit))
        .route(routes::CONSENT, get(consent::page).post(consent::submit))
        .route(routes::SIGNUP, get(signup::page).post(signup::submit))
        .route(routes::RESET_PASSWORD, get(reset_password::page).post(reset_password::submit))
        .route(routes::VERIFY_EMAIL, get(verify_email::verify))
        .route(routes::DB_SIGNUP, cors::web_origins(post(dbconnections::signup::signup), "POST", state.clone()))
        .route(
            routes::DB_CHANGE_PASSWORD,
            cors::web_origins(post(dbconnections::change_password::change_password), "POST", state.clone()),
        )
        .route(routes::PASSWORDLESS_START, cors::web_origins(post(passwordless::start), "POST", state.clone()))
        .route(routes::PASSWORDLESS_VERIFY, get(passwordless_verify::verify_redirect))
        .route(routes::USERINFO, cors::any_origin(get(userinfo::userinfo).post(userinfo::userinfo), "GET, POST"))
        .route(routes::OIDC_LOGOUT, get(logout::oidc_get).post(logout::oidc_post))
        .route(routes::V2_LOGOUT, get(logout::auth0_v2))
        .nest(management::BASE, management::router(state.clone()))
        .route(routes::HEALTHZ, get(health::healthz))
        .route(routes::READYZ, get(health::readyz))
        .route(routes::METRICS, get(health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> Response {
    error::HttpError::from(tessera_core::Error::not_found("no such endpoint")).into_response()
}

/// RFC 9110 §15.5.6: 405 for a method the endpoint does not support (the router adds the
/// `Allow` header it requires), with the same JSON error body as every other refusal.
async fn method_not_allowed(method: axum::http::Method) -> Response {
    let e = tessera_core::Error::new(ErrorCode::MethodNotAllowed, format!("{method} is not supported by this endpoint"));
    error::HttpError::from(e).into_response()
}

/// A JSON body with RFC 6749 §5.1's `Cache-Control: no-store` and `Pragma: no-cache`, for
/// every response that carries tokens or token metadata.
pub fn no_store_json<T: serde::Serialize>(body: &T) -> Response {
    let mut resp = axum::Json(body).into_response();
    let h = resp.headers_mut();
    h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(axum::http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// An incoming `X-Request-Id` is kept when it is short and plain (so a proxy's id threads
/// through the logs); otherwise a fresh one is made.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
        .map(str::to_string)
        .unwrap_or_else(|| tessera_core::crypto::random_alnum(20))
}

/// Request id, access log and metrics for every request.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut resp = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    state.metrics.observe_request(route, method.as_str(), status, elapsed);
    if let Some(code) = resp.extensions().get::<ErrorCode>() {
        state.metrics.error(*code);
    }
    // Per-request lines are debug: at tens of thousands of requests a second an info line
    // each costs more than the work; /metrics carries the counts and latencies instead, and
    // failures are logged where they happen.
    span.in_scope(|| tracing::debug!(status, latency_ms = elapsed * 1000.0, "handled"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    resp
}
