//! The one error type. An [`Error`] carries:
//! - an [`ErrorCode`]: the RFC string sent to the client (RFC 6749 §4.1.2.1, §5.2; RFC 6750
//!   §3.1; RFC 9449 §7; RFC 8707 §2; OIDC Core §3.1.2.6) or a management-API category;
//! - a client-safe `description` (printable ASCII, RFC 6749 §5.2 `error_description`);
//! - a log-only `detail` that never reaches a response.
//!
//! The server turns it into an HTTP response in exactly one place.

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    InvalidTarget,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidToken,
    InsufficientScope,
    InvalidDpopProof,
    UseDpopNonce,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 9101 §6.2 / OIDC Core §3.1.2.6: the `request_uri` is unknown, used, expired or
    /// another client's (RFC 9126 §4).
    InvalidRequestUri,
    /// RFC 8628 §3.5: the user has not decided yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; add 5 seconds to the interval.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
    /// Management API / CLI: the named object does not exist.
    NotFound,
    /// RFC 9110 §15.5.6: the endpoint exists, the method is not one it supports.
    MethodNotAllowed,
    /// Management API / CLI: the object conflicts with an existing one.
    Conflict,
    /// Management API / CLI: the submitted object is not valid.
    InvalidBody,
    /// Auth0's brute-force protection: too many failed logins from this IP for this user.
    TooManyAttempts,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::InvalidBody => "invalid_body",
            Self::TooManyAttempts => "too_many_attempts",
        }
    }

    /// Every code, for metrics pre-registration and exhaustive tests.
    pub const ALL: [ErrorCode; 27] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::UnsupportedResponseType,
        Self::InvalidScope,
        Self::InvalidTarget,
        Self::AccessDenied,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::InteractionRequired,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::InvalidDpopProof,
        Self::UseDpopNonce,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::InvalidRequestUri,
        Self::AuthorizationPending,
        Self::SlowDown,
        Self::ExpiredToken,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::InvalidBody,
        Self::TooManyAttempts,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    description: Cow<'static, str>,
    /// For the log only (internal causes, store messages). Never rendered.
    pub detail: Option<String>,
}

impl Error {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let description = sanitize(description.into());
        Self { code, description, detail: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn access_denied(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::AccessDenied, d)
    }
    pub fn invalid_body(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidBody, d)
    }
    pub fn not_found(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::NotFound, d)
    }
    pub fn conflict(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Conflict, d)
    }
    /// An internal failure: the client sees a generic description, the log gets `detail`.
    pub fn server_error(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServerError, "internal error").with_detail(detail)
    }
    /// A dependency (the store) is unavailable; the client may retry.
    pub fn temporarily_unavailable(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable, retry later").with_detail(detail)
    }
}

/// RFC 6749 §5.2: `error_description` is limited to %x20-21 / %x23-5B / %x5D-7E.
fn sanitize(s: Cow<'static, str>) -> Cow<'static, str> {
    let ok = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
    if s.chars().all(ok) {
        return s;
    }
    Cow::Owned(s.chars().map(|c| if ok(c) { c } else { '\'' }).collect())
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_restricted_to_the_rfc_charset() {
        let e = Error::invalid_request("bad \"quote\" and \\ and é");
        assert_eq!(e.description(), "bad 'quote' and ' and '");
    }
}
