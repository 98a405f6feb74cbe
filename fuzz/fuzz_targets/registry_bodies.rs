//! The bodies the Management API (and the CLI) hand to the registry: a client, an API
//! (resource server) or a user, as JSON (issue 22, "the management API's request bodies").
//!
//! Input: a mode byte (0 client, 1 API, 2 user) and a JSON document. Invariants:
//! - a document with a member the type does not define is refused (no field is silently
//!   ignored);
//! - whatever `create` accepts passes the full validation again, so nothing invalid can
//!   be stored: a client's callbacks and logout URLs each pass redirect-URI registration,
//!   an API's scopes are distinct scope tokens, a user's fields are valid;
//! - applying the same patch again changes nothing but `updated_at` (patches are
//!   idempotent), and the Auth0-shaped client JSON names the client and keeps refresh
//!   tokens expiring.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_core::model::{Client, ClientPatch, ResourceServer, ResourceServerPatch, User, UserPatch};
use tessera_core::redirect_uri::validate_registration;
use tessera_core::scope::is_scope_token;

const NOW: i64 = 1_760_000_000;

const CLIENT_FIELDS: &[&str] = &[
    "name",
    "app_type",
    "token_endpoint_auth_method",
    "grant_types",
    "callbacks",
    "allowed_logout_urls",
    "is_first_party",
    "jwks",
    "jwks_uri",
    "private_key_jwt_credentials",
    "rotation_type",
    "leeway",
    "token_lifetime",
    "idle_token_lifetime",
    "id_token_signed_response_alg",
    "require_dpop",
    "dpop_nonce",
    "require_pushed_authorization_requests",
    "web_origins",
    "allowed_origins",
    "token_exchange_policy",
];
const API_FIELDS: &[&str] =
    &["identifier", "name", "scopes", "signing_alg", "token_lifetime", "allow_offline_access", "require_dpop"];
const USER_FIELDS: &[&str] = &["email", "email_verified", "username", "name", "given_name", "family_name", "picture"];

/// Whether the document is an object with a member outside `known`.
fn has_unknown(doc: &Value, known: &[&str]) -> bool {
    doc.as_object().is_some_and(|o| o.keys().any(|k| !known.contains(&k.as_str())))
}

fn client(doc: &Value, raw: &[u8]) {
    let parsed = serde_json::from_slice::<ClientPatch>(raw);
    if has_unknown(doc, CLIENT_FIELDS) {
        assert!(parsed.is_err(), "an unknown member was accepted: {doc}");
    }
    let Ok(patch) = parsed else { return };
    let Ok(c) = Client::create("fuzz-client".into(), patch.clone(), NOW) else { return };
    assert!(c.validate().is_ok(), "create accepted what validate refuses: {doc}");
    for uri in c.callbacks.iter().chain(&c.allowed_logout_urls) {
        assert!(validate_registration(uri, c.app_type).is_ok(), "an unregistrable URI was stored: {uri:?}");
    }
    let json = c.auth0_json();
    assert_eq!(json["client_id"], "fuzz-client");
    assert_eq!(json["refresh_token"]["expiration_type"], "expiring");
    let mut again = c.clone();
    again.apply(patch, NOW + 1).expect("the same patch applies again");
    again.updated_at = c.updated_at;
    assert_eq!(again, c, "a patch is idempotent");
}

fn api(doc: &Value, raw: &[u8]) {
    let parsed = serde_json::from_slice::<ResourceServerPatch>(raw);
    if has_unknown(doc, API_FIELDS) {
        assert!(parsed.is_err(), "an unknown member was accepted: {doc}");
    }
    let Ok(patch) = parsed else { return };
    let Ok(a) = ResourceServer::create("fuzz-api".into(), patch.clone(), NOW) else { return };
    assert!(a.validate().is_ok(), "create accepted what validate refuses: {doc}");
    let mut seen = std::collections::HashSet::new();
    assert!(a.scopes.iter().all(|s| is_scope_token(&s.value) && seen.insert(s.value.clone())), "bad scopes stored: {doc}");
    let mut again = a.clone();
    // Same-second re-application may restate the identifier (see ResourceServer::apply).
    again.apply(patch, NOW).expect("the same patch applies again");
    assert_eq!(again, a, "a patch is idempotent");
}

fn user(doc: &Value, raw: &[u8]) {
    let parsed = serde_json::from_slice::<UserPatch>(raw);
    if has_unknown(doc, USER_FIELDS) {
        assert!(parsed.is_err(), "an unknown member was accepted: {doc}");
    }
    let Ok(patch) = parsed else { return };
    let Ok(u) = User::create("auth0|fuzz".into(), patch.clone(), NOW) else { return };
    assert!(u.validate().is_ok(), "create accepted what validate refuses: {doc}");
    let mut again = u.clone();
    again.apply(patch, NOW + 1).expect("the same patch applies again");
    again.updated_at = u.updated_at;
    assert_eq!(again.email, u.email);
    assert_eq!(again.username, u.username);
    assert_eq!(again.name, u.name);
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, raw)) = tessera_fuzz::mode(data) else { return };
    let Ok(doc) = serde_json::from_slice::<Value>(raw) else { return };
    match mode % 3 {
        0 => client(&doc, raw),
        1 => api(&doc, raw),
        _ => user(&doc, raw),
    }
});
