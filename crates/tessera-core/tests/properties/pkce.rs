//! PKCE, RFC 7636: every valid verifier (§4.1: 43-128 characters of ALPHA / DIGIT / "-" /
//! "." / "_" / "~") verifies against its S256 challenge (§4.2, §4.6); any one-character
//! change, and any verifier outside the alphabet or the length, fails.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use tessera_core::pkce::{is_valid_verifier, verify};

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// The S256 challenge, computed with an independent SHA-256 (ring, not aws-lc).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()))
}

fn verifier() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~-]{43,128}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_valid_verifier_verifies_against_its_s256_challenge(v in verifier()) {
        prop_assert!(is_valid_verifier(&v));
        prop_assert!(verify(&s256(&v), "S256", &v));
        // `plain` is never accepted, not even with the verifier itself as the challenge.
        prop_assert!(!verify(&v, "plain", &v));
        prop_assert!(!verify(&s256(&v), "plain", &v));
        prop_assert!(!verify(&s256(&v), "s256", &v));
    }

    #[test]
    fn any_one_character_change_fails(v in verifier(), at in any::<prop::sample::Index>(), with in prop::sample::select(ALPHABET.to_vec())) {
        let i = at.index(v.len());
        prop_assume!(v.as_bytes()[i] != with);
        let mut changed = v.clone().into_bytes();
        changed[i] = with;
        let changed = String::from_utf8(changed).unwrap();
        prop_assert!(!verify(&s256(&v), "S256", &changed), "{changed} verified against the challenge of {v}");
        // Dropping or adding a character fails too.
        let shorter = format!("{}{}", &v[..i], &v[i + 1..]);
        prop_assert!(!verify(&s256(&v), "S256", &shorter));
        let longer = format!("{}{}{}", &v[..i], with as char, &v[i..]);
        prop_assert!(!verify(&s256(&v), "S256", &longer));
        // The challenge changed in one character does not verify either.
        let mut challenge = s256(&v).into_bytes();
        let j = at.index(challenge.len());
        challenge[j] = if challenge[j] == b'A' { b'B' } else { b'A' };
        prop_assert!(!verify(&String::from_utf8(challenge).unwrap(), "S256", &v));
    }

    /// A verifier with a character outside the alphabet fails even against its own S256
    /// challenge (the server never hashes what the grammar refuses).
    #[test]
    fn verifiers_outside_the_alphabet_fail(v in verifier(), at in any::<prop::sample::Index>(), bad in any::<char>()) {
        prop_assume!(!(bad.is_ascii() && ALPHABET.contains(&(bad as u8))));
        let i = at.index(v.len());
        let mut chars: Vec<char> = v.chars().collect();
        chars[i] = bad;
        let bad_verifier: String = chars.into_iter().collect();
        prop_assert!(!is_valid_verifier(&bad_verifier));
        prop_assert!(!verify(&s256(&bad_verifier), "S256", &bad_verifier));
    }

    #[test]
    fn verifiers_outside_the_length_fail(
        v in prop_oneof!["[A-Za-z0-9._~-]{0,42}", "[A-Za-z0-9._~-]{129,300}"],
    ) {
        prop_assert!(!is_valid_verifier(&v));
        prop_assert!(!verify(&s256(&v), "S256", &v));
    }
}
