//! Audit events as values, with Auth0's log event type codes (Auth0 "Log Event Type
//! Codes"), so the Management API's `/logs` reads like an Auth0 tenant's. Events are
//! recorded under a descriptive `kind`; [`log_type`] gives each kind its Auth0 code and
//! description. Writing them is the store's `AuditStore` port.

/// Auth0's code and description for an event kind. Token-endpoint kinds are
/// `<grant_type>_exchanged` / `<grant_type>_exchange_failed`.
pub fn log_type(kind: &str) -> (&'static str, &'static str) {
    if let Some(grant) = kind.strip_suffix("_exchange_failed") {
        return exchange_type(grant, false);
    }
    if let Some(grant) = kind.strip_suffix("_exchanged") {
        return exchange_type(grant, true);
    }
    match kind {
        "login_succeeded" => ("s", "Success Login"),
        "login_failed" => ("fp", "Incorrect username or password"),
        "login_blocked" => ("limit_wc", "Blocked account: too many failed logins"),
        "logout" => ("slo", "Success Logout"),
        "authorization_code_reuse" => ("feacft", "Failed Exchange: the authorization code was already used"),
        "refresh_token_reuse_detected" => ("ferrt", "Failed Exchange: rotating refresh token reused; family revoked"),
        "client_authentication_failed" => ("f", "Failed client authentication"),
        "refresh_token_revoked" => ("srrt", "Success Revocation: refresh token"),
        "access_token_revoked" => ("srrt", "Success Revocation: access token"),
        "revocation_of_foreign_token_ignored" => ("w", "Revocation of another client's token ignored"),
        "user_blocked" => ("sapi", "Success API Operation: user blocked"),
        "management_api_failed" => ("fapi", "Failed API Operation"),
        "user_signed_up" => ("ss", "Success Signup"),
        "password_change_requested" => ("scpr", "Success Change Password Request"),
        "password_changed" => ("scp", "Success Change Password"),
        "email_verified" => ("sv", "Success Verification Email"),
        "passwordless_code_sent" => ("cls", "Code/Link Sent"),
        _ => ("sapi", "Success API Operation"),
    }
}

/// Auth0's exchange codes per grant (`seacft`, `feacft`, `seccft`, `feccft`, `sertft`,
/// `fertft`; the device code, token exchange and JWT-bearer grants have their own).
fn exchange_type(grant: &str, ok: bool) -> (&'static str, &'static str) {
    match (grant, ok) {
        ("authorization_code", true) => ("seacft", "Success Exchange: Authorization Code for Access Token"),
        ("authorization_code", false) => ("feacft", "Failed Exchange: Authorization Code for Access Token"),
        ("client_credentials", true) => ("seccft", "Success Exchange: Client Credentials for Access Token"),
        ("client_credentials", false) => ("feccft", "Failed Exchange: Client Credentials for Access Token"),
        ("refresh_token", true) => ("sertft", "Success Exchange: Refresh Token for Access Token"),
        ("refresh_token", false) => ("fertft", "Failed Exchange: Refresh Token for Access Token"),
        ("urn:ietf:params:oauth:grant-type:device_code", true) => ("sede", "Success Exchange: Device Code for Access Token"),
        ("urn:ietf:params:oauth:grant-type:device_code", false) => ("fede", "Failed Exchange: Device Code for Access Token"),
        // Auth0's codes for its (custom) token exchange.
        ("urn:ietf:params:oauth:grant-type:token-exchange", true) => ("secte", "Success Exchange: Token Exchange"),
        ("urn:ietf:params:oauth:grant-type:token-exchange", false) => ("fecte", "Failed Exchange: Token Exchange"),
        // Auth0 has no RFC 7523 grant; these two codes are Tessera's.
        ("urn:ietf:params:oauth:grant-type:jwt-bearer", true) => {
            ("sejb", "Success Exchange: JWT Bearer Assertion for Access Token")
        }
        ("urn:ietf:params:oauth:grant-type:jwt-bearer", false) => {
            ("fejb", "Failed Exchange: JWT Bearer Assertion for Access Token")
        }
        // Auth0 logs both password grants as the exchange of a password.
        ("password" | "http://auth0.com/oauth/grant-type/password-realm", true) => {
            ("sepft", "Success Exchange: Password for Access Token")
        }
        ("password" | "http://auth0.com/oauth/grant-type/password-realm", false) => {
            ("fepft", "Failed Exchange: Password for Access Token")
        }
        (_, true) => ("s", "Success Exchange"),
        (_, false) => ("f", "Failed Exchange"),
    }
}

/// Every kind whose Auth0 code is `code` among `kinds` (a `type:"…"` search).
pub fn kinds_of_type<'a>(code: &str, kinds: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    kinds.into_iter().filter(|k| log_type(k).0 == code).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::log_type;

    #[test]
    fn kinds_have_auth0_codes() {
        assert_eq!(log_type("client_credentials_exchanged").0, "seccft");
        assert_eq!(log_type("authorization_code_exchange_failed").0, "feacft");
        assert_eq!(log_type("refresh_token_exchanged").0, "sertft");
        assert_eq!(log_type("login_succeeded").0, "s");
        assert_eq!(log_type("login_blocked").0, "limit_wc");
        assert_eq!(log_type("client_created").0, "sapi");
        assert_eq!(log_type("refresh_token_reuse_detected").0, "ferrt");
        assert_eq!(log_type("user_signed_up").0, "ss");
        assert_eq!(log_type("password_changed").0, "scp");
        assert_eq!(log_type("password_exchanged").0, "sepft");
        assert_eq!(log_type("http://auth0.com/oauth/grant-type/password-realm_exchange_failed").0, "fepft");
    }
}
