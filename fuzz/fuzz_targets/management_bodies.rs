//! The Management API's Auth0-shaped bodies (issue 22): `POST/PATCH /api/v2/clients` and
//! `/api/v2/resource-servers`, with their nested `refresh_token`, `jwt_configuration` and
//! `proof_of_possession` objects, as `tessera_core::model::auth0` turns them into patches.
//!
//! Input: a mode byte (even: a client, odd: an API) and a JSON document. Invariants:
//! - a member the body does not define, at the top or in a nested object, is refused;
//! - an Auth0 setting Tessera has no counterpart for is refused, never ignored
//!   (`oidc_conformant: false`, a non-`expiring` `expiration_type`, infinite lifetimes,
//!   `secret_encoded: true`, a proof-of-possession mechanism other than `dpop`,
//!   `skip_consent_for_verifiable_first_party_clients: false`);
//! - every accepted setting reaches the patch unchanged (nested ones included), and a
//!   client created from it shows it again in its Auth0 JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_core::model::auth0::{ClientBody, ResourceServerBody};
use tessera_core::model::{Client, ID_TOKEN_LIFETIME};

const NOW: i64 = 1_760_000_000;

const CLIENT: &[&str] = &[
    "name",
    "app_type",
    "token_endpoint_auth_method",
    "grant_types",
    "callbacks",
    "allowed_logout_urls",
    "web_origins",
    "allowed_origins",
    "is_first_party",
    "oidc_conformant",
    "jwt_configuration",
    "refresh_token",
    "require_proof_of_possession",
    "dpop_nonce",
    "jwks",
    "jwks_uri",
    "client_authentication_methods",
    "require_pushed_authorization_requests",
    "token_exchange_policy",
];
const JWT: &[&str] = &["alg", "lifetime_in_seconds", "secret_encoded"];
const REFRESH: &[&str] = &[
    "rotation_type",
    "expiration_type",
    "leeway",
    "token_lifetime",
    "idle_token_lifetime",
    "infinite_token_lifetime",
    "infinite_idle_token_lifetime",
];
const API: &[&str] = &[
    "identifier",
    "name",
    "scopes",
    "signing_alg",
    "token_lifetime",
    "allow_offline_access",
    "skip_consent_for_verifiable_first_party_clients",
    "proof_of_possession",
];

fn unknown(v: &Value, known: &[&str]) -> bool {
    v.as_object().is_some_and(|o| o.keys().any(|k| !known.contains(&k.as_str())))
}

fn client(doc: &Value, raw: &[u8]) {
    let parsed = serde_json::from_slice::<ClientBody>(raw);
    let (jwt, rt) = (&doc["jwt_configuration"], &doc["refresh_token"]);
    if unknown(doc, CLIENT) || unknown(jwt, JWT) || unknown(rt, REFRESH) {
        assert!(parsed.is_err(), "an unknown member was accepted: {doc}");
    }
    let Ok(body) = parsed else { return };
    let Ok(patch) = body.into_patch() else { return };
    assert!(doc["oidc_conformant"] != false, "oidc_conformant false was ignored: {doc}");
    assert!(jwt["secret_encoded"] != true, "secret_encoded true was ignored: {doc}");
    assert!(jwt["lifetime_in_seconds"].as_i64().is_none_or(|l| l == ID_TOKEN_LIFETIME), "{doc}");
    assert!(rt["expiration_type"].as_str().is_none_or(|t| t == "expiring"), "{doc}");
    assert!(rt["infinite_token_lifetime"] != true && rt["infinite_idle_token_lifetime"] != true, "{doc}");
    // Nested settings land where the registry reads them.
    assert_eq!(patch.leeway, rt["leeway"].as_i64(), "{doc}");
    assert_eq!(patch.token_lifetime, rt["token_lifetime"].as_i64(), "{doc}");
    assert_eq!(patch.idle_token_lifetime, rt["idle_token_lifetime"].as_i64(), "{doc}");
    assert_eq!(patch.rotation_type.map(|r| r.as_str()), rt["rotation_type"].as_str(), "{doc}");
    assert_eq!(patch.id_token_signed_response_alg.map(|a| a.as_str()), jwt["alg"].as_str(), "{doc}");
    assert_eq!(patch.require_dpop, doc["require_proof_of_possession"].as_bool(), "{doc}");
    assert_eq!(patch.name.as_deref(), doc["name"].as_str(), "{doc}");
    let Ok(c) = Client::create("fuzz-client".into(), patch.clone(), NOW) else { return };
    let shown = c.auth0_json();
    if let Some(n) = doc["name"].as_str() {
        assert_eq!(shown["name"], n, "{doc}");
    }
    if let Some(l) = rt["leeway"].as_i64() {
        assert_eq!(shown["refresh_token"]["leeway"], l, "{doc}");
    }
    if let Some(a) = jwt["alg"].as_str() {
        assert_eq!(shown["jwt_configuration"]["alg"], a, "{doc}");
    }
    assert_eq!(shown["refresh_token"]["expiration_type"], "expiring");
}

fn api(doc: &Value, raw: &[u8]) {
    let parsed = serde_json::from_slice::<ResourceServerBody>(raw);
    let pop = &doc["proof_of_possession"];
    if unknown(doc, API) || unknown(pop, &["mechanism", "required"]) {
        assert!(parsed.is_err(), "an unknown member was accepted: {doc}");
    }
    let Ok(body) = parsed else { return };
    let Ok(patch) = body.into_patch() else { return };
    assert!(doc["skip_consent_for_verifiable_first_party_clients"] != false, "{doc}");
    match pop {
        Value::Null => {
            let present = doc.get("proof_of_possession").is_some();
            assert_eq!(patch.require_dpop, present.then_some(false), "null switches DPoP off: {doc}");
        }
        p => {
            assert_eq!(p["mechanism"], "dpop", "only DPoP is a mechanism: {doc}");
            assert_eq!(patch.require_dpop, p["required"].as_bool(), "{doc}");
        }
    }
    assert_eq!(patch.identifier.as_deref(), doc["identifier"].as_str(), "{doc}");
    assert_eq!(patch.token_lifetime, doc["token_lifetime"].as_i64(), "{doc}");
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, raw)) = tessera_fuzz::mode(data) else { return };
    let Ok(doc) = serde_json::from_slice::<Value>(raw) else { return };
    if mode % 2 == 0 {
        client(&doc, raw)
    } else {
        api(&doc, raw)
    }
});
