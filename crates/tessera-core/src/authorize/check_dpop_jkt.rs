//! `dpop_jkt` (RFC 9449 §10): the JWK SHA-256 thumbprint (RFC 7638) of the DPoP key the
//! code will be bound to, base64url without padding: 43 characters.

use super::params::Params;
use crate::error::Error;

pub fn run(params: &Params) -> Result<Option<String>, Error> {
    let Some(jkt) = params.get("dpop_jkt") else { return Ok(None) };
    let b64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if jkt.len() != 43 || !jkt.bytes().all(b64url) {
        return Err(Error::invalid_request("dpop_jkt must be a base64url SHA-256 JWK thumbprint"));
    }
    Ok(Some(jkt.to_string()))
}
