//! Tessera's signing keys: generation, parse-once signing, lifecycle and the published JWKS.
//!
//! DESIGN decision 5: for each algorithm there is a `current` key (signs), a `next` key
//! (published before it signs anything, so caches already hold it when rotation promotes
//! it) and `retired` keys, published until every token they signed has expired. `revoked`
//! keys are never published. Private parts are stored AES-256-GCM-encrypted under the
//! master key; a key that does not decrypt fails closed.
//!
//! Signing keys are parsed once into aws-lc-rs key pairs: re-parsing an RSA key per signature
//! costs more than the signature itself.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::jose::PublicKey;
use crate::crypto::{b64url, b64url_into, Keyring};
use crate::error::Error;
use crate::model::SigningAlg;

enum Pair {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A parsed private key ready to sign, with its public JWK and `kid` (the RFC 7638
/// thumbprint, so `kid`s are distinct and derived, never chosen).
pub struct SigningKey {
    alg: SigningAlg,
    kid: String,
    pair: Pair,
    public: PublicKey,
    rng: SystemRandom,
    /// The encoded JOSE headers of the two token types Tessera signs (access tokens and
    /// ID tokens), made once: every token of a key carries the same header.
    header_at_jwt: String,
    header_jwt: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

fn key_err(e: impl std::fmt::Display) -> Error {
    Error::server_error(format!("signing key: {e}"))
}

/// Generates a new private key for `alg`, as PKCS#8 DER.
pub fn generate_pkcs8(alg: SigningAlg) -> Result<Vec<u8>, Error> {
    let rng = SystemRandom::new();
    match alg {
        SigningAlg::RS256 | SigningAlg::PS256 => {
            let key = RsaKeyPair::generate(KeySize::Rsa2048).map_err(key_err)?;
            let der: Pkcs8V1Der<'static> = key.as_der().map_err(key_err)?;
            Ok(der.as_ref().to_vec())
        }
        SigningAlg::ES256 => Ok(EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(key_err)?
            .as_ref()
            .to_vec()),
        SigningAlg::EdDSA => Ok(Ed25519KeyPair::generate_pkcs8(&rng).map_err(key_err)?.as_ref().to_vec()),
    }
}

impl SigningKey {
    pub fn generate(alg: SigningAlg) -> Result<Self, Error> {
        Self::from_pkcs8(alg, &generate_pkcs8(alg)?)
    }

    pub fn from_pkcs8(alg: SigningAlg, der: &[u8]) -> Result<Self, Error> {
        let rng = SystemRandom::new();
        let (pair, public) = match alg {
            SigningAlg::RS256 | SigningAlg::PS256 => {
                let kp = RsaKeyPair::from_pkcs8(der).map_err(key_err)?;
                let c: aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>> = kp.public_key().into();
                (Pair::Rsa(kp), PublicKey::Rsa { n: c.n, e: c.e })
            }
            SigningAlg::ES256 => {
                let kp = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(key_err)?;
                let point = kp.public_key().as_ref().to_vec();
                (Pair::Ecdsa(kp), PublicKey::P256(point))
            }
            SigningAlg::EdDSA => {
                let kp = Ed25519KeyPair::from_pkcs8(der).map_err(key_err)?;
                let x = kp.public_key().as_ref().to_vec();
                (Pair::Ed25519(kp), PublicKey::Ed25519(x))
            }
        };
        let kid = public.thumbprint();
        let (header_at_jwt, header_jwt) = (encoded_header(alg, "at+jwt", &kid), encoded_header(alg, "JWT", &kid));
        Ok(Self { alg, kid, pair, public, rng, header_at_jwt, header_jwt })
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK as published: key members plus `kid`, `alg`, `use`.
    pub fn public_jwk(&self) -> Map<String, Value> {
        let mut jwk = self.public.to_jwk();
        jwk.insert("kid".into(), self.kid.clone().into());
        jwk.insert("alg".into(), self.alg.as_str().into());
        jwk.insert("use".into(), "sig".into());
        jwk
    }

    /// Raw JWS signature over `msg` (RFC 7518 §3: PKCS#1 v1.5, PSS, fixed-size ECDSA r||s).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        // Signing with a valid parsed key only fails on RNG failure, which aws-lc treats as
        // unrecoverable; an empty signature would then be refused by every verifier.
        match &self.pair {
            Pair::Rsa(kp) => {
                let padding: &dyn signature::RsaEncoding = match self.alg {
                    SigningAlg::PS256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0u8; kp.public_modulus_len()];
                match kp.sign(padding, &self.rng, msg, &mut sig) {
                    Ok(()) => sig,
                    Err(_) => Vec::new(),
                }
            }
            Pair::Ecdsa(kp) => kp.sign(&self.rng, msg).map(|s| s.as_ref().to_vec()).unwrap_or_default(),
            Pair::Ed25519(kp) => kp.sign(msg).as_ref().to_vec(),
        }
    }

    /// A compact JWS (RFC 7515 §7.1) with header `{alg, typ, kid}` over `claims`, built in
    /// one buffer: header (made once per key for Tessera's two token types), payload encoded
    /// straight from the claims, signature.
    pub fn sign_jwt<C: Serialize + ?Sized>(&self, typ: &str, claims: &C) -> String {
        // Claims are JSON objects with string keys, which serialise without error; were one
        // not to, the empty payload is no JSON object and every verifier refuses the token.
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let header = match typ {
            "at+jwt" => Cow::Borrowed(self.header_at_jwt.as_str()),
            "JWT" => Cow::Borrowed(self.header_jwt.as_str()),
            other => Cow::Owned(encoded_header(self.alg, other, &self.kid)),
        };
        // Room for the signature of the largest key (RSA-4096: 512 bytes, 683 characters).
        let mut out = String::with_capacity(header.len() + 1 + payload.len().div_ceil(3) * 4 + 1 + 683);
        out.push_str(&header);
        out.push('.');
        b64url_into(&payload, &mut out);
        let sig = self.sign(out.as_bytes());
        out.push('.');
        b64url_into(&sig, &mut out);
        out
    }
}

/// The base64url JOSE header `{alg, typ, kid}` (RFC 7515 §4.1).
fn encoded_header(alg: SigningAlg, typ: &str, kid: &str) -> String {
    b64url(json!({"alg": alg.as_str(), "typ": typ, "kid": kid}).to_string().as_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Current,
    Retired,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Next, Self::Current, Self::Retired, Self::Revoked].into_iter().find(|k| k.as_str() == s)
    }
}

/// A signing key as stored.
#[derive(Clone, PartialEq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
    pub public_jwk: Value,
    /// base64(nonce || AES-256-GCM(PKCS#8)), bound to the kid.
    pub private_key: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// For retired keys: published in the JWKS until then.
    pub publish_until: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn aead_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

impl SigningKeyRecord {
    /// RFC 7638 thumbprint of the key's public JWK (Auth0's `thumbprint`), and the same
    /// digest as colon-separated hex (Auth0's `fingerprint` format).
    fn thumbprints(&self) -> (String, String) {
        use base64::Engine;
        let Ok(key) = PublicKey::from_jwk(&self.public_jwk) else { return (String::new(), String::new()) };
        let t = key.thumbprint();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&t).unwrap_or_default();
        let hex: Vec<String> = raw.iter().map(|b| format!("{b:02X}")).collect();
        (t, hex.join(":"))
    }

    /// The key in Auth0's shape (`current`/`next`/`previous`/`revoked` flags), as
    /// `GET /api/v2/keys/signing` answers and `tessera keys list --json` prints. Tessera's
    /// keys have no X.509 certificate: `cert` and `pkcs7` are empty and the public key is
    /// in `jwk`.
    pub fn auth0_json(&self) -> Value {
        let (thumbprint, fingerprint) = self.thumbprints();
        json!({
            "kid": self.kid,
            "cert": "",
            "pkcs7": "",
            "thumbprint": thumbprint,
            "fingerprint": fingerprint,
            "alg": self.alg.as_str(),
            "current": self.state == KeyState::Current,
            "next": self.state == KeyState::Next,
            "previous": self.state == KeyState::Retired,
            "revoked": self.state == KeyState::Revoked,
            "current_since": self.activated_at.map(crate::model::rfc3339),
            "current_until": self.retired_at.filter(|_| self.state == KeyState::Retired).map(crate::model::rfc3339),
            "revoked_at": self.retired_at.filter(|_| self.state == KeyState::Revoked).map(crate::model::rfc3339),
            "jwk": self.public_jwk,
        })
    }

    /// Generates a new key in `state`, its private part sealed under the keyring.
    pub fn generate(alg: SigningAlg, state: KeyState, keyring: &Keyring, now: i64) -> Result<Self, Error> {
        let der = generate_pkcs8(alg)?;
        let key = SigningKey::from_pkcs8(alg, &der)?;
        Ok(Self {
            kid: key.kid().to_string(),
            alg,
            state,
            public_jwk: Value::Object(key.public_jwk()),
            private_key: keyring.encrypt(&aead_context(key.kid()), &der),
            created_at: now,
            activated_at: (state == KeyState::Current).then_some(now),
            retired_at: None,
            publish_until: None,
        })
    }

    /// Decrypts and parses the private key; fails closed.
    pub fn open(&self, keyring: &Keyring) -> Result<SigningKey, Error> {
        let der = keyring.decrypt(&aead_context(&self.kid), &self.private_key)?;
        let key = SigningKey::from_pkcs8(self.alg, &der)?;
        if key.kid() != self.kid {
            return Err(Error::server_error(format!("signing key {} does not match its stored kid", self.kid)));
        }
        Ok(key)
    }

    pub fn is_published(&self, now: i64) -> bool {
        match self.state {
            KeyState::Next | KeyState::Current => true,
            KeyState::Retired => self.publish_until.is_some_and(|t| now < t),
            KeyState::Revoked => false,
        }
    }
}

/// How long a key must have been stored (as `next`, usually for days) before any node signs
/// with it. Every node re-reads its keys within about a second of a change (the registry
/// version poll), so after this lead every node publishes the key and verifies what it
/// signs. Without it, two rotations in a row promote a `next` key that other nodes have
/// not loaded yet, and they answer `active: false` for the tokens it signs.
pub const SIGNING_LEAD: i64 = 5;

/// Which key signs for each algorithm at `now`: the `current` key once it is
/// [`SIGNING_LEAD`] old. Until then a retired key that is still published and no younger
/// than it: the most recently retired of those old enough (every node has loaded it), else
/// the oldest (right after a deployment's first start nothing is old enough; the oldest key
/// was loaded by every node there is). The young `current` key signs at once only when
/// there is no other (a new deployment or algorithm).
fn signing_kids(records: &[SigningKeyRecord], now: i64) -> BTreeMap<SigningAlg, &SigningKeyRecord> {
    let mature = |r: &SigningKeyRecord| r.created_at <= now - SIGNING_LEAD;
    let mut chosen = BTreeMap::new();
    for current in records.iter().filter(|r| r.state == KeyState::Current) {
        let fallback = records
            .iter()
            .filter(|r| r.alg == current.alg && r.state == KeyState::Retired && r.is_published(now))
            .filter(|r| r.created_at <= current.created_at)
            .max_by_key(|r| {
                let retired = r.retired_at.unwrap_or(0);
                if mature(r) {
                    (1, retired, 0)
                } else {
                    (0, -r.created_at, -retired)
                }
            });
        let key = match fallback {
            Some(retired) if !mature(current) => retired,
            _ => current,
        };
        chosen.insert(current.alg, key);
    }
    chosen
}

/// A published key of ours, parsed once for its one algorithm.
pub struct Verifier {
    pub alg: SigningAlg,
    parsed: signature::ParsedPublicKey,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl Verifier {
    /// RFC 8725 §3.1: the token's `alg` must be the key's own algorithm, never one the token
    /// chooses; then its signature must verify.
    pub fn verifies(&self, jws: &super::jose::Jws) -> bool {
        jws.verify_parsed(self.alg.as_str(), &self.parsed)
    }
}

/// The keys in use, as loaded at start-up or after a rotation: the current signer for each
/// algorithm and the serialized JWKS document.
#[derive(Debug, Default)]
pub struct KeySet {
    current: BTreeMap<SigningAlg, Arc<SigningKey>>,
    /// When a young `current` key becomes old enough to sign: the set must be reloaded then.
    change_at: Option<i64>,
    /// Every published key by kid, for verifying tokens this server issued.
    verifiers: BTreeMap<String, Verifier>,
    jwks: String,
    /// (kid, state, published) of every key, to tell whether a reload changes anything.
    fingerprint: Vec<(String, &'static str, bool)>,
}

impl KeySet {
    /// A set holding one fresh current key of `alg`, under a fresh master key (unit tests).
    #[cfg(test)]
    pub(crate) fn with_one_current_key(alg: SigningAlg) -> Self {
        let kr = Keyring::new(&crate::crypto::MasterKey::generate());
        let rec = SigningKeyRecord::generate(alg, KeyState::Current, &kr, 0).expect("a test key");
        Self::load(&[rec], &kr, 0).expect("a test key set")
    }

    /// Builds the set from stored records. Every non-revoked key must decrypt with this
    /// keyring, so a wrong master key is found at start-up, not at the first token.
    pub fn load(records: &[SigningKeyRecord], keyring: &Keyring, now: i64) -> Result<Self, Error> {
        let mut current = BTreeMap::new();
        let mut verifiers = BTreeMap::new();
        let mut published = Vec::new();
        let signers = signing_kids(records, now);
        for r in records {
            if r.state == KeyState::Revoked {
                continue;
            }
            let key = r.open(keyring)?;
            if r.is_published(now) {
                published.push(r.public_jwk.clone());
                let parsed = key.public.parse_for(r.alg.as_str()).ok_or_else(|| key_err("its public key does not parse"))?;
                verifiers.insert(r.kid.clone(), Verifier { alg: r.alg, parsed });
            }
            if signers.get(&r.alg).is_some_and(|s| s.kid == r.kid) {
                current.insert(r.alg, Arc::new(key));
            }
        }
        let change_at = records
            .iter()
            .filter(|r| r.state == KeyState::Current && signers.get(&r.alg).is_some_and(|s| s.kid != r.kid))
            .map(|r| r.created_at + SIGNING_LEAD)
            .min();
        let jwks = json!({ "keys": published }).to_string();
        Ok(Self { current, change_at, verifiers, jwks, fingerprint: Self::fingerprint_of(records, now) })
    }

    /// When this set's signers change by the passing of time alone (a young `current` key
    /// comes of age); the holder reloads then.
    pub fn change_at(&self) -> Option<i64> {
        self.change_at
    }

    /// What the set built from `records` at `now` would be, without decrypting anything: a
    /// reload compares this first and only opens keys when it differs.
    pub fn fingerprint_of(records: &[SigningKeyRecord], now: i64) -> Vec<(String, &'static str, bool)> {
        let mut f: Vec<_> = records.iter().map(|r| (r.kid.clone(), r.state.as_str(), r.is_published(now))).collect();
        f.extend(signing_kids(records, now).into_values().map(|r| (r.kid.clone(), "signs", true)));
        f.sort();
        f
    }

    pub fn fingerprint(&self) -> &[(String, &'static str, bool)] {
        &self.fingerprint
    }

    /// The key that signs for `alg` (see [`SIGNING_LEAD`]); `None` means the deployment has no usable key for it,
    /// and issuance must fail closed.
    pub fn signer(&self, alg: SigningAlg) -> Option<Arc<SigningKey>> {
        self.current.get(&alg).cloned()
    }

    /// The published key named by `kid`, for verifying our own tokens.
    pub fn verifier(&self, kid: &str) -> Option<&Verifier> {
        self.verifiers.get(kid)
    }

    pub fn algorithms(&self) -> impl Iterator<Item = SigningAlg> + '_ {
        self.current.keys().copied()
    }

    /// `{"keys": [...]}`, ready to serve.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::tokens::jose::Jws;

    #[test]
    fn keyset_publishes_current_next_and_unexpired_retired_only() {
        let kr = Keyring::new(&MasterKey::generate());
        let now = 1_000_000;
        let mut records = vec![
            SigningKeyRecord::generate(SigningAlg::ES256, KeyState::Current, &kr, now - 1000).unwrap(),
            SigningKeyRecord::generate(SigningAlg::ES256, KeyState::Next, &kr, now - 1000).unwrap(),
            SigningKeyRecord::generate(SigningAlg::ES256, KeyState::Retired, &kr, now - 1000).unwrap(),
            SigningKeyRecord::generate(SigningAlg::ES256, KeyState::Retired, &kr, now - 1000).unwrap(),
            SigningKeyRecord::generate(SigningAlg::ES256, KeyState::Revoked, &kr, now - 1000).unwrap(),
        ];
        records[2].publish_until = Some(now + 10);
        records[3].publish_until = Some(now - 1);
        let set = KeySet::load(&records, &kr, now).unwrap();
        let jwks: Value = serde_json::from_str(set.jwks_json()).unwrap();
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, vec![records[0].kid.as_str(), records[1].kid.as_str(), records[2].kid.as_str()]);
        assert_eq!(set.signer(SigningAlg::ES256).unwrap().kid(), records[0].kid);
        assert!(set.signer(SigningAlg::RS256).is_none());
        for k in jwks["keys"].as_array().unwrap() {
            assert!(k.get("d").is_none());
        }
    }

    /// Two rotations in a row promote a key stored a moment ago: the key retired by the
    /// second rotation, which every node has published for long, keeps signing until the
    /// new one is [`SIGNING_LEAD`] old; a fresh deployment's only key signs at once.
    #[test]
    fn a_young_current_key_signs_only_when_every_node_has_had_time_to_load_it() {
        let kr = Keyring::new(&MasterKey::generate());
        let now = 1_000_000;
        let gen = |state, created| SigningKeyRecord::generate(SigningAlg::ES256, state, &kr, created).unwrap();
        let mut old = gen(KeyState::Retired, now - 1000);
        old.retired_at = Some(now - 1);
        old.publish_until = Some(now + 90_000);
        let mut older = gen(KeyState::Retired, now - 5000);
        older.retired_at = Some(now - 2);
        older.publish_until = Some(now + 90_000);
        let young = gen(KeyState::Current, now - 1);
        let records = vec![older, old.clone(), young.clone(), gen(KeyState::Next, now - 1)];
        let set = KeySet::load(&records, &kr, now).unwrap();
        assert_eq!(set.signer(SigningAlg::ES256).unwrap().kid(), old.kid, "the most recently retired key signs");
        assert_eq!(set.change_at(), Some(now - 1 + SIGNING_LEAD));
        assert!(set.verifier(&young.kid).is_some(), "the young key is published meanwhile");
        let later = now - 1 + SIGNING_LEAD;
        assert_ne!(KeySet::fingerprint_of(&records, later), set.fingerprint(), "coming of age is a change");
        let set = KeySet::load(&records, &kr, later).unwrap();
        assert_eq!(set.signer(SigningAlg::ES256).unwrap().kid(), young.kid);
        assert_eq!(set.change_at(), None);

        let fresh = vec![gen(KeyState::Current, now), gen(KeyState::Next, now)];
        let set = KeySet::load(&fresh, &kr, now).unwrap();
        assert_eq!(set.signer(SigningAlg::ES256).unwrap().kid(), fresh[0].kid, "nothing else could sign");

        // Rotated twice right after the first start: nothing is old enough; the first key,
        // which every node loaded at its start, signs.
        let mut first = gen(KeyState::Retired, now);
        first.retired_at = Some(now + 1);
        first.publish_until = Some(now + 90_000);
        let mut second = gen(KeyState::Retired, now);
        second.retired_at = Some(now + 2);
        second.publish_until = Some(now + 90_000);
        let third = gen(KeyState::Current, now + 1);
        let records = vec![second, first.clone(), third, gen(KeyState::Next, now + 2)];
        let set = KeySet::load(&records, &kr, now + 2).unwrap();
        assert_eq!(set.signer(SigningAlg::ES256).unwrap().kid(), first.kid);
    }

    #[test]
    fn a_wrong_master_key_fails_closed() {
        let kr = Keyring::new(&MasterKey::generate());
        let rec = SigningKeyRecord::generate(SigningAlg::EdDSA, KeyState::Current, &kr, 0).unwrap();
        let other = Keyring::new(&MasterKey::generate());
        assert!(KeySet::load(std::slice::from_ref(&rec), &other, 0).is_err());
        assert!(KeySet::load(&[rec], &kr, 0).is_ok());
    }

    /// What a deployment of the ring-based build (up to 40a88eb) stored, made by that build
    /// (its keyring, ring's Ed25519 and P-256 keys, the rsa crate's RSA key): an upgraded
    /// server must still match its hashes, open its sealed values and sign with its keys,
    /// under the same `kid`s.
    #[test]
    fn state_written_by_the_ring_build_still_reads() {
        let old: Value = serde_json::from_str(include_str!("testdata/ring_build_state.json")).unwrap();
        let s = |v: &Value| v.as_str().unwrap().to_string();
        let kr = Keyring::new(&MasterKey::from_base64(old["master_key"].as_str().unwrap()).unwrap());
        assert_eq!(kr.hash_handle("a handle"), s(&old["hash_handle"]));
        assert_eq!(kr.hash_secret("s3cret"), s(&old["hash_secret"]));
        assert!(kr.verify_secret("s3cret", &s(&old["hash_secret"])));
        assert_eq!(b64url(&kr.mac(b"data")), s(&old["mac"]));
        assert_eq!(kr.decrypt("a context", &s(&old["sealed"])).unwrap(), b"sealed by the previous build");
        assert!(kr.verify_check_value(&s(&old["check_value"])));

        let mut records = Vec::new();
        for k in old["keys"].as_array().unwrap() {
            let alg = SigningAlg::parse(k["alg"].as_str().unwrap()).unwrap();
            let rec = SigningKeyRecord {
                kid: s(&k["kid"]),
                alg,
                state: KeyState::Current,
                public_jwk: k["public_jwk"].clone(),
                private_key: s(&k["private_key"]),
                created_at: 1_700_000_000,
                activated_at: Some(1_700_000_000),
                retired_at: None,
                publish_until: None,
            };
            let key = rec.open(&kr).unwrap_or_else(|e| panic!("{alg:?} key of the ring build: {e:?}"));
            assert_eq!(key.kid(), rec.kid, "{alg:?}: the same key, the same thumbprint");
            let token = key.sign_jwt("JWT", &json!({"sub": "upgrade"}));
            let public = PublicKey::from_jwk(&rec.public_jwk).unwrap();
            assert!(Jws::parse(&token).unwrap().verify_with(&public), "{alg:?}: verifies with the published key");
            records.push(rec);
        }
        let set = KeySet::load(&records, &kr, 1_700_000_000).unwrap();
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            assert!(set.signer(alg).is_some(), "{alg:?} signs after the upgrade");
        }
    }
}
