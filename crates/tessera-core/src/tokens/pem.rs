//! Public keys given as PEM (RFC 7468): a SubjectPublicKeyInfo (`PUBLIC KEY`, RFC 5280
//! §4.1.2.7), a PKCS #1 `RSA PUBLIC KEY` (RFC 8017 §A.1.1) or an X.509 `CERTIFICATE` (RFC
//! 5280 §4.1), the inputs Auth0 takes for a client credential's `pem`. Only the DER this
//! needs is read (a TLV walker, no general ASN.1); the key that comes out is re-checked by
//! [`PublicKey::from_jwk`], so the same size and curve rules hold as for a JWK.
//!
//! A certificate is not validated as a chain: Auth0 uses it as a container for the key
//! (and optionally its `notAfter` as the credential's expiry).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use super::jose::PublicKey;

/// A key read from PEM, with the certificate's `notAfter` when it came in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemKey {
    pub key: PublicKey,
    pub not_after: Option<i64>,
}

// DER encodings of the object identifiers read here.
const RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]; // 1.2.840.113549.1.1.1
const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]; // 1.2.840.10045.2.1
const PRIME256V1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]; // 1.2.840.10045.3.1.7
const ED25519: &[u8] = &[0x2B, 0x65, 0x70]; // 1.3.101.112

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

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

/// RFC 7468 §2: `-----BEGIN label-----`, base64 lines, `-----END label-----`; exactly one block.
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

/// One DER TLV: (tag, contents, what follows). Definite lengths only (X.690 §10.1).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "malformed DER in pem".to_string();
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// The contents of a TLV that must carry `tag`, and what follows it.
fn take<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    match tlv(input)? {
        (t, body, rest) if t == tag => Ok((body, rest)),
        _ => Err(format!("pem: expected {what}")),
    }
}

/// An unsigned big-endian INTEGER without its sign-padding zero bytes.
fn unsigned(body: &[u8]) -> Vec<u8> {
    let start = body.iter().position(|b| *b != 0).unwrap_or(body.len());
    body[start..].to_vec()
}

/// RFC 8017 §A.1.1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key(der: &[u8]) -> Result<PublicKey, String> {
    let (seq, _) = take(der, SEQUENCE, "an RSAPublicKey SEQUENCE")?;
    let (n, rest) = take(seq, INTEGER, "the RSA modulus")?;
    let (e, _) = take(rest, INTEGER, "the RSA public exponent")?;
    Ok(PublicKey::Rsa { n: unsigned(n), e: unsigned(e) })
}

/// RFC 5280 §4.1.2.7 `SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
/// subjectPublicKey BIT STRING }`, for RSA (RFC 3279 §2.3.1), P-256 (RFC 5480 §2) and
/// Ed25519 (RFC 8410 §4).
fn spki(der: &[u8]) -> Result<PublicKey, String> {
    let (seq, _) = take(der, SEQUENCE, "a SubjectPublicKeyInfo SEQUENCE")?;
    let (alg, rest) = take(seq, SEQUENCE, "an AlgorithmIdentifier")?;
    let (bits, _) = take(rest, BIT_STRING, "the subjectPublicKey BIT STRING")?;
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err("pem: subjectPublicKey has unused bits".into()),
    };
    let (oid, params) = take(alg, OID, "the key algorithm OID")?;
    match oid {
        RSA_ENCRYPTION => rsa_public_key(key),
        EC_PUBLIC_KEY => {
            let (curve, _) = take(params, OID, "the EC curve OID")?;
            if curve != PRIME256V1 {
                return Err("EC keys must use curve P-256".into());
            }
            if key.len() != 65 || key[0] != 4 {
                return Err("P-256 keys must be uncompressed points".into());
            }
            Ok(PublicKey::P256(key.to_vec()))
        }
        ED25519 => Ok(PublicKey::Ed25519(key.to_vec())),
        _ => Err("pem key must be RSA, EC P-256 or Ed25519".into()),
    }
}

/// RFC 5280 §4.1: the key and `notAfter` of `Certificate ::= SEQUENCE { tbsCertificate,
/// ... }`, `TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
/// issuer, validity, subject, subjectPublicKeyInfo, ... }`.
fn certificate(der: &[u8]) -> Result<(PublicKey, i64), String> {
    let (cert, _) = take(der, SEQUENCE, "a Certificate SEQUENCE")?;
    let (tbs, _) = take(cert, SEQUENCE, "a TBSCertificate SEQUENCE")?;
    let mut rest = tbs;
    // [0] EXPLICIT version, absent for v1 certificates.
    if rest.first() == Some(&0xA0) {
        rest = tlv(rest)?.2;
    }
    let (_, after_serial) = take(rest, INTEGER, "the certificate serial number")?;
    let (_, after_sig) = take(after_serial, SEQUENCE, "the certificate signature algorithm")?;
    let (_, after_issuer) = take(after_sig, SEQUENCE, "the certificate issuer")?;
    let (validity, after_validity) = take(after_issuer, SEQUENCE, "the certificate validity")?;
    let (_, after_subject) = take(after_validity, SEQUENCE, "the certificate subject")?;
    let (_, _, spki_end) = tlv(after_subject)?;
    let spki_der = &after_subject[..after_subject.len() - spki_end.len()];
    let key = spki(spki_der)?;
    let (_, _, not_after) = tlv(validity)?;
    let (tag, time, _) = tlv(not_after)?;
    Ok((key, x509_time(tag, time)?))
}

/// RFC 5280 §4.1.2.5: UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) or GeneralizedTime
/// `YYYYMMDDHHMMSSZ`.
fn x509_time(tag: u8, body: &[u8]) -> Result<i64, String> {
    let bad = || "pem: malformed certificate validity time".to_string();
    let text = std::str::from_utf8(body).map_err(|_| bad())?;
    let digits = text.strip_suffix('Z').ok_or_else(bad)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad);
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = n(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (n(0..4)?, 4),
        _ => return Err(bad()),
    };
    crate::model::unix_from_civil(
        year,
        n(rest..rest + 2)?,
        n(rest + 2..rest + 4)?,
        n(rest + 4..rest + 6)?,
        n(rest + 6..rest + 8)?,
        n(rest + 8..rest + 10)?,
    )
    .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, der: &[u8]) -> String {
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", STANDARD.encode(der))
    }

    #[test]
    fn x509_times() {
        assert_eq!(x509_time(UTC_TIME, b"000229000000Z"), Ok(951_782_400));
        assert_eq!(x509_time(UTC_TIME, b"991231235959Z"), Ok(946_684_799));
        assert_eq!(x509_time(GENERALIZED_TIME, b"20000229000000Z"), Ok(951_782_400));
        for bad in [&b"000229000000"[..], b"0002290000Z", b"20000229000000Z", b"0002300000 0Z"] {
            assert!(x509_time(UTC_TIME, bad).is_err(), "{bad:?}");
        }
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
