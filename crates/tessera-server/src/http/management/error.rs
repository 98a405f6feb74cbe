//! The Management API's one error type and body, in Auth0's shape:
//! `{"statusCode":403,"error":"Forbidden","message":"…","errorCode":"insufficient_scope"}`.
//! Every refusal under `/api/v2/` becomes a response here and nowhere else.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_core::{Error, ErrorCode};

use crate::http::bearer::Refusal;
use crate::http::dpop;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub error_code: &'static str,
    /// RFC 6750 §3 / RFC 9449 §7.1 challenge for token refusals.
    challenge: Option<String>,
    dpop_nonce: Option<String>,
    /// Log-only detail of an internal failure.
    detail: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error_code: &'static str, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), error_code, challenge: None, dpop_nonce: None, detail: None }
    }

    /// Auth0: a body that does not match the endpoint's schema.
    pub fn invalid_body(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_body", format!("Payload validation error: {message}"))
    }

    /// Auth0: a query string that does not match the endpoint's schema.
    pub fn invalid_query(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query_string", format!("Query validation error: {message}"))
    }

    /// Auth0: 403 naming the scopes any one of which would have been enough.
    pub fn insufficient_scope(any_of: &[&str]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("Insufficient scope, expected any of: {}", any_of.join(",")),
        )
    }

    /// A 404 with Auth0's `inexistent_<resource>` code.
    pub fn not_found(error_code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error_code, message)
    }

    /// A core error on a resource whose 404 code is `not_found_code`.
    pub fn from_core(e: Error, not_found_code: &'static str) -> Self {
        let (status, code) = match e.code {
            ErrorCode::NotFound => (StatusCode::NOT_FOUND, not_found_code),
            ErrorCode::InvalidBody | ErrorCode::InvalidRequest | ErrorCode::InvalidScope => {
                return Self::invalid_body(e.description());
            }
            ErrorCode::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorCode::InvalidToken | ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce => {
                (StatusCode::UNAUTHORIZED, e.code.as_str())
            }
            ErrorCode::InsufficientScope => (StatusCode::FORBIDDEN, "insufficient_scope"),
            ErrorCode::TemporarilyUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
            ErrorCode::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
            _ => (StatusCode::BAD_REQUEST, "invalid_request"),
        };
        let mut out = Self::new(status, code, e.description());
        out.detail = e.detail;
        out
    }

    /// A refused access token: 401 (403 for a missing scope) with a challenge in the scheme
    /// the token came with.
    pub fn from_refusal(r: Refusal, dpop_scheme: bool) -> Self {
        let Refusal(e, nonce) = r;
        let code = e.code;
        let description = e.description().to_string();
        let mut out = Self::from_core(e, "inexistent_resource");
        if matches!(code, ErrorCode::InvalidToken | ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce) {
            let scheme = if dpop_scheme { "DPoP" } else { "Bearer" };
            out.challenge = Some(format!("{scheme} error=\"{code}\", error_description=\"{description}\""));
        }
        out.dpop_nonce = nonce;
        out
    }

    /// RFC 6750 §3.1: a request without a token gets a bare challenge.
    pub fn missing_token() -> Self {
        let mut out = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", "Missing authentication");
        out.challenge = Some("Bearer, DPoP".into());
        out
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self::from_core(e, "inexistent_resource")
    }
}

impl From<tessera_core::store::StoreError> for ApiError {
    fn from(e: tessera_core::store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), detail = ?self.detail, "management API request failed: {}", self.message);
        }
        let body = json!({
            "statusCode": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
            "errorCode": self.error_code,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        if let Some(v) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        dpop::with_nonce(resp, self.dpop_nonce)
    }
}
