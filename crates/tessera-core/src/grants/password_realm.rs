//! `grant_type=http://auth0.com/oauth/grant-type/password-realm` (Auth0's extension of RFC
//! 6749 §4.3): the password grant with a `realm` naming the connection the user is in.
//! Tessera has one connection, the database connection Auth0's SDKs and docs name
//! `Username-Password-Authentication`; every other step is the password grant's.

use super::{Params, TokenContext, TokenResponse};
use crate::client_auth::AuthenticatedClient;
use crate::error::Error;
use crate::model::GrantType;

/// The one database connection (the Management API's `connections` lists the same name).
pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";

pub async fn exchange(ctx: &TokenContext<'_>, params: &Params, auth: &AuthenticatedClient) -> Result<TokenResponse, Error> {
    // Auth0: realm is required with this grant type and names the user's connection.
    let realm = params.get("realm").ok_or_else(|| Error::invalid_request("Missing required parameter: realm"))?;
    if realm != DATABASE_CONNECTION {
        return Err(Error::invalid_request(format!(
            "realm '{realm}' is not a connection of this tenant (the database connection is '{DATABASE_CONNECTION}')"
        )));
    }
    super::password::exchange_as(ctx, params, auth, GrantType::PasswordRealm).await
}
