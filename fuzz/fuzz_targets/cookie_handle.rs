//! The cookie parser (`tessera_core::cookie::value`), and the handle hashing behind the
//! session cookie, authorization codes and refresh tokens (`Keyring::hash_handle`: the
//! store sees only this).
//!
//! Input: lines. Line 1 is a cookie name; the other lines are `Cookie` header values.
//! Invariants:
//! - the value found is the first non-empty `name=value` pair of the header lines (checked
//!   against an independent reading), never contains `;`, and is a pure function of them;
//! - every line, as a presented handle, hashes to 43 characters, or 55 when it is an
//!   ordered handle (12 lower-case hex digits, `.`), whose time then leads the hash;
//!   hashing is deterministic, and two different handles never share a hash.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_core::cookie;
use tessera_core::crypto::{Keyring, MasterKey};

fn keyring() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| Keyring::new(&MasterKey::generate()))
}

fn oracle(lines: &[&str], name: &str) -> Option<String> {
    for line in lines {
        for pair in line.split(';') {
            let pair = pair.trim();
            if let Some(eq) = pair.find('=') {
                if &pair[..eq] == name && eq + 1 < pair.len() {
                    return Some(pair[eq + 1..].to_string());
                }
            }
        }
    }
    None
}

fn is_ordered(h: &str) -> bool {
    h.len() > 12 && h.as_bytes()[12] == b'.' && h.as_bytes()[..12].iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fuzz_target!(|data: &[u8]| {
    let Some(lines) = tessera_fuzz::lines(data) else { return };
    let (name, headers) = (lines[0], &lines[1..]);
    let found = cookie::value(headers.iter().copied(), name);
    assert_eq!(found, oracle(headers, name));
    assert_eq!(cookie::value(headers.iter().copied(), name), found);
    if let Some(v) = &found {
        assert!(!v.is_empty() && !v.contains(';'));
    }
    let k = keyring();
    let mut hashes = std::collections::BTreeMap::new();
    for handle in lines.iter().copied().chain(found.as_deref()) {
        let h = k.hash_handle(handle);
        assert_eq!(h, k.hash_handle(handle));
        if is_ordered(handle) {
            assert_eq!(h.len(), 55);
            assert_eq!(&h[..12], &handle[..12]);
        } else {
            assert_eq!(h.len(), 43, "{handle:?}");
        }
        if let Some(other) = hashes.insert(h, handle) {
            assert_eq!(other, handle, "two handles share a hash");
        }
    }
});
