//! JWT validation (RFC 8725 §3.1, §3.11; RFC 7515 §4.1.11; RFC 9068 §4; RFC 9449 §4.3):
//! - a JWS verifies only with an (alg, key type) pair on the allow-list; `none` and
//!   HMAC-with-the-public-key never do;
//! - a `crit` header is never understood, so such a token is refused everywhere;
//! - `jku`, `x5u` and `jwk` header keys are never trusted for Tessera's own tokens (the
//!   DPoP proof's `jwk` is its key by definition, and must then be the key that signed);
//! - explicit typing: an ID token is never an access token or a DPoP proof, and neither
//!   of those is an ID token (client assertions are covered in the server's
//!   `client_auth_properties`, which need a registry).

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tessera_core::crypto::{b64url, Keyring, MasterKey};
use tessera_core::dpop::{validate_proof, ProofContext};
use tessera_core::model::{SigningAlg, User, UserPatch};
use tessera_core::scope::Scope;
use tessera_core::tokens::claims::{sign_access_token, sign_id_token, verify_access_token, AccessTokenSpec, IdTokenSpec};
use tessera_core::tokens::jose::{Jws, PublicKey};
use tessera_core::tokens::keys::{KeyState, SigningKeyRecord};
use tessera_core::tokens::{id_token_hint, KeySet, SigningKey};

const ISS: &str = "https://id.example.com/";
const NOW: i64 = 1_700_000_000;
const TOKEN_URL: &str = "https://id.example.com/oauth/token";

/// Every JWS `alg` of the IANA registry, plus spellings a lax comparison would accept.
const ALGS: &[&str] = &[
    "none", "None", "NONE", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "ES256K", "PS256",
    "PS384", "PS512", "EdDSA", "Ed25519", "Ed448", "rs256", "es256", "eddsa", "RS256 ", "",
];

/// The allow-list, written out independently of `PublicKey::allows_alg`.
fn allowed(kty: &str, alg: &str) -> bool {
    match kty {
        "RSA" => ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"].contains(&alg),
        "EC" => alg == "ES256",
        "OKP" => ["EdDSA", "Ed25519"].contains(&alg),
        _ => false,
    }
}

struct Fixture {
    keyring: Keyring,
    /// The server's keys, one current key per algorithm.
    keys: KeySet,
    /// The same algorithms' keys, opened for signing.
    signers: Vec<SigningKey>,
    /// An attacker's keys: not in the key set.
    attacker: Vec<SigningKey>,
    user: User,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let keyring = Keyring::new(&MasterKey::generate());
        let records: Vec<SigningKeyRecord> =
            SigningAlg::ALL.iter().map(|alg| SigningKeyRecord::generate(*alg, KeyState::Current, &keyring, 0).unwrap()).collect();
        let keys = KeySet::load(&records, &keyring, 0).unwrap();
        let signers = records.iter().map(|r| r.open(&keyring).unwrap()).collect();
        let attacker = SigningAlg::ALL.iter().map(|alg| SigningKey::generate(*alg).unwrap()).collect();
        let user = User::create("auth0|1".into(), UserPatch { username: Some("alice".into()), ..Default::default() }, 0).unwrap();
        Fixture { keyring, keys, signers, attacker, user }
    })
}

fn kty(key: &SigningKey) -> &'static str {
    match key.alg() {
        SigningAlg::RS256 | SigningAlg::PS256 => "RSA",
        SigningAlg::ES256 => "EC",
        SigningAlg::EdDSA => "OKP",
    }
}

/// A compact JWS with exactly this header, signed by `key` (whatever the header says).
fn sign_raw(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

fn header_of(token: &str) -> Map<String, Value> {
    Jws::parse(token).unwrap().header
}

fn claims_of(token: &str) -> Value {
    Value::Object(Jws::parse(token).unwrap().claims)
}

fn access_token(key: &SigningKey) -> String {
    let scope = Scope::parse("openid read:x").unwrap();
    let spec = AccessTokenSpec {
        issuer: ISS,
        subject: "auth0|1",
        client_id: "c1",
        audience: Some("https://api.example.com"),
        scope: &scope,
        now: NOW,
        lifetime: 600,
        auth_time: Some(NOW),
        gty: None,
        jkt: None,
    };
    sign_access_token(key, &spec).token
}

fn id_token(key: &SigningKey) -> String {
    let f = fixture();
    let scope = Scope::parse("openid").unwrap();
    let spec = IdTokenSpec {
        issuer: ISS,
        user: &f.user,
        client_id: "c1",
        scope: &scope,
        now: NOW,
        lifetime: 600,
        auth_time: NOW,
        nonce: None,
        sid: None,
        access_token: None,
    };
    sign_id_token(key, &spec)
}

fn dpop_proof(key: &SigningKey, jwk: &Map<String, Value>, extra_header: &Map<String, Value>) -> String {
    let mut header = json!({"typ": "dpop+jwt", "alg": key.alg().as_str(), "jwk": Value::Object(jwk.clone())});
    header.as_object_mut().unwrap().extend(extra_header.clone());
    let claims = json!({"jti": "j1", "htm": "POST", "htu": TOKEN_URL, "iat": NOW});
    sign_raw(key, &header, &claims)
}

fn proof_ctx() -> ProofContext<'static> {
    ProofContext { method: "POST", url: TOKEN_URL, now: NOW, max_age: 60, access_token: None, require_nonce: false }
}

fn public_jwk_only(key: &SigningKey) -> Map<String, Value> {
    PublicKey::from_jwk(&Value::Object(key.public_jwk())).unwrap().to_jwk()
}

/// Header members an attacker adds to point a verifier at a key of their choosing.
fn key_pointers(attacker: &SigningKey) -> impl Strategy<Value = Map<String, Value>> {
    let jwk = Value::Object(attacker.public_jwk());
    prop::collection::vec(0usize..4, 0..4).prop_map(move |picks| {
        let mut m = Map::new();
        for p in picks {
            match p {
                0 => m.insert("jwk".into(), jwk.clone()),
                1 => m.insert("jku".into(), "https://evil.example/jwks.json".into()),
                2 => m.insert("x5u".into(), "https://evil.example/cert.pem".into()),
                _ => m.insert("x5c".into(), json!(["MIIB"])),
            };
        }
        m
    })
}

fn key_index() -> impl Strategy<Value = usize> {
    0..SigningAlg::ALL.len()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// `allows_alg` is exactly the allow-list, and a signature never verifies under a
    /// disallowed pair: not a real one, not HMAC keyed with the public key, not garbage.
    #[test]
    fn only_allow_listed_alg_and_key_type_pairs_verify(
        k in key_index(),
        alg in prop_oneof![prop::sample::select(ALGS.to_vec()).prop_map(str::to_string), "[A-Za-z0-9+ ]{0,8}"],
        garbage in prop::collection::vec(any::<u8>(), 1..600),
    ) {
        let key = &fixture().signers[k];
        let public = PublicKey::from_jwk(&Value::Object(key.public_jwk())).unwrap();
        prop_assert_eq!(public.allows_alg(&alg), allowed(kty(key), &alg), "{} {}", kty(key), alg);
        let header = json!({"alg": alg, "kid": key.kid()});
        let token = sign_raw(key, &header, &json!({"sub": "x"}));
        let jws = Jws::parse(&token).unwrap();
        if !allowed(kty(key), &alg) {
            prop_assert!(!jws.verify_with(&public), "{alg} verified with a {} key", kty(key));
        }
        // The HS256-with-the-public-key confusion (RFC 8725 §2.1), and random signatures.
        let input = token.rsplit_once('.').unwrap().0;
        let secrets = [key.public_jwk().get("n").or(key.public_jwk().get("x")).cloned().unwrap_or_default().to_string(),
            Value::Object(key.public_jwk()).to_string()];
        for secret in secrets {
            let mac = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()), input.as_bytes());
            let forged = format!("{}.{}", b64url(json!({"alg": "HS256", "kid": key.kid(), "typ": "at+jwt"}).to_string().as_bytes()), input.split_once('.').unwrap().1);
            let forged = format!("{forged}.{}", b64url(mac.as_ref()));
            prop_assert!(!Jws::parse(&forged).unwrap().verify_with(&public));
            prop_assert!(verify_access_token(&fixture().keys, ISS, &forged, NOW).is_err());
        }
        let garbage_token = format!("{input}.{}", b64url(&garbage));
        prop_assert!(!Jws::parse(&garbage_token).unwrap().verify_with(&public));
    }

    /// `none` is refused by every verifier, with or without a signature part.
    #[test]
    fn alg_none_is_never_accepted(k in key_index(), none in prop::sample::select(vec!["none", "None", "NONE", "nOnE"]), sig in prop::collection::vec(any::<u8>(), 0..64)) {
        let f = fixture();
        let genuine = access_token(&f.signers[k]);
        let mut header = header_of(&genuine);
        header.insert("alg".into(), none.into());
        let (_, payload, _) = split3(&genuine);
        let token = format!("{}.{payload}.{}", b64url(Value::Object(header).to_string().as_bytes()), b64url(&sig));
        prop_assert!(verify_access_token(&f.keys, ISS, &token, NOW).is_err());
        prop_assert!(id_token_hint::verify(&f.keys, ISS, &token).is_err());
        prop_assert!(validate_proof(&token, &proof_ctx(), &f.keyring).is_err());
    }

    /// A `crit` header (RFC 7515 §4.1.11) names extensions Tessera does not understand:
    /// the token is refused everywhere, even when it is genuinely signed.
    #[test]
    fn crit_headers_are_refused(k in key_index(), crit in prop_oneof![Just(json!(["exp"])), Just(json!(["b64"])), Just(json!([])), Just(json!("x")), any::<i64>().prop_map(|n| json!(n))]) {
        let f = fixture();
        let key = &f.signers[k];
        let mut header = header_of(&access_token(key));
        header.insert("crit".into(), crit.clone());
        let at = sign_raw(key, &Value::Object(header), &claims_of(&access_token(key)));
        prop_assert!(Jws::parse(&at).is_err());
        prop_assert!(verify_access_token(&f.keys, ISS, &at, NOW).is_err());
        let mut header = header_of(&id_token(key));
        header.insert("crit".into(), crit.clone());
        prop_assert!(id_token_hint::verify(&f.keys, ISS, &sign_raw(key, &Value::Object(header), &claims_of(&id_token(key)))).is_err());
        let mut extra = Map::new();
        extra.insert("crit".into(), crit);
        let proof = dpop_proof(&f.attacker[k], &public_jwk_only(&f.attacker[k]), &extra);
        prop_assert!(validate_proof(&proof, &proof_ctx(), &f.keyring).is_err());
    }

    /// A token signed by an attacker's key, carrying `jwk`/`jku`/`x5u`/`x5c` that point at
    /// that key and any kid (ours or theirs), is never one of Tessera's tokens.
    #[test]
    fn header_keys_are_never_trusted_for_our_tokens(
        k in key_index(),
        (attacker_k, pointers) in key_index().prop_flat_map(|a| (Just(a), key_pointers(&fixture().attacker[a]))),
        use_our_kid in any::<bool>(),
    ) {
        let f = fixture();
        let attacker = &f.attacker[attacker_k];
        let kid = if use_our_kid { f.signers[k].kid() } else { attacker.kid() };
        for (genuine, typ) in [(access_token(&f.signers[k]), "at+jwt"), (id_token(&f.signers[k]), "JWT")] {
            let mut header = json!({"alg": attacker.alg().as_str(), "typ": typ, "kid": kid});
            header.as_object_mut().unwrap().extend(pointers.clone());
            let forged = sign_raw(attacker, &header, &claims_of(&genuine));
            prop_assert!(verify_access_token(&f.keys, ISS, &forged, NOW).is_err(), "{header}");
            prop_assert!(id_token_hint::verify(&f.keys, ISS, &forged).is_err(), "{header}");
        }
        // A DPoP proof's jwk must be the key that signed it, whatever else the header says.
        let other = &f.attacker[(attacker_k + 1) % f.attacker.len()];
        let mut pointers_without_jwk = pointers.clone();
        pointers_without_jwk.remove("jwk");
        let proof = dpop_proof(attacker, &public_jwk_only(other), &pointers_without_jwk);
        prop_assert!(validate_proof(&proof, &proof_ctx(), &f.keyring).is_err());
        let honest = dpop_proof(attacker, &public_jwk_only(attacker), &pointers_without_jwk);
        prop_assert!(validate_proof(&honest, &proof_ctx(), &f.keyring).is_ok(), "jku/x5u are ignored, the jwk is the key");
    }

    /// Explicit typing (RFC 8725 §3.11, RFC 9068 §4): the verifier of one kind of token
    /// refuses the other kinds, even genuinely signed by Tessera's own key.
    #[test]
    fn tokens_are_accepted_only_for_their_own_use(
        k in key_index(),
        typ in prop_oneof![
            prop::sample::select(vec!["at+jwt", "application/at+jwt", "AT+JWT", "JWT", "jwt", "dpop+jwt", "logout+jwt",
                "client-authentication+jwt", "id_token+jwt", "", "at+jwt "]).prop_map(str::to_string),
            "[a-z+/]{0,12}",
        ],
        omit_typ in any::<bool>(),
    ) {
        let f = fixture();
        let key = &f.signers[k];
        let (at, id) = (access_token(key), id_token(key));
        prop_assert!(verify_access_token(&f.keys, ISS, &at, NOW).is_ok());
        prop_assert!(id_token_hint::verify(&f.keys, ISS, &id).is_ok());
        // An ID token is not an access token or a DPoP proof; an access token is not an ID token.
        prop_assert!(verify_access_token(&f.keys, ISS, &id, NOW).is_err());
        prop_assert!(id_token_hint::verify(&f.keys, ISS, &at).is_err());
        prop_assert!(validate_proof(&id, &proof_ctx(), &f.keyring).is_err());
        prop_assert!(validate_proof(&at, &proof_ctx(), &f.keyring).is_err());
        // A DPoP proof is neither, even one whose key is Tessera's own.
        let proof = dpop_proof(key, &public_jwk_only(key), &Map::new());
        prop_assert!(validate_proof(&proof, &proof_ctx(), &f.keyring).is_ok());
        prop_assert!(verify_access_token(&f.keys, ISS, &proof, NOW).is_err());
        prop_assert!(id_token_hint::verify(&f.keys, ISS, &proof).is_err());

        // Re-typed and re-signed by Tessera's key: each verifier takes only its own typ.
        for (genuine, is_access) in [(&at, true), (&id, false)] {
            let mut header = header_of(genuine);
            if omit_typ { header.remove("typ"); } else { header.insert("typ".into(), typ.clone().into()); }
            let t = if omit_typ { None } else { Some(typ.as_str()) };
            let retyped = sign_raw(key, &Value::Object(header), &claims_of(genuine));
            prop_assert_eq!(verify_access_token(&f.keys, ISS, &retyped, NOW).is_ok(), t == Some("at+jwt") && is_access, "typ {:?} as access token", t);
            let id_typ = t.is_none_or(|t| t.eq_ignore_ascii_case("JWT"));
            prop_assert_eq!(id_token_hint::verify(&f.keys, ISS, &retyped).is_ok(), id_typ, "typ {:?} as ID token hint", t);
            prop_assert!(validate_proof(&retyped, &proof_ctx(), &f.keyring).is_err());
        }
    }
}

fn split3(token: &str) -> (&str, &str, &str) {
    let mut it = token.splitn(3, '.');
    (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
}
