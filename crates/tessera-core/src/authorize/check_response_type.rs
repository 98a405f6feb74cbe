//! `response_type`: `code`, or `id_token` for a client allowed the implicit grant.
//!
//! - RFC 6749 §4.1.2.1 `unauthorized_client`: the client must be allowed the grant the
//!   response type starts (`authorization_code` for `code`, Auth0's `implicit` for
//!   `id_token`).
//! - RFC 9700 §2.1.2: access tokens must not be issued in the authorization response, so
//!   `token` and `id_token token` are `unsupported_response_type` (RFC 6749 §4.1.2.1), as
//!   is every hybrid combination.
//! - OIDC Core §3.2.2.1: `nonce` is required with `id_token`.

use super::params::Params;
use super::request::ResponseType;
use crate::error::{Error, ErrorCode};
use crate::model::{Client, GrantType};

pub fn run(client: &Client, params: &Params) -> Result<ResponseType, Error> {
    let Some(asked) = params.get("response_type") else { return Err(Error::invalid_request("response_type is required")) };
    // RFC 6749 §3.1.1: a space-delimited list whose order does not matter.
    let mut parts: Vec<&str> = asked.split(' ').filter(|p| !p.is_empty()).collect();
    parts.sort_unstable();
    match parts.as_slice() {
        ["code"] if !client.allows_grant(GrantType::AuthorizationCode) => {
            Err(Error::new(ErrorCode::UnauthorizedClient, "the client is not allowed the authorization_code grant"))
        }
        ["code"] => Ok(ResponseType::Code),
        ["id_token"] if !client.allows_grant(GrantType::Implicit) => {
            Err(Error::new(ErrorCode::UnauthorizedClient, "the client is not allowed the implicit grant (response_type id_token)"))
        }
        // OIDC Core §3.2.2.1: nonce is REQUIRED for the implicit flow.
        ["id_token"] if params.get("nonce").is_none() => {
            Err(Error::invalid_request("nonce is required with response_type id_token"))
        }
        ["id_token"] => Ok(ResponseType::IdToken),
        p if p.contains(&"token") => Err(Error::new(
            ErrorCode::UnsupportedResponseType,
            "access tokens are never returned from the authorization endpoint (RFC 9700 section 2.1.2): use response_type code, or id_token for an ID token only",
        )),
        _ => Err(Error::new(ErrorCode::UnsupportedResponseType, "response_type must be code or id_token")),
    }
}
