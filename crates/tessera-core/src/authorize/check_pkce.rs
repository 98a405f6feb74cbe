//! PKCE (RFC 7636), as OAuth 2.1 and RFC 9700 §2.1.1 require.
//!
//! - RFC 9700 §2.1.1: public clients must use PKCE; `code_challenge` is required for them.
//! - RFC 7636 §4.3: without `code_challenge_method` the method is `plain`; Tessera refuses
//!   `plain` (RFC 9700 §2.1.1: use S256), so the method must be given and be `S256`.
//! - RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA256(verifier)): 43 characters of the
//!   base64url alphabet.

use super::params::Params;
use crate::error::Error;
use crate::model::Client;

/// `(code_challenge, code_challenge_method)`.
pub fn run(client: &Client, params: &Params) -> Result<(Option<String>, Option<String>), Error> {
    let challenge = params.get("code_challenge");
    let method = params.get("code_challenge_method");
    let Some(challenge) = challenge else {
        if method.is_some() {
            return Err(Error::invalid_request("code_challenge_method was sent without code_challenge"));
        }
        // RFC 9700 §2.1.1: public clients MUST use PKCE.
        if client.is_public() {
            return Err(Error::invalid_request("code_challenge is required for public clients (PKCE)"));
        }
        return Ok((None, None));
    };
    // RFC 7636 §4.3: an absent method means plain, which is not accepted here.
    match method {
        Some("S256") => {}
        None | Some("plain") => return Err(Error::invalid_request("code_challenge_method must be S256; plain is not allowed")),
        Some(_) => return Err(Error::invalid_request("code_challenge_method must be S256")),
    }
    // RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(verifier)) is 43 characters.
    let b64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if challenge.len() != 43 || !challenge.bytes().all(b64url) {
        return Err(Error::invalid_request("code_challenge must be 43 base64url characters (S256)"));
    }
    Ok((Some(challenge.to_string()), Some("S256".to_string())))
}
