//! A DPoP client for tests (RFC 9449 §4.2): an ES256 key and proofs with any claim changed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use crate::oauth_fixture::sign_compact;

pub struct DpopKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl DpopKey {
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        Self { pair, rng }
    }

    pub fn jwk(&self) -> Value {
        let p = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])})
    }

    /// RFC 7638 thumbprint.
    pub fn jkt(&self) -> String {
        let j = self.jwk();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#, j["x"], j["y"]);
        URL_SAFE_NO_PAD.encode(tessera_core::crypto::sha256(canonical.as_bytes()))
    }

    /// A proof for `htm` `htu` at `iat`; `header`/`claims` entries override (null removes).
    pub fn proof_with(&self, htm: &str, htu: &str, iat: i64, header: Value, claims: Value) -> String {
        let mut h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()});
        let mut c = json!({"jti": tessera_core::crypto::random_token::<12>(), "htm": htm, "htu": htu, "iat": iat});
        merge(&mut h, header);
        merge(&mut c, claims);
        sign_compact(&h, &c, |m| self.pair.sign(&self.rng, m).unwrap().as_ref().to_vec())
    }

    pub fn proof(&self, htm: &str, htu: &str, iat: i64) -> String {
        self.proof_with(htm, htu, iat, json!({}), json!({}))
    }
}

fn merge(target: &mut Value, over: Value) {
    if let (Some(t), Some(o)) = (target.as_object_mut(), over.as_object()) {
        for (k, v) in o {
            if v.is_null() {
                t.remove(k);
            } else {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `ath`: base64url(SHA-256(access token)).
pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(tessera_core::crypto::sha256(token.as_bytes()))
}
