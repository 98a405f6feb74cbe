//! Finding a token presented back to Tessera (revocation, introspection): a JWT access
//! token we signed, or an opaque refresh token we stored (by its keyed hash).

use crate::error::Error;
use crate::registry::Registry;
use crate::state::{RefreshFamily, RefreshTokenRecord};
use crate::tokens::claims::{verify_access_token, VerifiedAccessToken};
use crate::tokens::KeySet;

pub enum FoundToken {
    Access(Box<VerifiedAccessToken>),
    Refresh(Box<(RefreshTokenRecord, RefreshFamily)>),
}

/// Looks the token up as the hinted kind first (RFC 7009 §2.1 / RFC 7662 §2.1: the hint
/// only speeds the search up; the other kind is tried too). Expired or forged access
/// tokens and unknown refresh tokens are `None`.
pub async fn find_token(
    registry: &Registry,
    keys: &KeySet,
    issuer: &str,
    token: &str,
    hint: Option<&str>,
    now: i64,
) -> Result<Option<FoundToken>, Error> {
    let as_access = || verify_access_token(keys, issuer, token, now).ok().map(|t| FoundToken::Access(Box::new(t)));
    let refresh_first = hint == Some("refresh_token");
    if !refresh_first {
        if let Some(found) = as_access() {
            return Ok(Some(found));
        }
    }
    // A compact JWS has two dots; our refresh tokens have at most one (see
    // `crypto::ordered_handle`), so skip the store round trip for JWTs.
    if token.matches('.').count() != 2 {
        let hash = registry.keyring().hash_handle(token);
        if let Some((t, f)) = registry.store().get_refresh_token(&hash).await? {
            return Ok(Some(FoundToken::Refresh(Box::new((t, f)))));
        }
    }
    Ok(if refresh_first { as_access() } else { None })
}
