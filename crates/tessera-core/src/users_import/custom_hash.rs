//! Password hashes brought in by a user import (Auth0 "Bulk User Import Database Schema and
//! Examples": `password_hash` and `custom_password_hash`), kept with an algorithm tag until
//! the user's next login verifies one and replaces it with Argon2id.
//!
//! What is accepted, as Auth0 documents it:
//! - `password_hash`: a bcrypt hash (`$2a$`, `$2b$`, `$2y$`).
//! - `bcrypt`: `hash.value` a bcrypt hash, `hash.encoding` `utf8`; no salt (it is inside).
//! - `argon2`: `hash.value` a PHC string (`$argon2i$` / `$argon2id$` / `$argon2d$`), `utf8`,
//!   no separate salt.
//! - `pbkdf2`: `hash.value` a PHC string `$pbkdf2-<digest>$i=<iterations>,l=<key length>$<B64
//!   salt>$<B64 hash>` (digest `sha256` or `sha512`), `utf8`, no separate salt.
//! - `sha256` / `sha512`: `hash.value` the digest in `hex` or `base64` (`hash.encoding`), an
//!   optional `salt{value, encoding (utf8|hex|base64), position (prefix|suffix)}` joined to the
//!   password before digesting, and `password.encoding` (`utf8` default, `ascii`, `latin1`,
//!   `binary`, `utf16le`, `ucs2`).
//!
//! The stored form is `imported:` followed by the JSON of [`ImportedHash`]; Tessera's own
//! hashes are Argon2id PHC strings, which never start so.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

/// The tag that marks a stored hash as imported (and so due for an upgrade at login).
pub const IMPORTED_PREFIX: &str = "imported:";

/// bcrypt costs above this would let one import make every login of its users a denial of
/// service; Auth0's own default is 10.
const MAX_BCRYPT_COST: u32 = 16;
/// PBKDF2 iterations above this are refused for the same reason (OWASP's recommendation
/// for PBKDF2-HMAC-SHA256 is 600 000).
const MAX_PBKDF2_ITERATIONS: u32 = 5_000_000;
/// Argon2 memory above this (KiB) is refused, as Tessera's verifier refuses it.
const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;

/// How a password's characters become the bytes that were hashed (Node's encodings, as
/// Auth0 names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordEncoding {
    Utf8,
    Ascii,
    Latin1,
    Binary,
    Utf16le,
    Ucs2,
}

impl PasswordEncoding {
    fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }

    /// The password's bytes, or `None` when it cannot be written in this encoding (then it
    /// cannot be the password that was hashed).
    fn encode(self, password: &str) -> Option<Vec<u8>> {
        match self {
            Self::Utf8 => Some(password.as_bytes().to_vec()),
            Self::Ascii => password.is_ascii().then(|| password.as_bytes().to_vec()),
            // Node's latin1 and binary are one byte per UTF-16 code unit below 256.
            Self::Latin1 | Self::Binary => password.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect(),
            Self::Utf16le | Self::Ucs2 => Some(password.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        }
    }
}

/// Where a salt goes relative to the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaltPosition {
    Prefix,
    Suffix,
}

/// A plain digest's salt, decoded (kept as hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Salt {
    pub hex: String,
    pub position: SaltPosition,
}

/// An imported hash, normalised: PHC and bcrypt strings as given, digests and salts as hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "lowercase")]
pub enum ImportedHash {
    Bcrypt { value: String },
    Argon2 { value: String },
    Pbkdf2 { value: String },
    Sha256 { hex: String, salt: Option<Salt>, password_encoding: PasswordEncoding },
    Sha512 { hex: String, salt: Option<Salt>, password_encoding: PasswordEncoding },
}

/// Why an imported hash was refused: a message and the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashError {
    pub path: String,
    pub message: String,
}

fn err(path: &str, message: impl Into<String>) -> HashError {
    HashError { path: path.to_string(), message: message.into() }
}

/// Auth0's `custom_password_hash` object, field for field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomPasswordHash {
    algorithm: String,
    hash: HashField,
    salt: Option<SaltField>,
    password: Option<PasswordField>,
    /// scrypt's; refused with its algorithm.
    keylen: Option<Value>,
    cost: Option<Value>,
    #[serde(rename = "blockSize")]
    block_size: Option<Value>,
    parallelization: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HashField {
    value: String,
    encoding: Option<String>,
    /// hmac's digest and key; refused with their algorithm.
    digest: Option<Value>,
    key: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SaltField {
    value: String,
    encoding: Option<String>,
    position: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordField {
    encoding: Option<String>,
}

fn decode(value: &str, encoding: &str, path: &str) -> Result<Vec<u8>, HashError> {
    match encoding {
        "hex" => hex::decode(value).map_err(|_| err(path, "is not hex")),
        // Node's base64 decoder takes padded and unpadded input alike.
        "base64" => base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(value.trim_end_matches('='))
            .map_err(|_| err(path, "is not base64")),
        "utf8" => Ok(value.as_bytes().to_vec()),
        other => Err(err(path, format!("encoding {other:?} is not one of utf8, hex, base64"))),
    }
}

/// Auth0's `password_hash`: bcrypt only.
pub fn parse_password_hash(value: &str) -> Result<ImportedHash, HashError> {
    check_bcrypt(value, "password_hash")?;
    Ok(ImportedHash::Bcrypt { value: value.to_string() })
}

fn check_bcrypt(value: &str, path: &str) -> Result<(), HashError> {
    let parts: Vec<&str> = value.split('$').collect();
    let ok = matches!(parts.as_slice(), ["", v, cost, rest]
        if matches!(*v, "2a" | "2b" | "2y") && cost.len() == 2 && rest.len() == 53);
    if !ok {
        return Err(err(path, "is not a bcrypt hash ($2a$, $2b$ or $2y$, cost, 53 characters)"));
    }
    let cost: u32 = parts[2].parse().map_err(|_| err(path, "has no numeric bcrypt cost"))?;
    if !(4..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(err(path, format!("bcrypt cost must be 4 to {MAX_BCRYPT_COST}")));
    }
    Ok(())
}

fn check_argon2(value: &str, path: &str) -> Result<(), HashError> {
    let phc = argon2::password_hash::PasswordHash::new(value).map_err(|_| err(path, "is not a PHC string"))?;
    if !matches!(phc.algorithm.as_str(), "argon2i" | "argon2id" | "argon2d") {
        return Err(err(path, "is not an argon2i, argon2id or argon2d PHC string"));
    }
    let params = argon2::Params::try_from(&phc).map_err(|_| err(path, "has invalid argon2 parameters"))?;
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB {
        return Err(err(path, format!("argon2 memory above {MAX_ARGON2_MEMORY_KIB} KiB is not accepted")));
    }
    if phc.salt.is_none() || phc.hash.is_none() {
        return Err(err(path, "lacks its salt or hash"));
    }
    Ok(())
}

fn check_pbkdf2(value: &str, path: &str) -> Result<(), HashError> {
    let phc = pbkdf2::password_hash::PasswordHash::new(value).map_err(|_| err(path, "is not a PHC string"))?;
    if !matches!(phc.algorithm.as_str(), "pbkdf2-sha256" | "pbkdf2-sha512") {
        return Err(err(path, "must be $pbkdf2-sha256$ or $pbkdf2-sha512$"));
    }
    let params = pbkdf2::Params::try_from(&phc).map_err(|_| err(path, "has invalid i= / l= parameters"))?;
    if params.rounds == 0 || params.rounds > MAX_PBKDF2_ITERATIONS {
        return Err(err(path, format!("pbkdf2 iterations must be 1 to {MAX_PBKDF2_ITERATIONS}")));
    }
    match phc.hash {
        Some(h) if h.len() == params.output_length => Ok(()),
        Some(_) => Err(err(path, "hash length differs from l=")),
        None => Err(err(path, "lacks its hash")),
    }
}

/// Parses and checks Auth0's `custom_password_hash` object.
pub fn parse_custom_password_hash(v: &Value) -> Result<ImportedHash, HashError> {
    const P: &str = "custom_password_hash";
    let c: CustomPasswordHash = serde_json::from_value(v.clone()).map_err(|e| err(P, e.to_string()))?;
    let hash_encoding = c.hash.encoding.as_deref();
    if c.hash.digest.is_some() || c.hash.key.is_some() {
        return Err(err(
            "custom_password_hash.hash",
            "digest and key belong to the hmac algorithm, which Tessera does not import",
        ));
    }
    if c.keylen.is_some() || c.cost.is_some() || c.block_size.is_some() || c.parallelization.is_some() {
        return Err(err(P, "keylen, cost, blockSize and parallelization belong to scrypt, which Tessera does not import"));
    }
    let value_path = "custom_password_hash.hash.value";
    match c.algorithm.as_str() {
        "bcrypt" | "argon2" | "pbkdf2" => {
            // Auth0: for these the hash is a self-describing string: utf8, and no salt apart.
            if hash_encoding.is_some_and(|e| e != "utf8") {
                return Err(err("custom_password_hash.hash.encoding", format!("must be utf8 for {}", c.algorithm)));
            }
            if c.salt.is_some() {
                return Err(err(
                    "custom_password_hash.salt",
                    format!("is not allowed for {}: the salt is in the hash", c.algorithm),
                ));
            }
            if c.password.is_some() {
                return Err(err("custom_password_hash.password", format!("is not allowed for {}", c.algorithm)));
            }
            let value = c.hash.value.clone();
            match c.algorithm.as_str() {
                "bcrypt" => check_bcrypt(&value, value_path).map(|()| ImportedHash::Bcrypt { value }),
                "argon2" => check_argon2(&value, value_path).map(|()| ImportedHash::Argon2 { value }),
                _ => check_pbkdf2(&value, value_path).map(|()| ImportedHash::Pbkdf2 { value }),
            }
        }
        "sha256" | "sha512" => {
            let encoding = hash_encoding.unwrap_or("hex");
            if !matches!(encoding, "hex" | "base64") {
                return Err(err("custom_password_hash.hash.encoding", "must be hex or base64"));
            }
            let digest = decode(&c.hash.value, encoding, value_path)?;
            let want = if c.algorithm == "sha256" { 32 } else { 64 };
            if digest.len() != want {
                return Err(err(value_path, format!("is not a {} digest ({want} bytes)", c.algorithm)));
            }
            let salt = match c.salt {
                None => None,
                Some(s) => {
                    let bytes = decode(&s.value, s.encoding.as_deref().unwrap_or("utf8"), "custom_password_hash.salt.value")?;
                    let position = match s.position.as_deref().unwrap_or("prefix") {
                        "prefix" => SaltPosition::Prefix,
                        "suffix" => SaltPosition::Suffix,
                        _ => return Err(err("custom_password_hash.salt.position", "must be prefix or suffix")),
                    };
                    Some(Salt { hex: hex::encode(bytes), position })
                }
            };
            let password_encoding = match c.password.and_then(|p| p.encoding) {
                None => PasswordEncoding::Utf8,
                Some(e) => PasswordEncoding::parse(&e).ok_or_else(|| {
                    err("custom_password_hash.password.encoding", "must be utf8, ascii, latin1, binary, utf16le or ucs2")
                })?,
            };
            let hex = hex::encode(digest);
            Ok(if c.algorithm == "sha256" {
                ImportedHash::Sha256 { hex, salt, password_encoding }
            } else {
                ImportedHash::Sha512 { hex, salt, password_encoding }
            })
        }
        other => Err(err(
            "custom_password_hash.algorithm",
            format!("{other:?} is not imported by Tessera (bcrypt, argon2, pbkdf2, sha256, sha512)"),
        )),
    }
}

impl ImportedHash {
    /// The form kept in the user's `password_hash` column.
    pub fn to_stored(&self) -> String {
        format!("{IMPORTED_PREFIX}{}", serde_json::to_string(self).unwrap_or_default())
    }

    /// Reads the stored form back; `None` if `stored` is not an imported hash.
    pub fn from_stored(stored: &str) -> Option<Self> {
        serde_json::from_str(stored.strip_prefix(IMPORTED_PREFIX)?).ok()
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Bcrypt { .. } => "bcrypt",
            Self::Argon2 { .. } => "argon2",
            Self::Pbkdf2 { .. } => "pbkdf2",
            Self::Sha256 { .. } => "sha256",
            Self::Sha512 { .. } => "sha512",
        }
    }

    /// Whether `password` is the one that was hashed. Compares in constant time; `memory`
    /// is the caller's reusable Argon2 buffer.
    pub fn verify(&self, password: &str, memory: &mut Vec<argon2::Block>) -> bool {
        match self {
            Self::Bcrypt { value } => bcrypt::verify(password, value).unwrap_or(false),
            Self::Argon2 { value } => crate::password::verify_argon2_in(password, value, memory),
            Self::Pbkdf2 { value } => {
                use pbkdf2::password_hash::{PasswordHash, PasswordVerifier};
                PasswordHash::new(value).is_ok_and(|h| pbkdf2::Pbkdf2.verify_password(password.as_bytes(), &h).is_ok())
            }
            Self::Sha256 { hex, salt, password_encoding } => {
                salted(password, salt, *password_encoding).is_some_and(|m| digest_matches::<Sha256>(&m, hex))
            }
            Self::Sha512 { hex, salt, password_encoding } => {
                salted(password, salt, *password_encoding).is_some_and(|m| digest_matches::<Sha512>(&m, hex))
            }
        }
    }
}

/// The bytes that were digested: the encoded password with the salt before or after it.
fn salted(password: &str, salt: &Option<Salt>, encoding: PasswordEncoding) -> Option<Vec<u8>> {
    let pw = encoding.encode(password)?;
    let Some(salt) = salt else { return Some(pw) };
    let s = hex::decode(&salt.hex).ok()?;
    Some(match salt.position {
        SaltPosition::Prefix => [s, pw].concat(),
        SaltPosition::Suffix => [pw, s].concat(),
    })
}

fn digest_matches<D: Digest>(message: &[u8], expected_hex: &str) -> bool {
    let Ok(expected) = hex::decode(expected_hex) else { return false };
    crate::crypto::ct_eq(&D::digest(message), &expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(h: &ImportedHash, good: &str) {
        let mut mem = Vec::new();
        let stored = h.to_stored();
        let back = ImportedHash::from_stored(&stored).unwrap();
        assert_eq!(&back, h);
        assert!(back.verify(good, &mut mem), "{stored}");
        assert!(!back.verify("not the password", &mut mem), "{stored}");
    }

    #[test]
    fn every_algorithm_verifies_the_right_password_only() {
        let bcrypt = bcrypt::hash_with_salt("hunter22", 4, [7u8; 16]).unwrap().format_for_version(bcrypt::Version::TwoB);
        check(&parse_password_hash(&bcrypt).unwrap(), "hunter22");
        let v = json!({"algorithm": "bcrypt", "hash": {"value": bcrypt, "encoding": "utf8"}});
        check(&parse_custom_password_hash(&v).unwrap(), "hunter22");

        // sha256 of "salt" + "hunter22", hex; and sha512 with a base64 suffix salt.
        let digest = hex::encode(Sha256::digest(b"NaClhunter22"));
        let v = json!({"algorithm": "sha256", "hash": {"value": digest, "encoding": "hex"},
            "salt": {"value": "NaCl", "encoding": "utf8", "position": "prefix"}});
        check(&parse_custom_password_hash(&v).unwrap(), "hunter22");
        let salt = [1u8, 2, 3, 250];
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha512::digest([b"hunter22".as_slice(), &salt].concat()));
        let v = json!({"algorithm": "sha512", "hash": {"value": digest, "encoding": "base64"},
            "salt": {"value": base64::engine::general_purpose::STANDARD.encode(salt), "encoding": "base64", "position": "suffix"}});
        check(&parse_custom_password_hash(&v).unwrap(), "hunter22");
    }

    #[test]
    fn malformed_hashes_are_refused_with_their_path() {
        let cases = [
            (json!({"algorithm": "bcrypt", "hash": {"value": "$2b$10$short"}}), "custom_password_hash.hash.value"),
            (json!({"algorithm": "md5", "hash": {"value": "x"}}), "custom_password_hash.algorithm"),
            (json!({"algorithm": "sha256", "hash": {"value": "abcd", "encoding": "hex"}}), "custom_password_hash.hash.value"),
            (
                json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-md5$i=1,l=4$c2FsdA$aGFzaA"}}),
                "custom_password_hash.hash.value",
            ),
            (
                json!({"algorithm": "argon2", "hash": {"value": "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"}, "salt": {"value": "x"}}),
                "custom_password_hash.salt",
            ),
        ];
        for (v, path) in cases {
            assert_eq!(parse_custom_password_hash(&v).unwrap_err().path, path, "{v}");
        }
        assert!(parse_password_hash("plain").is_err());
    }
}
