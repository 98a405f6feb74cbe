//! The API the access token is for: Auth0's `audience`, or RFC 8707's `resource`.
//!
//! - Auth0: an `audience` that names no registered API is `access_denied`
//!   ("Service not enabled within domain: <audience>").
//! - RFC 8707 §2: `resource` is an absolute URI without a fragment; one that is invalid or
//!   names no API Tessera serves is `invalid_target`. A token serves one API, so more than
//!   one `resource` (which RFC 8707 allows the client to send) is `invalid_target` too, as
//!   are an `audience` and a `resource` that disagree.

use std::sync::Arc;

use super::params::Params;
use crate::error::{Error, ErrorCode};
use crate::model::ResourceServer;
use crate::registry::Registry;

fn invalid_target(d: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorCode::InvalidTarget, d)
}

pub async fn run(registry: &Registry, params: &Params) -> Result<Option<Arc<ResourceServer>>, Error> {
    if params.is_repeated("resource") {
        return Err(invalid_target("only one resource may be requested"));
    }
    let resource = params.get("resource");
    let audience = params.get("audience");
    // RFC 8707 §2: the resource value must be an absolute URI without a fragment.
    if let Some(r) = resource {
        let absolute = url::Url::parse(r).is_ok();
        if !absolute || r.contains('#') {
            return Err(invalid_target("resource must be an absolute URI without a fragment"));
        }
        if audience.is_some_and(|a| a != r) {
            return Err(invalid_target("audience and resource name different APIs"));
        }
    }
    let Some(identifier) = resource.or(audience) else { return Ok(None) };
    match registry.api_by_identifier(identifier).await? {
        Some(api) => Ok(Some(api)),
        None if resource.is_some() => Err(invalid_target("the resource is not an API served here")),
        None => Err(Error::access_denied(format!("Service not enabled within domain: {identifier}"))),
    }
}
