//! The one place an [`Error`] becomes an HTTP response (DESIGN decision 8).
//!
//! RFC 6749 §5.2: errors are JSON `{error, error_description}`, status 400, except
//! `invalid_client` (401, with `WWW-Authenticate` when the client used HTTP Basic, §5.2).
//! RFC 6750 §3: resource errors carry a `WWW-Authenticate: Bearer` challenge.
//! Internal failures are logged with the request id and answered without internals;
//! `temporarily_unavailable` is a 503 with `Retry-After`.
//! Protected resources (/userinfo) answer with the challenge of the scheme the token came
//! in ([`resource_error`], RFC 9449 §7.1 for DPoP); errors shown to a person in a browser
//! are HTML pages ([`HtmlError`]), never redirects.

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
    /// RFC 9449 §8: a fresh server nonce to hand the client (`DPoP-Nonce` header).
    pub dpop_nonce: Option<String>,
}

impl HttpError {
    pub fn with_dpop_nonce(mut self, nonce: Option<String>) -> Self {
        self.dpop_nonce = nonce;
        self
    }
}

impl From<Error> for HttpError {
    fn from(error: Error) -> Self {
        Self { error, basic_auth: false, dpop_nonce: None }
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        // Auth0 answers a token request it refuses on policy (no client grant, an API not
        // enabled, a blocked user) with 403 `access_denied`; RFC 6749 §5.2 leaves the
        // status of codes beyond its own list to the server.
        ErrorCode::InsufficientScope | ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        // Auth0's brute-force protection answers 429 too_many_attempts.
        ErrorCode::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
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
        if let Some(n) = self.dpop_nonce.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
            h.insert(super::dpop::DPOP_NONCE.clone(), n);
        }
        if e.code == ErrorCode::InvalidClient && self.basic_auth {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""));
        }
        // RFC 6750 §3: a protected resource names the Bearer scheme and the error.
        if matches!(e.code, ErrorCode::InvalidToken | ErrorCode::InsufficientScope) {
            let challenge = format!("Bearer error=\"{}\", error_description=\"{}\"", e.code.as_str(), e.description());
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp.extensions_mut().insert(e.code);
        resp
    }
}

/// How an access token was presented to a protected resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScheme {
    /// RFC 6750.
    Bearer,
    /// RFC 9449 §7.
    Dpop,
}

fn dpop_algs() -> String {
    tessera_core::dpop::PROOF_ALGS.join(" ")
}

/// RFC 6750 §3.1 / RFC 9449 §7.1: a request to a protected resource without any
/// credentials gets bare challenges for both schemes, without an error code.
pub fn missing_access_token() -> Response {
    let mut resp = StatusCode::UNAUTHORIZED.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer, DPoP algs=\"{}\"", dpop_algs())) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An error at a protected resource (/userinfo). RFC 6750 §3.1 and RFC 9449 §7.1: token
/// and proof errors are 401 with a challenge in the scheme the token came with (a DPoP
/// challenge lists the accepted proof algorithms); `insufficient_scope` is 403.
pub fn resource_error(error: Error, scheme: TokenScheme, dpop_nonce: Option<String>) -> Response {
    let code = error.code;
    let description = error.description().to_string();
    let mut resp = HttpError { error, basic_auth: false, dpop_nonce }.into_response();
    let challenged = matches!(
        code,
        ErrorCode::InvalidToken | ErrorCode::InsufficientScope | ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce
    );
    if !challenged {
        return resp;
    }
    *resp.status_mut() = if code == ErrorCode::InsufficientScope { StatusCode::FORBIDDEN } else { StatusCode::UNAUTHORIZED };
    let challenge = match scheme {
        TokenScheme::Bearer => format!("Bearer error=\"{code}\", error_description=\"{description}\""),
        TokenScheme::Dpop => format!("DPoP algs=\"{}\", error=\"{code}\", error_description=\"{description}\"", dpop_algs()),
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// An error shown to a person in a browser (an unverifiable /authorize request, the login
/// and consent forms, logout): an HTML page, never a redirect (RFC 6749 §4.1.2.1).
#[derive(Debug)]
pub struct HtmlError(pub Error);

impl From<Error> for HtmlError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        let e = &self.0;
        let status = match status_of(e.code) {
            s if s.is_server_error() => s,
            StatusCode::NOT_FOUND => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        if status.is_server_error() {
            tracing::error!(error = %e.code, detail = e.detail.as_deref().unwrap_or(""), "request failed");
        } else {
            tracing::info!(error = %e.code, description = e.description(), detail = e.detail.as_deref().unwrap_or(""), "request refused");
        }
        let mut resp = super::html::error_page(status, e);
        if e.code == ErrorCode::TemporarilyUnavailable {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
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
        assert_eq!(status_of(ErrorCode::AccessDenied), StatusCode::FORBIDDEN);
        assert_eq!(status_of(ErrorCode::ServerError), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_of(ErrorCode::TemporarilyUnavailable), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn internals_stay_out_of_the_body_and_503_says_when_to_retry() {
        let resp = HttpError::from(Error::temporarily_unavailable("pool timed out at db.internal:5432")).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let basic = HttpError { error: Error::invalid_client("bad secret"), basic_auth: true, dpop_nonce: None }.into_response();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
        assert!(basic.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic realm="));
    }
}
