//! Compact JWS and JOSE header handling (`tessera_core::tokens::jose::Jws`) as used for
//! access tokens, `id_token_hint`, DPoP proofs and (through the same parser and key rules)
//! client assertions.
//!
//! Input: a mode byte, then text.
//! - `h`: the text is a JOSE header (JSON). It is signed, with access-token claims, by the
//!   server's key; the access-token verifier must accept it exactly when the strict rule
//!   holds (typ `at+jwt`, the key's alg and kid, no `crit`), and the ID-token-hint
//!   verifier exactly when typ is `JWT` or absent (same alg, kid, no crit).
//! - `d`: the text is a DPoP proof header (JSON; the signing key's `jwk` is added when it
//!   has none). It is signed by a proof key; `validate_proof` must accept it exactly when
//!   typ is `dpop+jwt`, alg is that key's, there is no crit, and `jwk` is that key.
//! - anything else: the text is a token. Parsing never panics; what parses has three
//!   parts, a non-empty signature and no crit; no verifier accepts it (it is not signed by
//!   a key they trust).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use tessera_core::crypto::{b64url, Keyring, MasterKey};
use tessera_core::dpop::{validate_proof, ProofContext};
use tessera_core::model::SigningAlg;
use tessera_core::tokens::claims::verify_access_token;
use tessera_core::tokens::jose::{Jws, PublicKey};
use tessera_core::tokens::keys::{KeyState, SigningKeyRecord};
use tessera_core::tokens::{id_token_hint, KeySet, SigningKey};

const ISS: &str = "https://id.example.com/";
const NOW: i64 = 1_700_000_000;
const HTU: &str = "https://id.example.com/oauth/token";

struct Keys {
    keyring: Keyring,
    set: KeySet,
    server: SigningKey,
    proof: SigningKey,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let keyring = Keyring::new(&MasterKey::generate());
        let rec = SigningKeyRecord::generate(SigningAlg::ES256, KeyState::Current, &keyring, 0).unwrap();
        let set = KeySet::load(std::slice::from_ref(&rec), &keyring, 0).unwrap();
        let server = rec.open(&keyring).unwrap();
        Keys { keyring, set, server, proof: SigningKey::generate(SigningAlg::EdDSA).unwrap() }
    })
}

fn sign(key: &SigningKey, header: &Map<String, Value>, claims: &Value) -> String {
    let input =
        format!("{}.{}", b64url(Value::Object(header.clone()).to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

fn ctx() -> ProofContext<'static> {
    ProofContext { method: "POST", url: HTU, now: NOW, max_age: 60, access_token: None, require_nonce: false }
}

fn server_header(header: Map<String, Value>) {
    let k = keys();
    let claims = json!({"iss": ISS, "sub": "auth0|1", "aud": "c1", "iat": NOW, "exp": NOW + 60, "jti": "j", "client_id": "c1"});
    let token = sign(&k.server, &header, &claims);
    let s = |name: &str| header.get(name).and_then(Value::as_str);
    let ours = s("alg") == Some("ES256") && s("kid") == Some(k.server.kid()) && !header.contains_key("crit");
    let as_access = verify_access_token(&k.set, ISS, &token, NOW).is_ok();
    assert_eq!(as_access, ours && s("typ") == Some("at+jwt"), "access token with header {header:?}");
    let typ_is_jwt = match header.get("typ") {
        None => true,
        Some(t) => t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT")),
    };
    let as_hint = id_token_hint::verify(&k.set, ISS, &token).is_ok();
    assert_eq!(as_hint, ours && typ_is_jwt, "ID token hint with header {header:?}");
    assert!(!(as_access && as_hint), "one token, two uses");
    assert!(validate_proof(&token, &ctx(), &k.keyring).is_err(), "a server-signed token is no DPoP proof");
}

fn proof_header(mut header: Map<String, Value>) {
    let k = keys();
    let own_jwk = Value::Object(PublicKey::from_jwk(&Value::Object(k.proof.public_jwk())).unwrap().to_jwk());
    header.entry("jwk").or_insert_with(|| own_jwk.clone());
    let claims = json!({"jti": "j1", "htm": "POST", "htu": HTU, "iat": NOW});
    let proof = sign(&k.proof, &header, &claims);
    let s = |name: &str| header.get(name).and_then(Value::as_str);
    let jwk_is_signer = header.get("jwk").and_then(|j| PublicKey::from_jwk(j).ok()) == PublicKey::from_jwk(&own_jwk).ok();
    let want = s("typ") == Some("dpop+jwt") && s("alg") == Some("EdDSA") && !header.contains_key("crit") && jwk_is_signer;
    let got = validate_proof(&proof, &ctx(), &k.keyring);
    assert_eq!(got.is_ok(), want, "proof header {header:?}: {got:?}");
    if let Ok(p) = got {
        assert_eq!(p.jkt, PublicKey::from_jwk(&own_jwk).unwrap().thumbprint());
    }
    assert!(verify_access_token(&k.set, ISS, &proof, NOW).is_err());
    assert!(id_token_hint::verify(&k.set, ISS, &proof).is_err());
}

fn raw_token(token: &str) {
    let k = keys();
    if let Ok(jws) = Jws::parse(token) {
        assert_eq!(token.matches('.').count(), 2);
        assert!(!jws.header.contains_key("crit"));
        assert!(!token.ends_with('.'), "an unsigned JWS parsed");
        let again = Jws::parse(token).expect("parsing is deterministic");
        assert_eq!((again.header, again.claims), (jws.header.clone(), jws.claims.clone()));
        let public = PublicKey::from_jwk(&Value::Object(k.server.public_jwk())).unwrap();
        assert!(!jws.verify_with(&public), "forged a server signature");
    }
    assert!(verify_access_token(&k.set, ISS, token, NOW).is_err());
    assert!(id_token_hint::verify(&k.set, ISS, token).is_err());
    if let Ok(p) = validate_proof(token, &ctx(), &k.keyring) {
        // Only a real proof (self-signed by its jwk) can pass; check the thumbprint is its key's.
        let jws = Jws::parse(token).unwrap();
        let key = PublicKey::from_jwk(&jws.header["jwk"]).unwrap();
        assert!(jws.verify_with(&key));
        assert_eq!(p.jkt, key.thumbprint());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = tessera_fuzz::mode(data) else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    match m {
        b'h' | b'd' => {
            let Ok(Value::Object(header)) = serde_json::from_str::<Value>(text) else { return };
            if m == b'h' {
                server_header(header)
            } else {
                proof_header(header)
            }
        }
        _ => raw_token(text),
    }
});
