//! `response_type`: only `code`. OAuth 2.1 §4.1.1 removes the implicit grant and RFC 9700
//! §2.1.2 advises against it, so `token`, `id_token` and every hybrid combination are
//! `unsupported_response_type` (RFC 6749 §4.1.2.1). RFC 6749 §4.1.2.1 `unauthorized_client`:
//! the client must be allowed the `authorization_code` grant.

use super::params::Params;
use crate::error::{Error, ErrorCode};
use crate::model::{Client, GrantType};

pub fn run(client: &Client, params: &Params) -> Result<(), Error> {
    match params.get("response_type") {
        None => Err(Error::invalid_request("response_type is required")),
        Some("code") if !client.allows_grant(GrantType::AuthorizationCode) => {
            Err(Error::new(ErrorCode::UnauthorizedClient, "the client is not allowed the authorization_code grant"))
        }
        Some("code") => Ok(()),
        Some(_) => Err(Error::new(ErrorCode::UnsupportedResponseType, "only response_type code is supported")),
    }
}
