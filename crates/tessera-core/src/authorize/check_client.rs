//! `client_id` names a registered client (RFC 6749 §4.1.1, §2.2). RFC 6749 §4.1.2.1: a
//! missing or invalid client identifier is reported to the user, never redirected.
//!
//! Read through the registry's cache, as the token endpoint does: a login costs no database
//! read for its client (changes made elsewhere show up within the cache's sync interval).

use std::sync::Arc;

use super::error::AuthorizeError;
use super::params::Params;
use crate::error::{Error, ErrorCode};
use crate::model::Client;
use crate::registry::Registry;

pub async fn run(registry: &Registry, params: &Params) -> Result<Arc<Client>, AuthorizeError> {
    let Some(client_id) = params.get("client_id") else {
        return Err(AuthorizeError::Page(Error::invalid_request("client_id is required")));
    };
    match registry.client_entry(client_id).await {
        Ok(Some(entry)) => Ok(entry.client.clone()),
        Ok(None) => Err(AuthorizeError::Page(Error::new(ErrorCode::InvalidClient, "unknown client_id"))),
        Err(e) => Err(AuthorizeError::Page(e)),
    }
}
