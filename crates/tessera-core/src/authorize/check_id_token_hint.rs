//! OIDC Core §3.1.2.1 `id_token_hint`: an ID token Tessera issued earlier, passed back as a
//! hint about the End-User the client expects to be logged in. It is verified as our own ID
//! token (an expired one is fine, see [`crate::tokens::id_token_hint`]); its `sub` goes to
//! [`super::decide`], which does not use a session of another user.

use super::params::Params;
use crate::error::Error;
use crate::tokens::{id_token_hint, KeySet};

/// The `sub` of the hint, if one was sent.
pub fn run(keys: &KeySet, issuer: &str, params: &Params) -> Result<Option<String>, Error> {
    // A hint that is not an ID token we issued says nothing trustworthy about the user: the
    // request is malformed (invalid_request), not merely without a hint.
    params.get("id_token_hint").map(|token| id_token_hint::verify(keys, issuer, token).map(|h| h.sub)).transpose()
}
