//! Public keys given as PEM (RFC 7468): a SubjectPublicKeyInfo (`PUBLIC KEY`, RFC 5280
//! §4.1.2.7), a PKCS #1 `RSA PUBLIC KEY` (RFC 8017 §A.1.1) or an X.509 `CERTIFICATE` (RFC
//! 5280 §4.1), the inputs Auth0 takes for a client credential's `pem`. The DER inside is
//! decoded by RustCrypto's `spki`, `pkcs1` and `x509-cert`; the key that comes out is
//! re-checked by [`PublicKey::from_jwk`], so the same size and curve rules hold as for a JWK.
//!
//! A certificate is not validated as a chain: Auth0 uses it as a container for the key
//! (and optionally its `notAfter` as the credential's expiry).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use serde_json::Value;
use spki::SubjectPublicKeyInfoRef;

use super::jose::PublicKey;

/// A key read from PEM, with the certificate's `notAfter` when it came in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemKey {
    pub key: PublicKey,
    pub not_after: Option<i64>,
}

/// RFC 3279 §2.3.1 rsaEncryption.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// RFC 5480 §2.1.1 id-ecPublicKey.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// RFC 5480 §2.1.1.1 secp256r1 (P-256).
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// RFC 8410 §3 id-Ed25519.
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Parses one PEM block holding a public key or a certificate.
pub fn parse_public_pem(pem: &str) -> Result<PemKey, String> {
    let (label, der) = decode_pem(pem)?;
    let (key, not_after) = match label.as_str() {
        "PUBLIC KEY" => (spki(&der)?, None),
        "RSA PUBLIC KEY" => (rsa_public_key(&der)?, None),
        "CERTIFICATE" => {
            let (key, not_after) = certificate(&der)?;
            (key, Some(not_after))
        }
        l if l.contains("PRIVATE KEY") => return Err("pem holds a private key; send the public key or a certificate".into()),
        l => return Err(format!("pem must be a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE, not {l:?}")),
    };
    // The same rules as a registered JWK (RSA at least 2048 bits, P-256 point sizes).
    let key = PublicKey::from_jwk(&Value::Object(key.to_jwk()))?;
    Ok(PemKey { key, not_after })
}

/// RFC 7468 §2: `-----BEGIN label-----`, base64 lines, `-----END label-----`; exactly one
/// block. Whitespace inside the body is skipped (§3's lax parsing: keys pasted into JSON
/// lose or change their line breaks).
fn decode_pem(pem: &str) -> Result<(String, Vec<u8>), String> {
    let pem = pem.trim();
    let begin = pem.strip_prefix("-----BEGIN ").ok_or("pem must start with a -----BEGIN ...----- line")?;
    let (label, rest) = begin.split_once("-----").ok_or("malformed pem BEGIN line")?;
    let end = format!("-----END {label}-----");
    let (body, after) = rest.split_once(&end).ok_or_else(|| format!("pem has no {end} line"))?;
    if !after.trim().is_empty() {
        return Err("pem must hold exactly one block".into());
    }
    let b64: String = body.split_whitespace().collect();
    let der = STANDARD.decode(b64.as_bytes()).map_err(|_| "pem body is not base64")?;
    Ok((label.to_string(), der))
}

fn malformed(what: &str) -> impl Fn(der::Error) -> String + '_ {
    move |e| format!("pem: malformed {what} ({e})")
}

/// RFC 8017 §A.1.1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key(der: &[u8]) -> Result<PublicKey, String> {
    let key = pkcs1::RsaPublicKey::from_der(der).map_err(malformed("RSAPublicKey"))?;
    Ok(PublicKey::Rsa { n: key.modulus.as_bytes().to_vec(), e: key.public_exponent.as_bytes().to_vec() })
}

/// RFC 5280 §4.1.2.7 `SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
/// subjectPublicKey BIT STRING }`, for RSA (RFC 3279 §2.3.1), P-256 (RFC 5480 §2) and
/// Ed25519 (RFC 8410 §4).
fn spki(der: &[u8]) -> Result<PublicKey, String> {
    let info = SubjectPublicKeyInfoRef::from_der(der).map_err(malformed("SubjectPublicKeyInfo"))?;
    let key = info.subject_public_key.as_bytes().ok_or("pem: subjectPublicKey has unused bits")?;
    match info.algorithm.oid {
        RSA_ENCRYPTION => rsa_public_key(key),
        EC_PUBLIC_KEY => {
            // RFC 5480 §2.1.1: the parameters name the curve.
            let curve = info
                .algorithm
                .parameters
                .ok_or("pem: the EC key names no curve")?
                .decode_as::<ObjectIdentifier>()
                .map_err(malformed("EC curve"))?;
            if curve != PRIME256V1 {
                return Err("EC keys must use curve P-256".into());
            }
            // RFC 5480 §2.2: uncompressed points only (0x04 || x || y).
            if key.len() != 65 || key[0] != 4 {
                return Err("P-256 keys must be uncompressed points".into());
            }
            Ok(PublicKey::P256(key.to_vec()))
        }
        ED25519 => Ok(PublicKey::Ed25519(key.to_vec())),
        _ => Err("pem key must be RSA, EC P-256 or Ed25519".into()),
    }
}

/// RFC 5280 §4.1: the subject public key and `notAfter` (§4.1.2.5) of a certificate.
fn certificate(der: &[u8]) -> Result<(PublicKey, i64), String> {
    let cert = x509_cert::Certificate::from_der(der).map_err(malformed("certificate"))?;
    let tbs = &cert.tbs_certificate;
    let info = tbs.subject_public_key_info.to_der().map_err(malformed("certificate key"))?;
    let not_after = tbs.validity.not_after.to_unix_duration().as_secs();
    Ok((spki(&info)?, i64::try_from(not_after).map_err(|_| "pem: certificate notAfter is out of range")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, der: &[u8]) -> String {
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", STANDARD.encode(der))
    }

    #[test]
    fn refuses_private_keys_garbage_and_two_blocks() {
        assert!(parse_public_pem(&pem("PRIVATE KEY", &[0x30, 0])).unwrap_err().contains("private key"));
        assert!(parse_public_pem("not a pem").is_err());
        assert!(parse_public_pem(&pem("PUBLIC KEY", &[0x30, 0x05, 0x01])).is_err());
        let two = format!("{}{}", pem("PUBLIC KEY", &[0x30, 0]), pem("PUBLIC KEY", &[0x30, 0]));
        assert!(parse_public_pem(&two).unwrap_err().contains("exactly one"));
        assert!(parse_public_pem("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----").is_err());
    }

    #[test]
    fn a_small_rsa_key_is_refused_like_a_jwk() {
        // SEQUENCE { INTEGER n (1024 bits), INTEGER 65537 } inside an SPKI.
        let mut n = vec![0x00, 0xC0];
        n.extend(std::iter::repeat_n(0x11, 127));
        let mut rsa = vec![0x02, 0x81, n.len() as u8];
        rsa.extend(&n);
        rsa.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        let mut seq = vec![0x30, 0x81, rsa.len() as u8];
        seq.extend(&rsa);
        assert!(parse_public_pem(&pem("RSA PUBLIC KEY", &seq)).unwrap_err().contains("2048"));
    }
}
