//! `response_mode` (OAuth 2.0 Multiple Response Type Encoding Practices §2.1, Form Post
//! Response Mode §2, Auth0's `web_message`, whose target is checked by
//! [`super::check_web_message`]).
//!
//! - `code`: `query` (its default), `form_post` or `web_message`.
//! - `id_token`: `fragment` (its default) or `form_post`. Multiple Response Type Encoding
//!   Practices §2.1: a response containing an ID token must not be encoded in the query.

use super::params::Params;
use super::request::ResponseMode;
use crate::error::Error;

/// Multiple Response Type Encoding Practices §5: every response type but `code` (and
/// `none`) defaults to the fragment, including those refused, so their errors go there.
fn fragment_default(params: &Params) -> bool {
    params.get("response_type").is_some_and(|t| t != "code")
}

/// The mode the request asks for (or the default of its response type), if it is one
/// Tessera serves for that response type.
pub fn parse(params: &Params) -> Option<ResponseMode> {
    let id_token = fragment_default(params);
    match (params.get("response_mode"), id_token) {
        (None, false) | (Some("query"), false) => Some(ResponseMode::Query),
        (None, true) | (Some("fragment"), true) => Some(ResponseMode::Fragment),
        (Some("form_post"), _) => Some(ResponseMode::FormPost),
        (Some("web_message"), false) => Some(ResponseMode::WebMessage),
        _ => None,
    }
}

/// Where errors go when the asked mode is not valid: the response type's default.
pub fn default_for(params: &Params) -> ResponseMode {
    if fragment_default(params) {
        ResponseMode::Fragment
    } else {
        ResponseMode::Query
    }
}

pub fn run(params: &Params) -> Result<ResponseMode, Error> {
    parse(params).ok_or_else(|| {
        if fragment_default(params) {
            Error::invalid_request("response_mode must be fragment or form_post with response_type id_token")
        } else {
            Error::invalid_request("response_mode must be query, form_post or web_message")
        }
    })
}
