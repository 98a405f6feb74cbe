//! `/healthz` (the process is up), `/readyz` (the store answers and keys are loaded: safe to
//! route traffic here) and `/metrics`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::time::Duration;

use tessera_core::model::SigningAlg;
use tessera_core::store::StoreError;

use crate::app::AppState;

pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// How long `/readyz` waits for the store's answer: a load balancer's probe must get an
/// answer, and a database that takes longer than this is not fit to route traffic to.
pub const READY_PING_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn readyz(State(state): State<AppState>) -> Response {
    let store = match tokio::time::timeout(READY_PING_TIMEOUT, state.deployment.store.ping()).await {
        Ok(answer) => answer,
        Err(_) => Err(StoreError::Unavailable(format!("no answer within {} s", READY_PING_TIMEOUT.as_secs()))),
    };
    let keys = state.keys.get().signer(SigningAlg::RS256).is_some();
    // Shutting down: a load balancer must send nothing new here.
    let draining = state.draining.load(std::sync::atomic::Ordering::SeqCst);
    let ready = store.is_ok() && keys && !draining;
    if let Err(e) = &store {
        tracing::warn!(error = %e, "readiness: store unreachable");
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "store": if store.is_ok() { "ok" } else { "unreachable" },
        "backend": state.deployment.store.backend(),
        "keys": if keys { "ok" } else { "missing" },
        "draining": draining,
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = state.metrics.render();
    state.deployment.sql.render_metrics(&mut body);
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp
}
