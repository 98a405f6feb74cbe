//! Endpoint paths, shared by the router, discovery metadata and the tests, so that what is
//! advertised is what is served.

pub const AUTHORIZE: &str = "/authorize";
/// Pushed authorization requests (RFC 9126 §2), Auth0's path.
pub const PAR: &str = "/oauth/par";
/// Device authorization endpoint (RFC 8628 §3.1), Auth0's path.
pub const DEVICE_CODE: &str = "/oauth/device/code";
/// Where the user enters a device's user code (RFC 8628 §3.3), Auth0's path.
pub const ACTIVATE: &str = "/activate";
pub const TOKEN: &str = "/oauth/token";
pub const REVOKE: &str = "/oauth/revoke";
pub const INTROSPECT: &str = "/oauth/introspect";
pub const USERINFO: &str = "/userinfo";
pub const JWKS: &str = "/.well-known/jwks.json";
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
pub const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
pub const OIDC_LOGOUT: &str = "/oidc/logout";
pub const V2_LOGOUT: &str = "/v2/logout";
/// Hosted login page (Auth0 Universal Login lives under /u/).
pub const LOGIN: &str = "/u/login";
/// Hosted consent page.
pub const CONSENT: &str = "/u/consent";
/// Dynamic client registration (RFC 7591 §3), Auth0's path; RFC 7592's client
/// configuration endpoint is `{REGISTER}/{client_id}`.
pub const REGISTER: &str = "/oidc/register";
/// Hosted sign-up page (`/authorize?screen_hint=signup`).
pub const SIGNUP: &str = "/u/signup";
/// Hosted password-reset page, opened from the emailed link.
pub const RESET_PASSWORD: &str = "/u/reset-password";
/// Where the emailed email-verification link lands.
pub const VERIFY_EMAIL: &str = "/u/email-verification";
/// Auth0's database-connection endpoints.
pub const DB_SIGNUP: &str = "/dbconnections/signup";
pub const DB_CHANGE_PASSWORD: &str = "/dbconnections/change_password";
/// Auth0's passwordless start (`send: code` or `send: link`).
pub const PASSWORDLESS_START: &str = "/passwordless/start";
/// Where a passwordless magic link lands (Auth0's path).
pub const PASSWORDLESS_VERIFY: &str = "/passwordless/verify_redirect";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";

/// `{issuer}` + path, where the issuer is stored with a trailing slash (Auth0 style) and
/// paths start with one.
pub fn url(issuer: &str, path: &str) -> String {
    format!("{}{}", issuer.trim_end_matches('/'), path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_join_without_double_slashes() {
        assert_eq!(super::url("https://id.example.com/", super::TOKEN), "https://id.example.com/oauth/token");
        assert_eq!(super::url("https://id.example.com/t1", super::JWKS), "https://id.example.com/t1/.well-known/jwks.json");
    }
}
