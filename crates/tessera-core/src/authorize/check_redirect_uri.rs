//! `redirect_uri` (DESIGN decision 7).
//!
//! - RFC 9700 §4.1.3 / RFC 6749 §3.1.2.3: compared with the registered URIs by exact string
//!   match; the only exception is the port of a loopback IP literal for a native app
//!   (RFC 8252 §7.3), see [`crate::redirect_uri::find_match`]. The response goes to the URI as presented.
//! - RFC 6749 §3.1.2.3: it may be omitted when the client registered exactly one.
//! - RFC 6749 §4.1.2.1: a missing, invalid or mismatching URI is never redirected to.

use super::error::AuthorizeError;
use super::params::Params;
use crate::error::Error;
use crate::model::Client;
use crate::redirect_uri::find_match;

/// The URI to respond to, and whether the request named it.
pub fn run(client: &Client, params: &Params) -> Result<(String, bool), AuthorizeError> {
    let page = |d: &'static str| AuthorizeError::Page(Error::invalid_request(d));
    match params.get("redirect_uri") {
        // RFC 9700 §4.1.3: simple string comparison with a registered URI (RFC 8252 §7.3 port aside).
        Some(presented) => match find_match(&client.callbacks, presented, client.app_type) {
            Some(_) => Ok((presented.to_string(), true)),
            None => Err(page("redirect_uri is not registered for this client")),
        },
        // RFC 6749 §3.1.2.3: optional only when exactly one URI is registered.
        None => match client.callbacks.as_slice() {
            [only] => Ok((only.clone(), false)),
            [] => Err(page("the client has no registered redirect_uri")),
            _ => Err(page("redirect_uri is required: the client registered more than one")),
        },
    }
}
