//! A client identified by a metadata document (crate::client_metadata) gets only what the
//! tenant's policy lets such clients have: an API among its audiences (else
//! `invalid_target`, RFC 8707 §2: the server will not issue for that resource to this
//! client), and of the granted scope only the values it lists (RFC 6749 §3.3: the server
//! may grant less than requested).

use crate::error::{Error, ErrorCode};
use crate::model::{Client, ResourceServer};
use crate::registry::Registry;
use crate::scope::Scope;

pub fn run(registry: &Registry, client: &Client, api: Option<&ResourceServer>, scope: Scope) -> Result<Scope, Error> {
    if !client.is_metadata_document() {
        return Ok(scope);
    }
    // A document client only exists while the feature is on; refuse if it was turned off.
    let Some(policy) = registry.metadata_policy() else {
        return Err(Error::new(ErrorCode::InvalidClient, "client ID metadata documents are not accepted here"));
    };
    if let Some(api) = api {
        if !policy.audiences.contains(&api.identifier) {
            return Err(Error::new(
                ErrorCode::InvalidTarget,
                format!("{} is not available to clients identified by a metadata document", api.identifier),
            ));
        }
    }
    Ok(Scope::from_tokens(scope.iter().filter(|s| policy.scopes.iter().any(|p| p == s))))
}
