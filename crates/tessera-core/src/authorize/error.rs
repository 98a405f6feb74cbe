//! Authorization errors know whether they may be redirected (RFC 6749 §4.1.2.1): until the
//! client and its redirect URI are verified, an error is shown to the user and never sent
//! anywhere, so Tessera cannot be used as an open redirector (RFC 9700 §4.11).

use super::request::Reply;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown on an HTML error page (the client or redirect URI is missing, unknown or
    /// mismatched, or a parameter that decides them is repeated).
    Page(Error),
    /// Sent back to the client's verified redirect URI, with `state` and `iss`. (Boxed:
    /// every check returns this error, so it stays small.)
    Redirect { error: Error, reply: Box<Reply> },
}

impl AuthorizeError {
    pub fn error(&self) -> &Error {
        match self {
            Self::Page(e) | Self::Redirect { error: e, .. } => e,
        }
    }

    pub fn is_redirect(&self) -> bool {
        matches!(self, Self::Redirect { .. })
    }

    pub fn redirect(error: Error, reply: &Reply) -> Self {
        Self::Redirect { error, reply: Box::new(reply.clone()) }
    }
}
