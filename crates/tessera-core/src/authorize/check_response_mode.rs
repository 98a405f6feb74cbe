//! `response_mode`: `query` (the default for `code`, Multiple Response Type Encoding
//! Practices §2.1), `form_post` (Form Post Response Mode §2) or Auth0's `web_message`
//! (its target is checked by [`super::check_web_message`]). `fragment` is refused: it
//! exists for the implicit flow, which Tessera does not serve.

use super::params::Params;
use super::request::ResponseMode;
use crate::error::Error;

/// The mode the request asks for, if it is one Tessera serves.
pub fn parse(params: &Params) -> Option<ResponseMode> {
    match params.get("response_mode") {
        None | Some("query") => Some(ResponseMode::Query),
        Some("form_post") => Some(ResponseMode::FormPost),
        Some("web_message") => Some(ResponseMode::WebMessage),
        Some(_) => None,
    }
}

pub fn run(params: &Params) -> Result<ResponseMode, Error> {
    parse(params).ok_or_else(|| Error::invalid_request("response_mode must be query, form_post or web_message"))
}
