//! User codes (RFC 8628 §6.1): 8 characters from the 20 consonants `BCDFGHJKLMNPQRSTVWXZ`
//! (no vowels, so no words; no easily confused characters), about 34.6 bits, shown to the
//! user as `XXXX-XXXX`. What the user types is compared case-insensitively and without
//! dashes or spaces (§6.1: the server should ignore characters like hyphens and
//! whitespace, and compare case-insensitively).

use crate::crypto::random_bytes;

pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const LENGTH: usize = 8;

/// A new user code, normalized (8 upper-case consonants, no dash), each character uniform.
pub fn generate() -> String {
    let mut out = String::with_capacity(LENGTH);
    while out.len() < LENGTH {
        for b in random_bytes::<16>() {
            // 240 = 12 * 20: bytes at or above it would bias the first characters.
            if b < 240 && out.len() < LENGTH {
                out.push(ALPHABET[(b % 20) as usize] as char);
            }
        }
    }
    out
}

/// `XXXX-XXXX`, as the user sees it.
pub fn display(normalized: &str) -> String {
    let (a, b) = normalized.split_at(normalized.len().min(LENGTH / 2));
    format!("{a}-{b}")
}

/// What the user typed, as the stored form: upper case, dashes and whitespace dropped.
/// `None` when it cannot be a user code (wrong length or characters).
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_alphabet_and_normalize_back() {
        for _ in 0..200 {
            let c = generate();
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
            assert_eq!(normalize(&display(&c)).as_deref(), Some(c.as_str()));
        }
        let table = [
            ("BCDF-GHJK", Some("BCDFGHJK")),
            ("bcdf-ghjk", Some("BCDFGHJK")),
            (" bcdfghjk ", Some("BCDFGHJK")),
            ("BC-DF-GH-JK", Some("BCDFGHJK")),
            ("BCDF-GHJ", None),
            ("BCDF-GHJKL", None),
            ("ABCD-EFGH", None),
            ("BCDF-GHJ1", None),
            ("", None),
        ];
        for (typed, want) in table {
            assert_eq!(normalize(typed).as_deref(), want, "{typed:?}");
        }
    }
}
