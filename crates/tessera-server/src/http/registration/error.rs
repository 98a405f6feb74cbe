//! The one place a [`RegistrationError`] becomes a response (RFC 7591 §3.2.2): JSON
//! `{error, error_description}` with the code's status; `invalid_token` carries RFC 6750
//! §3.1's `Bearer` challenge, `too_many_requests` a `Retry-After`. Internal causes go to
//! the log only.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_core::registration::{RegistrationError, RegistrationErrorCode};

pub struct RegistrationFailure(pub RegistrationError);

impl From<RegistrationError> for RegistrationFailure {
    fn from(e: RegistrationError) -> Self {
        Self(e)
    }
}

impl IntoResponse for RegistrationFailure {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let description = if status.is_server_error() {
            tracing::error!(error = e.code.as_str(), detail = e.detail.as_deref().unwrap_or(""), "registration failed");
            "the request could not be completed".into()
        } else {
            e.description.to_string()
        };
        let body = json!({"error": e.code.as_str(), "error_description": description});
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match e.code {
            RegistrationErrorCode::InvalidToken => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            }
            RegistrationErrorCode::TooManyRequests => {
                if let Ok(v) = HeaderValue::from_str(&e.retry_after.unwrap_or(1).to_string()) {
                    h.insert(header::RETRY_AFTER, v);
                }
            }
            RegistrationErrorCode::TemporarilyUnavailable => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static(crate::http::error::RETRY_AFTER_SECONDS));
            }
            _ => {}
        }
        resp
    }
}
