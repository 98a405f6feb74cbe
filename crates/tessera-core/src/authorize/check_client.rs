//! `client_id` names a registered client (RFC 6749 §4.1.1, §2.2). RFC 6749 §4.1.2.1: a
//! missing or invalid client identifier is reported to the user, never redirected.

use super::error::AuthorizeError;
use super::params::Params;
use crate::error::{Error, ErrorCode};
use crate::model::Client;
use crate::store::Store;

pub async fn run(store: &dyn Store, params: &Params) -> Result<Client, AuthorizeError> {
    let Some(client_id) = params.get("client_id") else {
        return Err(AuthorizeError::Page(Error::invalid_request("client_id is required")));
    };
    match store.get_client(client_id).await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => Err(AuthorizeError::Page(Error::new(ErrorCode::InvalidClient, "unknown client_id"))),
        Err(e) => Err(AuthorizeError::Page(e.into())),
    }
}
