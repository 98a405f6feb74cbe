//! Argon2id for user passwords (and imported low-entropy client secrets), PHC string format.
//! Parameters follow OWASP's current minimum for Argon2id (19 MiB, t=2, p=1).
//!
//! A stored hash is either Tessera's own Argon2id PHC string or one brought in by a user
//! import ([`crate::users_import::custom_hash`], tagged `imported:`). [`verify_password_in`]
//! is the one place a password is checked against either; a match against an imported hash
//! comes with its Argon2id replacement ([`Verified::rehash`]), which the login stores in
//! place of the old one (OWASP Password Storage Cheat Sheet, "Upgrading legacy hashes").

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::Error;
use crate::users_import::custom_hash::ImportedHash;

fn hasher() -> Argon2<'static> {
    // These constants are within Argon2's limits, so `Params::new` cannot fail.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Minimum length, as NIST SP 800-63B §5.1.1.2 asks of memorized secrets.
pub const MIN_PASSWORD_LEN: usize = 8;

pub fn validate_password(password: &str) -> Result<(), Error> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::invalid_body(format!("password must be at least {MIN_PASSWORD_LEN} characters")));
    }
    if password.len() > 1024 {
        return Err(Error::invalid_body("password must be at most 1024 bytes"));
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt =
        SaltString::encode_b64(&crate::crypto::random_bytes::<16>()).map_err(|e| Error::server_error(format!("salt: {e}")))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::server_error(format!("argon2: {e}")))
}

/// Verifies in constant time with respect to the password; a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if let Some(imported) = ImportedHash::from_stored(phc) {
        return imported.verify(password, &mut Vec::new());
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// The outcome of a password check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// When the password matched an imported hash: its Argon2id replacement, to be stored
    /// in place of the old hash.
    pub rehash: Option<String>,
}

impl From<bool> for Verified {
    fn from(ok: bool) -> Self {
        Self { ok, rehash: None }
    }
}

/// Whether a stored hash came from an import (and is replaced at the next good login).
pub fn is_imported(stored: &str) -> bool {
    stored.starts_with(crate::users_import::custom_hash::IMPORTED_PREFIX)
}

/// Verifies `password` against a stored hash of either kind, computing Argon2 into
/// `memory` (grown to the hash's memory cost and reused across calls) instead of allocating
/// ~19 MiB per verification: a small fixed pool of workers then bounds the memory that
/// logins can take.
pub fn verify_password_in(password: &str, stored: &str, memory: &mut Vec<argon2::Block>) -> Verified {
    let Some(imported) = ImportedHash::from_stored(stored) else {
        return verify_argon2_in(password, stored, memory).into();
    };
    if !imported.verify(password, memory) {
        return Verified::default();
    }
    // A failure to hash leaves the old hash in place; the login itself still succeeds.
    Verified { ok: true, rehash: hash_password(password).ok() }
}

/// Verifies against an Argon2 PHC string (any variant), into `memory`.
pub fn verify_argon2_in(password: &str, phc: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let version = parsed.version.and_then(|v| Version::try_from(v).ok()).unwrap_or(Version::V0x13);
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    if params.m_cost() > 256 * 1024 {
        return false; // refuse hashes demanding more than 256 MiB
    }
    memory.resize(params.block_count(), argon2::Block::default());
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        && crate::crypto::ct_eq(&out, expected.as_bytes())
}

/// A hash of a random password, verified against when the user does not exist so that the
/// response time does not reveal whether an account exists.
pub fn dummy_hash() -> &'static str {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&crate::crypto::random_token::<16>()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_argon2id() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        let mut mem = Vec::new();
        assert_eq!(verify_password_in("correct horse", &h, &mut mem), Verified { ok: true, rehash: None });
        assert!(!verify_password_in("wrong horse", &h, &mut mem).ok);
        assert!(!verify_password_in("correct horse", "$argon2id$v=19$m=19456,t=2,p=1$bm9wZQ$bm9wZQ", &mut mem).ok);
    }

    #[test]
    fn an_imported_hash_verifies_once_with_its_argon2id_replacement() {
        let bcrypt = bcrypt::hash_with_salt("correct horse", 4, [3u8; 16]).unwrap().format_for_version(bcrypt::Version::TwoB);
        let stored = crate::users_import::custom_hash::parse_password_hash(&bcrypt).unwrap().to_stored();
        assert!(is_imported(&stored));
        let mut mem = Vec::new();
        let v = verify_password_in("correct horse", &stored, &mut mem);
        let new = v.rehash.expect("a match against an imported hash comes with its replacement");
        assert!(v.ok && new.starts_with("$argon2id$") && !is_imported(&new));
        assert!(verify_password("correct horse", &new));
        assert_eq!(verify_password_in("wrong horse", &stored, &mut mem), Verified::default());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
    }
}
