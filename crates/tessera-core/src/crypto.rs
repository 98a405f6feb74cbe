//! The master key and what is derived from it, random identifiers, constant-time compare.
//!
//! DESIGN decision 2: client secrets and token handles are stored as keyed hashes
//! (HMAC-SHA-256), private signing keys and `client_secret_jwt` secrets encrypted with
//! AES-256-GCM. Each purpose gets its own key, derived from the master key with HKDF
//! (RFC 5869) so that one purpose's key never doubles as another's.

use std::fmt;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf;
use aws_lc_rs::hmac;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::error::Error;

/// `N` random bytes from a per-thread ChaCha CSPRNG seeded (and periodically reseeded) by
/// the operating system: as unpredictable as the OS generator, without a system call per
/// identifier on the token hot path.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut buf = [0u8; N];
    rand::thread_rng().fill_bytes(&mut buf);
    buf
}

/// `N` random bytes, base64url without padding: identifiers, secrets, codes.
pub fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// A unique identifier that sorts by creation time: `prefix`, 12 hex digits of the
/// milliseconds since the Unix epoch, then `N` random bytes in base64url (the uniqueness).
/// For keys of B-tree indexes written on every token request (access-token `jti`s, refresh
/// families): a random key lands on a random leaf page, which each commit then writes to
/// the WAL whole, while keys made in the same millisecond share the index's last page.
pub fn ordered_id<const N: usize>(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + TIME_DIGITS + (N * 4).div_ceil(3));
    out.push_str(prefix);
    push_time(&mut out);
    b64url_into(&random_bytes::<N>(), &mut out);
    out
}

/// A bearer handle (authorization code, refresh token) whose keyed hash sorts by creation
/// time, for the same reason as [`ordered_id`]: the time as there, a `.`, then 256 random
/// bits in base64url. [`Keyring::hash_handle`] keeps the time in front of the hash.
pub fn ordered_handle() -> String {
    let mut out = String::with_capacity(TIME_DIGITS + 1 + 43);
    push_time(&mut out);
    out.push('.');
    b64url_into(&random_bytes::<32>(), &mut out);
    out
}

const TIME_DIGITS: usize = 12;

fn push_time(out: &mut String) {
    use std::fmt::Write;
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    // 48 bits of milliseconds last until the year 10889.
    let _ = write!(out, "{:012x}", ms & 0xffff_ffff_ffff);
}

/// The time in front of an [`ordered_handle`]; `None` for any other string (a handle made
/// before handles were ordered is 43 base64url characters, which never include a `.`).
fn handle_time(handle: &str) -> Option<&str> {
    let (time, rest) = handle.split_at_checked(TIME_DIGITS)?;
    (rest.starts_with('.') && time.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(time)
}

/// Lower-case hex of `N` random bytes (Auth0-style user ids).
pub fn random_hex<const N: usize>() -> String {
    random_bytes::<N>().iter().map(|b| format!("{b:02x}")).collect()
}

/// `len` characters of `[A-Za-z0-9]` (identifiers safe in URLs, shells and CLI arguments),
/// drawn by rejection sampling so every character is uniform (~5.95 bits each).
pub fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<64>() {
            // 248 = 4 * 62: bytes at or above it would bias the first characters.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// Constant-time equality for secrets and digests.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// [`b64url`] appended to `out`, without a String of its own.
pub fn b64url_into(data: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(data, out);
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()
}

/// The deployment's root secret. Never printed, never logged.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn generate() -> Self {
        Self(random_bytes::<32>())
    }

    /// Parses the base64 form written to the key file or given in config/env.
    pub fn from_base64(s: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(s.trim().as_bytes())
            .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim().as_bytes()))
            .map_err(|_| "the master key is not valid base64".to_string())?;
        let arr: [u8; 32] =
            bytes.try_into().map_err(|_| "the master key must be exactly 32 bytes (44 base64 characters)".to_string())?;
        Ok(Self(arr))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(master: &MasterKey, label: &[u8]) -> [u8; 32] {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tessera/v1");
    let prk = salt.extract(&master.0);
    let info = [label];
    let mut out = [0u8; 32];
    // Expanding 32 bytes from SHA-256 HKDF cannot fail (limit is 255 * 32).
    if let Ok(okm) = prk.expand(&info, Len(32)) {
        let _ = okm.fill(&mut out);
    }
    out
}

/// The keys derived from the master key, one per purpose.
pub struct Keyring {
    secret_hmac: hmac::Key,
    handle_hmac: hmac::Key,
    nonce_hmac: hmac::Key,
    aead: LessSafeKey,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

/// What [`Keyring::check_value`] encrypts: proves at start-up that the configured master key
/// is the one the database was initialised with, before anything is written.
const CHECK_PLAINTEXT: &[u8] = b"tessera master key check v1";

impl Keyring {
    pub fn new(master: &MasterKey) -> Self {
        let aead_key = derive(master, b"aead: private keys and stored secrets");
        Self {
            secret_hmac: hmac::Key::new(hmac::HMAC_SHA256, &derive(master, b"hmac: client secrets")),
            handle_hmac: hmac::Key::new(hmac::HMAC_SHA256, &derive(master, b"hmac: token handles")),
            nonce_hmac: hmac::Key::new(hmac::HMAC_SHA256, &derive(master, b"hmac: nonces and csrf")),
            // AES-256 accepts any 32-byte key.
            aead: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &aead_key).unwrap_or_else(|_| unreachable!())),
        }
    }

    /// Keyed hash of a client secret, base64url.
    pub fn hash_secret(&self, secret: &str) -> String {
        b64url(hmac::sign(&self.secret_hmac, secret.as_bytes()).as_ref())
    }

    /// Constant-time check of a presented client secret against its stored keyed hash.
    pub fn verify_secret(&self, presented: &str, stored_hash: &str) -> bool {
        match b64url_decode(stored_hash) {
            Some(tag) => hmac::verify(&self.secret_hmac, presented.as_bytes(), &tag).is_ok(),
            None => false,
        }
    }

    /// Keyed hash of an opaque handle (authorization code, refresh token, session id):
    /// the store only ever sees this. An [`ordered_handle`]'s time stays in front, so stored
    /// hashes sort by creation time; the MAC covers the whole handle, time included, so a
    /// presented handle matches a stored hash only if it is the very handle issued.
    pub fn hash_handle(&self, handle: &str) -> String {
        let tag = hmac::sign(&self.handle_hmac, handle.as_bytes());
        let mut out = String::with_capacity(TIME_DIGITS + 43);
        out.push_str(handle_time(handle).unwrap_or_default());
        b64url_into(tag.as_ref(), &mut out);
        out
    }

    /// MAC for stateless server values (DPoP nonces, CSRF tokens).
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.nonce_hmac, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// AES-256-GCM with a random 96-bit nonce; output is base64(nonce || ciphertext || tag).
    /// `context` is bound as associated data so a ciphertext cannot be moved to another row.
    pub fn encrypt(&self, context: &str, plaintext: &[u8]) -> String {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        // Sealing only fails if the buffer exceeds AES-GCM's size limit (64 GiB).
        if self
            .aead
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(context.as_bytes()), &mut buf)
            .is_err()
        {
            unreachable!("AES-GCM plaintext too large");
        }
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        STANDARD.encode(out)
    }

    pub fn decrypt(&self, context: &str, sealed: &str) -> Result<Vec<u8>, Error> {
        let fail = || Error::server_error(format!("cannot decrypt {context}: wrong master key or corrupt data"));
        let raw = STANDARD.decode(sealed.as_bytes()).map_err(|_| fail())?;
        if raw.len() < NONCE_LEN + aead::AES_256_GCM.tag_len() {
            return Err(fail());
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut buf = ct.to_vec();
        let plain = self.aead.open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf).map_err(|_| fail())?;
        Ok(plain.to_vec())
    }

    pub fn check_value(&self) -> String {
        self.encrypt("master-key-check", CHECK_PLAINTEXT)
    }

    pub fn verify_check_value(&self, sealed: &str) -> bool {
        matches!(self.decrypt("master-key-check", sealed), Ok(p) if p == CHECK_PLAINTEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_ids_sort_by_creation_time_and_never_repeat() {
        let first = ordered_id::<12>("rtf_");
        assert_eq!(first.len(), 4 + 12 + 16);
        assert!(first.starts_with("rtf_"));
        assert!(first[4..16].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let same_ms: Vec<String> = (0..1000).map(|_| ordered_id::<12>("rtf_")).collect();
        assert!(same_ms.iter().all(|id| *id > first), "a later id sorts after an earlier one");
        let distinct: std::collections::HashSet<&String> = same_ms.iter().collect();
        assert_eq!(distinct.len(), 1000);
    }

    #[test]
    fn an_ordered_handles_hash_keeps_its_time_in_front_and_covers_all_of_it() {
        let k = Keyring::new(&MasterKey::generate());
        let h = ordered_handle();
        assert_eq!(h.len(), 12 + 1 + 43);
        assert_eq!(&h[12..13], ".");
        let stored = k.hash_handle(&h);
        assert_eq!(stored.len(), 12 + 43);
        assert_eq!(&stored[..12], &h[..12]);
        assert_eq!(&stored[12..], b64url(hmac::sign(&k.handle_hmac, h.as_bytes()).as_ref()));
        // Another time in front of the same random part is another handle.
        let other_time = format!("{:012x}{}", u64::from_str_radix(&h[..12], 16).unwrap() + 1, &h[12..]);
        assert_ne!(&k.hash_handle(&other_time)[12..], &stored[12..]);
        // A handle from before (43 base64url characters) hashes as it always did.
        let old = random_token::<32>();
        assert_eq!(k.hash_handle(&old), b64url(hmac::sign(&k.handle_hmac, old.as_bytes()).as_ref()));
        // Anything else that is not an ordered handle: no time in front.
        for s in ["", "0123456789ab", "0123456789AB.x", "0123456789ab-x", "0123456789a.x"] {
            assert_eq!(k.hash_handle(s).len(), 43, "{s:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(k.hash_handle(&ordered_handle()) > stored);
    }

    #[test]
    fn secrets_verify_only_with_the_same_key() {
        let a = Keyring::new(&MasterKey::generate());
        let b = Keyring::new(&MasterKey::generate());
        let h = a.hash_secret("s3cret");
        assert!(a.verify_secret("s3cret", &h));
        assert!(!a.verify_secret("s3cret!", &h));
        assert!(!b.verify_secret("s3cret", &h));
    }

    #[test]
    fn aead_binds_context_and_key() {
        let a = Keyring::new(&MasterKey::generate());
        let sealed = a.encrypt("key:1", b"private");
        assert_eq!(a.decrypt("key:1", &sealed).unwrap(), b"private");
        assert!(a.decrypt("key:2", &sealed).is_err());
        let b = Keyring::new(&MasterKey::generate());
        assert!(b.decrypt("key:1", &sealed).is_err());
        assert!(b.verify_check_value(&b.check_value()));
        assert!(!b.verify_check_value(&a.check_value()));
    }

    #[test]
    fn master_key_round_trips_and_rejects_bad_lengths() {
        let k = MasterKey::generate();
        let back = MasterKey::from_base64(&k.to_base64()).unwrap();
        assert_eq!(back.0, k.0);
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64 !!").is_err());
        assert_eq!(format!("{k:?}"), "MasterKey(<redacted>)");
    }
}
