//! Client grants: which APIs a client may get tokens for via `client_credentials`, and with
//! which scopes (Auth0's client-grant object).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: String,
    /// The API's identifier.
    pub audience: String,
    pub scope: Vec<String>,
}
