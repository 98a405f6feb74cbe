//! The one place an [`Error`] becomes an HTTP response (DESIGN decision 8).
//!
//! RFC 6749 §5.2: errors are JSON `{error, error_description}`, status 400, except
//! `invalid_client` (401, with `WWW-Authenticate` when the client used HTTP Basic, §5.2).
//! RFC 6750 §3: resource errors carry a `WWW-Authenticate: Bearer` challenge.
//! Internal failures are logged with the request id and answered without internals;
//! `temporarily_unavailable` is a 503 with `Retry-After`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_core::{Error, ErrorCode};

/// An error on its way out, with what the response needs beyond the error itself.
#[derive(Debug)]
pub struct HttpError {
    pub error: Error,
    /// The client authenticated (or tried to) with HTTP Basic: a 401 names that scheme.
    pub basic_auth: bool,
}

impl From<Error> for HttpError {
    fn from(error: Error) -> Self {
        Self { error, basic_auth: false }
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: &str = "5";

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let e = &self.error;
        let status = status_of(e.code);
        if status.is_server_error() {
            tracing::error!(error = %e.code, detail = e.detail.as_deref().unwrap_or(""), "request failed");
        } else if let Some(d) = &e.detail {
            tracing::info!(error = %e.code, detail = %d, "request refused");
        }
        let body = json!({"error": e.code.as_str(), "error_description": e.description()});
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if e.code == ErrorCode::TemporarilyUnavailable {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        if e.code == ErrorCode::InvalidClient && self.basic_auth {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""));
        }
        resp.extensions_mut().insert(e.code);
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        assert_eq!(status_of(ErrorCode::InvalidRequest), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(ErrorCode::InvalidGrant), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(ErrorCode::InvalidClient), StatusCode::UNAUTHORIZED);
        assert_eq!(status_of(ErrorCode::ServerError), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_of(ErrorCode::TemporarilyUnavailable), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn internals_stay_out_of_the_body_and_503_says_when_to_retry() {
        let resp = HttpError::from(Error::temporarily_unavailable("pool timed out at db.internal:5432")).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let basic = HttpError { error: Error::invalid_client("bad secret"), basic_auth: true }.into_response();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
        assert!(basic.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic realm="));
    }
}
