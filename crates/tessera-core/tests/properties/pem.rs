//! PEM public keys for client credentials (RFC 7468; RFC 5280 §4.1.2.7, RFC 5480 §2):
//! - a P-256 SubjectPublicKeyInfo (built here from ring's raw point and the fixed RFC 5480
//!   prefix, an encoding independent of the parser) reads back as exactly that point, with
//!   the thumbprint of the same key given as a JWK;
//! - no truncation or one-byte change of it, and no body at all, makes the parser panic;
//!   whatever it accepts is a key the JWK rules accept too.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tessera_core::crypto::b64url;
use tessera_core::tokens::jose::PublicKey;
use tessera_core::tokens::pem::parse_public_pem;

/// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) ... } for a
/// 65-byte uncompressed point (RFC 5480 §2.1.1, §2.2).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03,
    0x01, 0x07, 0x03, 0x42, 0x00,
];

fn pem(label: &str, der: &[u8]) -> String {
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", STANDARD.encode(der))
}

fn p256_point() -> Vec<u8> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    kp.public_key().as_ref().to_vec()
}

fn accepted_is_a_valid_key(input: &str) {
    if let Ok(k) = parse_public_pem(input) {
        let again = PublicKey::from_jwk(&Value::Object(k.key.to_jwk())).expect("an accepted key is a valid JWK");
        assert_eq!(again, k.key);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_p256_spki_reads_back_as_its_point(_seed in any::<u8>()) {
        let point = p256_point();
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend(&point);
        let parsed = parse_public_pem(&pem("PUBLIC KEY", &der)).unwrap();
        prop_assert_eq!(&parsed.key, &PublicKey::P256(point.clone()));
        prop_assert_eq!(parsed.not_after, None);
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65])});
        prop_assert_eq!(parsed.key.thumbprint(), PublicKey::from_jwk(&jwk).unwrap().thumbprint());
    }

    #[test]
    fn damaged_der_never_panics(cut in 0usize..91, at in 0usize..91, byte in any::<u8>()) {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend(p256_point());
        accepted_is_a_valid_key(&pem("PUBLIC KEY", &der[..cut.min(der.len())]));
        let i = at % der.len();
        der[i] = byte;
        accepted_is_a_valid_key(&pem("PUBLIC KEY", &der));
        accepted_is_a_valid_key(&pem("CERTIFICATE", &der));
        accepted_is_a_valid_key(&pem("RSA PUBLIC KEY", &der));
    }

    #[test]
    fn any_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300), label in "(PUBLIC KEY|CERTIFICATE|RSA PUBLIC KEY|X)") {
        accepted_is_a_valid_key(&pem(&label, &body));
        accepted_is_a_valid_key(&String::from_utf8_lossy(&body));
    }
}
