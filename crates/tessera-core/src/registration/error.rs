//! The one error type of the registration endpoint (RFC 7591 §3.2.2, RFC 7592 §2).
//!
//! - RFC 7591 §3.2.2: `invalid_redirect_uri`, `invalid_client_metadata`,
//!   `invalid_software_statement` (and `unapproved_software_statement`) with status 400.
//! - RFC 7592 §2 / RFC 6750 §3.1: a missing or invalid registration access token (or
//!   initial access token) is `invalid_token`, 401 with a `Bearer` challenge.
//! - Tessera's policy refusals: `access_denied` (403: registration needs an initial access
//!   token, the cap of dynamic clients is reached) and `too_many_requests` (429 with
//!   `Retry-After`, the per-address rate limit; Auth0's code for rate limits).
//! - Internal failures keep the core error's `server_error` / `temporarily_unavailable`.

use std::borrow::Cow;

use crate::error::{Error, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationErrorCode {
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidSoftwareStatement,
    InvalidToken,
    AccessDenied,
    TooManyRequests,
    ServerError,
    TemporarilyUnavailable,
}

impl RegistrationErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::InvalidToken => "invalid_token",
            Self::AccessDenied => "access_denied",
            Self::TooManyRequests => "too_many_requests",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The HTTP status each code is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Self::InvalidRedirectUri | Self::InvalidClientMetadata | Self::InvalidSoftwareStatement => 400,
            Self::InvalidToken => 401,
            Self::AccessDenied => 403,
            Self::TooManyRequests => 429,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationError {
    pub code: RegistrationErrorCode,
    pub description: Cow<'static, str>,
    /// Log-only cause of an internal failure.
    pub detail: Option<String>,
    /// Seconds to wait, for `too_many_requests`.
    pub retry_after: Option<i64>,
}

impl RegistrationError {
    pub fn new(code: RegistrationErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { code, description: description.into(), detail: None, retry_after: None }
    }
    pub fn redirect_uri(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RegistrationErrorCode::InvalidRedirectUri, d)
    }
    pub fn metadata(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RegistrationErrorCode::InvalidClientMetadata, d)
    }
    pub fn token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RegistrationErrorCode::InvalidToken, d)
    }
    pub fn denied(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RegistrationErrorCode::AccessDenied, d)
    }
}

/// A core error met while registering: a validation refusal of the client model is
/// `invalid_client_metadata`; internal failures stay what they are.
impl From<Error> for RegistrationError {
    fn from(e: Error) -> Self {
        let code = match e.code {
            ErrorCode::ServerError => RegistrationErrorCode::ServerError,
            ErrorCode::TemporarilyUnavailable => RegistrationErrorCode::TemporarilyUnavailable,
            _ => RegistrationErrorCode::InvalidClientMetadata,
        };
        let mut out = Self::new(code, e.description().to_string());
        out.detail = e.detail;
        out
    }
}

impl From<crate::store::StoreError> for RegistrationError {
    fn from(e: crate::store::StoreError) -> Self {
        Error::from(e).into()
    }
}
