//! The one integration-test binary: a real server on port 0 per test, driven over HTTP.
//! One module per feature; shared helpers in the fixture/support modules.

mod grant_authorization_code;
mod oauth_fixture;
mod grant_client_credentials;
mod grant_refresh_token;
mod revocation;
