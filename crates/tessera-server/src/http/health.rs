//! `/healthz` (the process is up), `/readyz` (the store answers and keys are loaded: safe to
//! route traffic here) and `/metrics`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tessera_core::model::SigningAlg;

use crate::app::AppState;

pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.deployment.store.ping().await;
    let keys = state.keys.get().signer(SigningAlg::RS256).is_some();
    let ready = store.is_ok() && keys;
    if let Err(e) = &store {
        tracing::warn!(error = %e, "readiness: store unreachable");
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "store": if store.is_ok() { "ok" } else { "unreachable" },
        "backend": state.deployment.store.backend(),
        "keys": if keys { "ok" } else { "missing" },
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
