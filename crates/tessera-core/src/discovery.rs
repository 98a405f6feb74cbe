//! Authorization server metadata: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2.
//!
//! The document is built from [`Capabilities`] — what this build actually serves — and the
//! route constants, so nothing is advertised that does not work.

use serde_json::{json, Map, Value};

use crate::client_auth::ASSERTION_SIGNING_ALGS;
use crate::model::SigningAlg;
use crate::routes;

/// What the running server implements. Each later capability flips a field here and the
/// metadata follows.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    pub authorize: bool,
    /// `grant_types_supported`; empty means no token endpoint.
    pub grant_types: Vec<&'static str>,
    pub token_endpoint_auth_methods: Vec<&'static str>,
    pub userinfo: bool,
    pub revocation: bool,
    pub introspection: bool,
    pub end_session: bool,
    pub dpop_algs: Vec<&'static str>,
    pub scopes: Vec<String>,
    pub claims: Vec<&'static str>,
    /// RFC 9126 §5: the PAR endpoint, and whether every authorization request must use it.
    pub pushed_authorization: bool,
    pub require_pushed_authorization_requests: bool,
    /// RFC 8628 §4: the device authorization endpoint.
    pub device_authorization: bool,
    /// RFC 8414 §2 / RFC 7591 §3: the dynamic client registration endpoint.
    pub registration_endpoint: bool,
    /// draft-ietf-oauth-client-id-metadata-document §5: clients may be identified by a
    /// metadata document URL.
    pub client_id_metadata_documents: bool,
}

/// `{endpoint}_endpoint_auth_methods_supported` and its signing algorithms. The token,
/// revocation and introspection endpoints authenticate clients with one code path
/// ([`crate::client_auth`]), so they share both lists.
fn client_auth(m: &mut Map<String, Value>, endpoint: &str, methods: &[&'static str]) {
    m.insert(format!("{endpoint}_endpoint_auth_methods_supported"), json!(methods));
    // RFC 8414 §2: `{endpoint}_endpoint_auth_signing_alg_values_supported` MUST be present
    // when private_key_jwt or client_secret_jwt is among the endpoint's methods.
    if methods.iter().any(|a| matches!(*a, "private_key_jwt" | "client_secret_jwt")) {
        m.insert(format!("{endpoint}_endpoint_auth_signing_alg_values_supported"), json!(ASSERTION_SIGNING_ALGS));
    }
}

pub fn metadata(issuer: &str, caps: &Capabilities, id_token_algs: &[SigningAlg]) -> Value {
    let u = |p: &str| Value::String(routes::url(issuer, p));
    let mut m = Map::new();
    m.insert("issuer".into(), issuer.into());
    m.insert("jwks_uri".into(), u(routes::JWKS));
    if caps.authorize {
        m.insert("authorization_endpoint".into(), u(routes::AUTHORIZE));
        // `id_token` for clients allowed the implicit grant; never `token` (RFC 9700 §2.1.2).
        m.insert("response_types_supported".into(), json!(["code", "id_token"]));
        m.insert("response_modes_supported".into(), json!(["query", "fragment", "form_post", "web_message"]));
        m.insert("code_challenge_methods_supported".into(), json!(["S256"]));
        m.insert("prompt_values_supported".into(), json!(["none", "login", "consent"]));
        // RFC 9207 §3: `iss` in every authorization response.
        m.insert("authorization_response_iss_parameter_supported".into(), true.into());
    }
    if !caps.grant_types.is_empty() {
        m.insert("token_endpoint".into(), u(routes::TOKEN));
        m.insert("grant_types_supported".into(), json!(caps.grant_types));
        client_auth(&mut m, "token", &caps.token_endpoint_auth_methods);
    }
    if caps.pushed_authorization {
        m.insert("pushed_authorization_request_endpoint".into(), u(routes::PAR));
        m.insert("require_pushed_authorization_requests".into(), caps.require_pushed_authorization_requests.into());
    }
    if caps.device_authorization {
        m.insert("device_authorization_endpoint".into(), u(routes::DEVICE_CODE));
    }
    if caps.registration_endpoint {
        m.insert("registration_endpoint".into(), u(routes::REGISTER));
    }
    if caps.client_id_metadata_documents {
        m.insert("client_id_metadata_document_supported".into(), true.into());
    }
    if caps.userinfo {
        m.insert("userinfo_endpoint".into(), u(routes::USERINFO));
    }
    if caps.revocation {
        m.insert("revocation_endpoint".into(), u(routes::REVOKE));
        client_auth(&mut m, "revocation", &caps.token_endpoint_auth_methods);
    }
    if caps.introspection {
        m.insert("introspection_endpoint".into(), u(routes::INTROSPECT));
        client_auth(&mut m, "introspection", &caps.token_endpoint_auth_methods);
    }
    if caps.end_session {
        m.insert("end_session_endpoint".into(), u(routes::OIDC_LOGOUT));
    }
    if !caps.dpop_algs.is_empty() {
        m.insert("dpop_signing_alg_values_supported".into(), json!(caps.dpop_algs));
    }
    if !caps.scopes.is_empty() {
        m.insert("scopes_supported".into(), json!(caps.scopes));
    }
    if !caps.claims.is_empty() {
        m.insert("claims_supported".into(), json!(caps.claims));
    }
    m.insert("subject_types_supported".into(), json!(["public"]));
    let algs: Vec<&str> = id_token_algs.iter().map(|a| a.as_str()).collect();
    m.insert("id_token_signing_alg_values_supported".into(), json!(algs));
    m.insert("request_parameter_supported".into(), false.into());
    m.insert("request_uri_parameter_supported".into(), false.into());
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_enabled_endpoints_are_advertised() {
        let bare = metadata("https://id.example.com/", &Capabilities::default(), &[SigningAlg::RS256]);
        assert_eq!(bare["issuer"], "https://id.example.com/");
        assert_eq!(bare["jwks_uri"], "https://id.example.com/.well-known/jwks.json");
        assert!(bare.get("token_endpoint").is_none());
        assert!(bare.get("authorization_endpoint").is_none());
        let caps = Capabilities {
            grant_types: vec!["authorization_code"],
            token_endpoint_auth_methods: vec!["client_secret_basic"],
            ..Default::default()
        };
        let with_token = metadata("https://id.example.com/", &caps, &[SigningAlg::RS256]);
        assert_eq!(with_token["token_endpoint"], "https://id.example.com/oauth/token");
        assert_eq!(with_token["grant_types_supported"], json!(["authorization_code"]));
        assert!(with_token.get("token_endpoint_auth_signing_alg_values_supported").is_none(), "no JWT method, no algs");
    }

    #[test]
    fn jwt_client_authentication_comes_with_its_algorithms_at_every_endpoint() {
        let caps = Capabilities {
            grant_types: vec!["client_credentials"],
            token_endpoint_auth_methods: vec!["client_secret_basic", "private_key_jwt"],
            revocation: true,
            introspection: true,
            ..Default::default()
        };
        let m = metadata("https://id.example.com/", &caps, &[SigningAlg::RS256]);
        for endpoint in ["token", "revocation", "introspection"] {
            assert_eq!(
                m[format!("{endpoint}_endpoint_auth_methods_supported")],
                json!(["client_secret_basic", "private_key_jwt"])
            );
            assert_eq!(m[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")], json!(ASSERTION_SIGNING_ALGS));
        }
    }

    #[test]
    fn par_and_device_endpoints_follow_their_capabilities() {
        let bare = metadata("https://id.example.com/", &Capabilities::default(), &[SigningAlg::RS256]);
        for field in
            ["pushed_authorization_request_endpoint", "require_pushed_authorization_requests", "device_authorization_endpoint"]
        {
            assert!(bare.get(field).is_none(), "{field} without its capability");
        }
        let caps = Capabilities {
            pushed_authorization: true,
            require_pushed_authorization_requests: true,
            device_authorization: true,
            ..Default::default()
        };
        let m = metadata("https://id.example.com/", &caps, &[SigningAlg::RS256]);
        assert_eq!(m["pushed_authorization_request_endpoint"], "https://id.example.com/oauth/par");
        assert_eq!(m["require_pushed_authorization_requests"], true);
        assert_eq!(m["device_authorization_endpoint"], "https://id.example.com/oauth/device/code");
    }
}
