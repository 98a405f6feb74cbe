//! OIDC Core §3.1.2.1 interaction parameters.
//!
//! - `prompt`: a space-delimited set of `none`, `login`, `consent` (`select_account` is
//!   accepted and has no effect: there is one account per session). `none` with any other
//!   value is an error.
//! - `max_age`: a non-negative number of seconds (0 demands a fresh login, see
//!   [`super::decide`]).
//! - `login_hint` pre-fills the login form. `ui_locales`, `display`, `acr_values` and
//!   `claims_locales` are accepted and do not change the flow. `id_token_hint` has its own
//!   check ([`super::check_id_token_hint`]).

use super::params::Params;
use super::request::Prompt;
use crate::error::Error;

pub struct Interaction {
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
}

pub fn run(params: &Params) -> Result<Interaction, Error> {
    let mut prompt = Prompt::default();
    let mut count = 0;
    for value in params.get("prompt").unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
        count += 1;
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {}
            _ => return Err(Error::invalid_request("prompt must be none, login or consent")),
        }
    }
    // OIDC Core §3.1.2.1: if none is present with any other value, return an error.
    if prompt.none && count > 1 {
        return Err(Error::invalid_request("prompt none cannot be combined with other values"));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 && v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(Error::invalid_request("max_age must be a non-negative integer")),
        },
    };
    let login_hint = params.get("login_hint").map(|h| h.chars().take(256).collect());
    Ok(Interaction { prompt, max_age, login_hint })
}
