//! Parameter-level rules that apply before any value is trusted.
//!
//! - RFC 6749 §3.1: parameters must not be included more than once. A repeated
//!   `client_id` or `redirect_uri` makes the redirect target ambiguous, so that error is
//!   shown, never redirected; any other repeat is redirected as `invalid_request`.
//!   `resource` is the exception RFC 8707 §2 allows; [`super::check_audience`] judges it.
//! - OIDC Core §6: request objects (`request`, and a `request_uri` that is not one of our
//!   pushed requests, which [`super::check_request_uri`] resolves before this runs) are not
//!   supported (discovery says so), and silently ignoring them could drop what the client
//!   meant.

use super::params::Params;
use crate::error::Error;

/// Repeats of the parameters that decide where a response may go.
pub fn unambiguous_target(params: &Params) -> Result<(), Error> {
    for name in ["client_id", "redirect_uri"] {
        if params.is_repeated(name) {
            return Err(Error::invalid_request(format!("parameter {name} is repeated")));
        }
    }
    Ok(())
}

/// Every other repeat, and request objects.
pub fn run(params: &Params) -> Result<(), Error> {
    if let Some(name) = params.repeated().find(|n| *n != "resource") {
        return Err(Error::invalid_request(format!("parameter {name} is repeated")));
    }
    for name in ["request", "request_uri"] {
        if params.get(name).is_some() {
            return Err(Error::invalid_request(format!("the {name} parameter is not supported")));
        }
    }
    Ok(())
}
