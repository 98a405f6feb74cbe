//! JWK / JWK Set parsing (`PublicKey::from_jwk`, `parse_client_jwks`, RFC 7517/7518) and
//! the RFC 7638 thumbprint.
//!
//! Input: JSON (a JWK or a JWK Set). Invariants:
//! - a key is accepted only if it is a public RSA (≥ 2048 bits), EC P-256 or OKP Ed25519
//!   key without private members; never `oct`;
//! - canonical round trip: the key's own JWK parses back to the same key, with the same
//!   thumbprint, and the thumbprint is SHA-256 over the RFC 7638 §3.2 member order,
//!   computed independently here; extra members never change it;
//! - a JWK Set is accepted only if every key is, and none is marked for another use.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_core::crypto::{b64url, sha256};
use tessera_core::tokens::jose::{parse_client_jwks, PublicKey};

const PRIVATE: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn check_key(jwk: &Value) {
    let Ok(key) = PublicKey::from_jwk(jwk) else { return };
    let obj = jwk.as_object().expect("accepted a JWK that is not an object");
    assert!(!PRIVATE.iter().any(|m| obj.contains_key(*m)), "accepted private members");
    let kty = obj.get("kty").and_then(Value::as_str).unwrap_or_default();
    assert!(matches!(kty, "RSA" | "EC" | "OKP"), "accepted kty {kty:?}");
    let canonical = key.to_jwk();
    let again = PublicKey::from_jwk(&Value::Object(canonical.clone())).expect("the canonical JWK parses");
    assert_eq!(again, key);
    assert_eq!(again.thumbprint(), key.thumbprint());
    // RFC 7638 §3.2/§3.3: the required members only, lexicographic order, no whitespace.
    let required: BTreeMap<String, String> =
        canonical.iter().map(|(k, v)| (k.clone(), v.as_str().expect("string members").to_string())).collect();
    let json = serde_json::to_string(&required).unwrap();
    assert_eq!(key.thumbprint(), b64url(&sha256(json.as_bytes())));
    let mut decorated = canonical.clone();
    decorated.insert("kid".into(), "x".into());
    decorated.insert("alg".into(), "RS256".into());
    decorated.insert("use".into(), "sig".into());
    assert_eq!(PublicKey::from_jwk(&Value::Object(decorated)).unwrap().thumbprint(), key.thumbprint());
    for alg in ["none", "HS256", "", "ES384", "RS1"] {
        assert!(!key.allows_alg(alg), "{alg}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else { return };
    check_key(&v);
    if let Ok(keys) = parse_client_jwks(&v) {
        let list = v["keys"].as_array().expect("accepted a set without a keys array");
        assert_eq!(keys.len(), list.len());
        for (k, raw) in keys.iter().zip(list) {
            assert_eq!(PublicKey::from_jwk(raw).as_ref(), Ok(&k.key));
            assert!(raw.get("use").is_none_or(|u| u == "sig"));
            check_key(raw);
        }
    } else if let Some(list) = v.get("keys").and_then(Value::as_array) {
        let all_ok = list.iter().all(|k| PublicKey::from_jwk(k).is_ok() && k.get("use").is_none_or(|u| u == "sig"));
        assert!(!all_ok, "refused a set of good keys");
    }
    if let Some(list) = v.get("keys").and_then(Value::as_array) {
        list.iter().for_each(check_key);
    }
});
