//! PKCE, RFC 7636 (required for public clients by OAuth 2.1 and RFC 9700 §2.1.1).

use crate::crypto::{b64url, ct_eq, sha256};

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
/// The same grammar bounds `code_challenge` (§4.2: S256 gives 43 characters).
pub fn is_valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// RFC 7636 §4.6: with S256, the server computes BASE64URL(SHA256(ASCII(code_verifier)))
/// and compares it with the stored `code_challenge` (in constant time here). `plain` is
/// never stored by this server, so only S256 can match.
pub fn verify(challenge: &str, method: &str, verifier: &str) -> bool {
    if method != "S256" || !is_valid_verifier(verifier) {
        return false;
    }
    ct_eq(b64url(&sha256(verifier.as_bytes())).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(challenge, "S256", verifier));
        assert!(!verify(challenge, "plain", verifier));
        assert!(!verify(challenge, "S256", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
    }

    #[test]
    fn verifier_grammar() {
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(is_valid_verifier(&"~._-".repeat(32)));
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
    }
}
