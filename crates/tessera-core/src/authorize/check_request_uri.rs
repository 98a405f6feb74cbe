//! `request_uri` from a pushed authorization request (RFC 9126 §4) and the rule that a
//! client or the whole tenant may require one (RFC 9126 §5, §6).
//!
//! - RFC 9126 §4: with `client_id` and `request_uri`, the authorization server uses the
//!   pushed request; RFC 9101 §5 (which §4 builds on): only its parameters count, even
//!   when others are repeated in the query, so everything else sent now is ignored.
//! - RFC 9126 §4: the `request_uri` must have been issued to this client, and is single
//!   use (§7.3: one-time use is how replay is prevented); an expired one is refused.
//!   Any of these is `invalid_request_uri` (RFC 9101 §6.2). Nothing says where a response
//!   may go (the redirect URI is inside the pushed request), so it is shown on a page.

use super::error::AuthorizeError;
use super::params::Params;
use super::request::AuthorizeRequest;
use crate::error::{Error, ErrorCode};
use crate::model::Client;
use crate::registry::Registry;

/// `urn:ietf:params:oauth:request_uri:` (RFC 9126 §2.2), followed by the opaque handle.
pub const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The opaque handle inside a `request_uri` of ours, if it is one.
pub fn handle(request_uri: &str) -> Option<&str> {
    request_uri.strip_prefix(PREFIX).filter(|h| !h.is_empty())
}

fn invalid(d: &'static str) -> AuthorizeError {
    AuthorizeError::Page(Error::new(ErrorCode::InvalidRequestUri, d))
}

/// The pushed request named by `request_uri`, consumed; `None` when none was sent.
pub async fn run(registry: &Registry, client: &Client, params: &Params) -> Result<Option<AuthorizeRequest>, AuthorizeError> {
    let Some(request_uri) = params.get("request_uri") else { return Ok(None) };
    if params.is_repeated("request_uri") {
        return Err(AuthorizeError::Page(Error::invalid_request("parameter request_uri is repeated")));
    }
    let Some(handle) = handle(request_uri) else { return Err(invalid("request_uri was not issued by this server")) };
    let hash = registry.keyring().hash_handle(handle);
    // RFC 9126 §4: issued to this client, unexpired, not used before: one conditional UPDATE.
    let pushed = registry.store().consume_pushed_request(&hash, &client.client_id, registry.now()).await;
    let pushed = pushed.map_err(|e| AuthorizeError::Page(e.into()))?;
    let Some(pushed) = pushed else {
        return Err(invalid("the request_uri is unknown, expired, already used or was issued to another client"));
    };
    let req: AuthorizeRequest = serde_json::from_str(&pushed.request)
        .map_err(|e| AuthorizeError::Page(Error::server_error(format!("pushed request does not decode: {e}"))))?;
    Ok(Some(req))
}

/// RFC 9126 §6 (client metadata) and §5 (server metadata): when the client or the tenant
/// requires pushed requests, an authorization request that did not come through one is
/// refused. The redirect URI is verified by then, so the error goes back to the client.
pub fn required(client: &Client, tenant_requires: bool) -> Result<(), Error> {
    if client.require_pushed_authorization_requests || tenant_requires {
        return Err(Error::invalid_request("pushed authorization requests are required: send a request_uri from /oauth/par"));
    }
    Ok(())
}
