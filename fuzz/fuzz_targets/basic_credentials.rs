//! HTTP Basic client credentials (`tessera_core::client_auth::parse_basic`, RFC 6749 §2.3.1:
//! id and secret form-encoded, then joined with `:` and base64-encoded, RFC 7617).
//!
//! Input: text. Invariants:
//! - the raw input as a header value: never panics; a scheme other than Basic is
//!   `invalid_request`, anything malformed `invalid_client`; what is accepted has a
//!   non-empty id and round-trips through the canonical encoding;
//! - the input split at its first newline as (id, secret): encoded as a client must, it
//!   parses back to exactly that pair (colons, `+`, `%`, any UTF-8 included).
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tessera_core::client_auth::parse_basic;
use tessera_core::ErrorCode;

fn encode(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_basic(text) {
        Ok((id, secret)) => {
            assert!(!id.is_empty());
            assert_eq!(parse_basic(&encode(&id, &secret)).expect("canonical form parses"), (id, secret));
        }
        Err(e) => assert!(matches!(e.code, ErrorCode::InvalidClient | ErrorCode::InvalidRequest), "{:?}", e.code),
    }
    let (id, secret) = text.split_once('\n').unwrap_or((text, ""));
    match parse_basic(&encode(id, secret)) {
        Ok(pair) => assert_eq!(pair, (id.to_string(), secret.to_string())),
        Err(_) => assert!(id.is_empty(), "refused a well-encoded pair"),
    }
    // The scheme is case-insensitive; surrounding whitespace is tolerated.
    let upper = encode(id, secret).replacen("Basic", "BASIC", 1);
    assert_eq!(parse_basic(&format!("  {upper} ")).ok(), parse_basic(&encode(id, secret)).ok());
});
