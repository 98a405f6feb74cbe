//! JOSE: compact JWS (RFC 7515), JWK public keys (RFC 7517/7518), thumbprints (RFC 7638).
//!
//! Verification keys always come from a registered JWK Set or a DPoP proof's `jwk` header,
//! never from `jku`/`x5u`. Algorithms are an allow-list matched to the key type
//! (RSA → RS256/PS256, EC P-256 → ES256, OKP Ed25519 → EdDSA); `none` never verifies.

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use serde_json::{Map, Value};

use crate::crypto::{b64url, b64url_decode, sha256};

/// A parsed public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed SEC1 point `0x04 || x || y` on P-256.
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
}

/// Members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    jwk.get(name)
        .and_then(Value::as_str)
        .and_then(b64url_decode)
        .ok_or_else(|| format!("JWK member {name:?} is missing or not base64url"))
}

impl PublicKey {
    /// Parses a public JWK, refusing private members and symmetric keys.
    pub fn from_jwk(jwk: &Value) -> Result<Self, String> {
        let obj = jwk.as_object().ok_or("JWK must be a JSON object")?;
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(format!("JWK contains the private member {m:?}"));
        }
        match obj.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let n = member(obj, "n")?;
                let e = member(obj, "e")?;
                if n.len() < 256 {
                    return Err("RSA keys must be at least 2048 bits".into());
                }
                Ok(Self::Rsa { n, e })
            }
            Some("EC") => {
                if obj.get("crv").and_then(Value::as_str) != Some("P-256") {
                    return Err("EC keys must use curve P-256".into());
                }
                let (x, y) = (member(obj, "x")?, member(obj, "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err("P-256 coordinates must be 32 bytes".into());
                }
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(Self::P256(point))
            }
            Some("OKP") => {
                if obj.get("crv").and_then(Value::as_str) != Some("Ed25519") {
                    return Err("OKP keys must use curve Ed25519".into());
                }
                let x = member(obj, "x")?;
                if x.len() != 32 {
                    return Err("Ed25519 public keys must be 32 bytes".into());
                }
                Ok(Self::Ed25519(x))
            }
            Some("oct") => Err("symmetric (oct) keys are not accepted in a JWK Set".into()),
            _ => Err("JWK kty must be RSA, EC or OKP".into()),
        }
    }

    /// The public JWK with only the required members (RFC 7638 §3.2 order is applied by
    /// [`PublicKey::thumbprint`]).
    pub fn to_jwk(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            Self::Rsa { n, e } => {
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64url(n).into());
                m.insert("e".into(), b64url(e).into());
            }
            Self::P256(point) => {
                m.insert("kty".into(), "EC".into());
                m.insert("crv".into(), "P-256".into());
                m.insert("x".into(), b64url(&point[1..33]).into());
                m.insert("y".into(), b64url(&point[33..65]).into());
            }
            Self::Ed25519(x) => {
                m.insert("kty".into(), "OKP".into());
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), b64url(x).into());
            }
        }
        m
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url): the required members in lexicographic
    /// order, no whitespace.
    pub fn thumbprint(&self) -> String {
        let canonical = match self {
            Self::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(e), b64url(n)),
            Self::P256(p) => format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, b64url(&p[1..33]), b64url(&p[33..65])),
            Self::Ed25519(x) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64url(x)),
        };
        b64url(&sha256(canonical.as_bytes()))
    }

    /// Whether `alg` is allowed for this key type.
    pub fn allows_alg(&self, alg: &str) -> bool {
        matches!(
            (self, alg),
            (Self::Rsa { .. }, "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512")
                | (Self::P256(_), "ES256")
                | (Self::Ed25519(_), "EdDSA" | "Ed25519")
        )
    }

    /// Verifies a JWS signature; `false` for any algorithm not allowed for the key type.
    /// Parses the key for this one call: a key that verifies many signatures is parsed once
    /// with [`PublicKey::parse_for`] instead.
    pub fn verify(&self, alg: &str, signing_input: &[u8], sig: &[u8]) -> bool {
        if !self.allows_alg(alg) {
            return false;
        }
        match self {
            Self::Rsa { n, e } => {
                let Some(params) = rsa_params(alg) else { return false };
                signature::RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }.verify(params, signing_input, sig).is_ok()
            }
            Self::P256(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(signing_input, sig).is_ok()
            }
            Self::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x).verify(signing_input, sig).is_ok(),
        }
    }

    /// The key parsed once for verifying signatures of `alg`: building an RSA key from its
    /// components (and its Montgomery constants) costs about as much as the verification
    /// itself, so keys that verify on the hot path (Tessera's own, for token exchange,
    /// introspection and userinfo) are kept parsed. `None` if `alg` does not fit the key.
    pub fn parse_for(&self, alg: &str) -> Option<signature::ParsedPublicKey> {
        if !self.allows_alg(alg) {
            return None;
        }
        match self {
            Self::Rsa { n, e } => {
                let params = rsa_params(alg)?;
                signature::RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }.to_parsed_public_key(params).ok()
            }
            Self::P256(point) => signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).ok(),
            Self::Ed25519(x) => signature::ParsedPublicKey::new(&signature::ED25519, x).ok(),
        }
    }
}

/// RFC 7518 §3.3 (RS*) and §3.5 (PS*): the RSA verification parameters of `alg`.
fn rsa_params(alg: &str) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
        "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// One key of a client's registered JWK Set.
#[derive(Debug, Clone)]
pub struct ClientKey {
    pub kid: Option<String>,
    pub alg: Option<String>,
    pub key: PublicKey,
}

/// Parses a client's `jwks` document (`{"keys": [...]}`); every key must be a valid public
/// signing key.
pub fn parse_client_jwks(jwks: &Value) -> Result<Vec<ClientKey>, String> {
    let keys = jwks.get("keys").and_then(Value::as_array).ok_or("jwks must be an object with a \"keys\" array")?;
    keys.iter()
        .map(|k| {
            // RFC 7517 §4.2: `use` is a string, here "sig"; any other value (a number, a
            // list, "enc") marks a key that must not verify signatures.
            if k.get("use").is_some_and(|u| u != "sig") {
                return Err("jwks keys must be signing keys (use \"sig\")".to_string());
            }
            Ok(ClientKey {
                kid: k.get("kid").and_then(Value::as_str).map(str::to_string),
                alg: k.get("alg").and_then(Value::as_str).map(str::to_string),
                key: PublicKey::from_jwk(k)?,
            })
        })
        .collect()
}

/// A compact JWS split into its parts; nothing is trusted until [`Jws::verify_with`].
#[derive(Debug, Clone)]
pub struct Jws {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jws {
    /// Splits and decodes a compact JWS with a JSON object payload. Refuses JWE (5 parts),
    /// unsecured JWTs and malformed encodings.
    pub fn parse(token: &str) -> Result<Self, String> {
        if token.len() > 16 * 1024 {
            return Err("JWT is too large".into());
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("not a compact JWS (three base64url parts)".into());
        };
        let decode_obj = |part: &str, what: &str| -> Result<Map<String, Value>, String> {
            let bytes = b64url_decode(part).ok_or_else(|| format!("JWT {what} is not base64url"))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(format!("JWT {what} is not a JSON object")),
            }
        };
        let header = decode_obj(h, "header")?;
        let claims = decode_obj(p, "payload")?;
        let signature = b64url_decode(s).ok_or("JWT signature is not base64url")?;
        if signature.is_empty() {
            return Err("JWT is unsigned".into());
        }
        if header.contains_key("crit") {
            return Err("JWT header uses crit, which is not supported".into());
        }
        Ok(Self { header, claims, signing_input: format!("{h}.{p}"), signature })
    }

    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// Verifies with a key parsed once for `alg`: the header must name exactly that algorithm.
    pub fn verify_parsed(&self, alg: &str, key: &signature::ParsedPublicKey) -> bool {
        self.alg() == Some(alg) && key.verify_sig(self.signing_input.as_bytes(), &self.signature).is_ok()
    }

    pub fn verify_with(&self, key: &PublicKey) -> bool {
        match self.alg() {
            Some(alg) => key.verify(alg, self.signing_input.as_bytes(), &self.signature),
            None => false,
        }
    }

    /// HS256 with a shared secret (`client_secret_jwt`, RFC 7523 §2.2), constant time.
    pub fn verify_hs256(&self, secret: &[u8]) -> bool {
        if self.alg() != Some("HS256") {
            return false;
        }
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        aws_lc_rs::hmac::verify(&key, self.signing_input.as_bytes(), &self.signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SigningAlg;
    use crate::tokens::keys::SigningKey;

    #[test]
    fn signatures_round_trip_for_every_algorithm() {
        for alg in SigningAlg::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let token = key.sign_jwt("JWT", &serde_json::json!({"sub": "x"}));
            let jws = Jws::parse(&token).unwrap();
            assert_eq!(jws.alg(), Some(alg.as_str()));
            assert_eq!(jws.kid(), Some(key.kid()));
            let public = PublicKey::from_jwk(&Value::Object(key.public_jwk())).unwrap();
            assert!(jws.verify_with(&public), "{alg}");
            assert_eq!(public.thumbprint(), key.kid());
            // A signature does not verify under another key of the same type.
            let other = SigningKey::generate(alg).unwrap();
            let other_pub = PublicKey::from_jwk(&Value::Object(other.public_jwk())).unwrap();
            assert!(!jws.verify_with(&other_pub), "{alg}");
        }
    }

    #[test]
    fn alg_must_match_key_type() {
        let key = SigningKey::generate(SigningAlg::ES256).unwrap();
        let public = PublicKey::from_jwk(&Value::Object(key.public_jwk())).unwrap();
        assert!(public.allows_alg("ES256"));
        for bad in ["none", "HS256", "RS256", "EdDSA", ""] {
            assert!(!public.allows_alg(bad), "{bad}");
        }
    }

    #[test]
    fn jwk_parsing_refuses_private_and_symmetric_keys() {
        let ok = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(&[7u8; 32])});
        assert!(PublicKey::from_jwk(&ok).is_ok());
        let mut private = ok.clone();
        private["d"] = b64url(&[1u8; 32]).into();
        assert!(PublicKey::from_jwk(&private).unwrap_err().contains("private"));
        assert!(PublicKey::from_jwk(&serde_json::json!({"kty": "oct", "k": "AAAA"})).is_err());
        assert!(PublicKey::from_jwk(&serde_json::json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"})).is_err());
    }

    /// Regression (issue 22, found by the `jwk` fuzz target): a `use` that was not a string
    /// (`"use": 5`) was taken as no `use` at all, so the key was registered for signatures.
    #[test]
    fn jwks_use_must_be_the_string_sig() {
        let key = |u: Value| serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64url(&[7u8; 32]), "use": u}]});
        assert!(parse_client_jwks(&key("sig".into())).is_ok());
        for bad in [Value::from(5), Value::from("enc"), serde_json::json!(["sig"]), Value::Null, Value::from("SIG")] {
            assert!(parse_client_jwks(&key(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1's example RSA key and its thumbprint.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let key = PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn parse_refuses_malformed_tokens() {
        for bad in ["", "a.b", "a.b.c.d", "a.b.c.d.e", "!!.!!.!!", "e30.e30.", "W10.e30.AA"] {
            assert!(Jws::parse(bad).is_err(), "{bad}");
        }
    }
}
