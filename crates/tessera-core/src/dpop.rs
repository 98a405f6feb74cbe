//! DPoP proofs, RFC 9449: validation (§4.3), server nonces (§8) and key binding (§6).
//!
//! Nonces are stateless — base64url(window index ‖ truncated HMAC(window index)) — so every
//! node can check any node's nonce without shared state (DESIGN decision 9). A nonce is
//! accepted in its own window and the one before it. Proof `jti`s are remembered in the
//! database replay cache for the proof's acceptance window.

use serde_json::Value;

use crate::crypto::{b64url, b64url_decode, ct_eq, sha256, Keyring};
use crate::error::{Error, ErrorCode};
use crate::tokens::jose::{Jws, PublicKey};

/// Asymmetric algorithms accepted in proofs (§5: never `none`, never a MAC).
pub const PROOF_ALGS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];
/// Replay-cache namespace for proof `jti`s.
pub const JTI_NAMESPACE: &str = "dpop";
/// Seconds a server nonce window lasts.
pub const NONCE_WINDOW: i64 = 300;

fn invalid(why: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidDpopProof, why.into())
}

/// What the proof must match.
#[derive(Debug, Clone)]
pub struct ProofContext<'a> {
    /// The HTTP method of the request (`htm`).
    pub method: &'a str,
    /// The externally visible URL of the endpoint, without query and fragment (`htu`).
    pub url: &'a str,
    pub now: i64,
    /// How far `iat` may be from `now`, either way (seconds).
    pub max_age: i64,
    /// The access token the proof accompanies (resource requests): `ath` must match.
    pub access_token: Option<&'a str>,
    /// Whether a valid server nonce is required.
    pub require_nonce: bool,
}

/// A proof that passed every stateless check; the caller still records `jti` for replay.
#[derive(Debug, Clone)]
pub struct ValidProof {
    /// RFC 7638 thumbprint of the proof key: what tokens are bound to (`cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

impl ValidProof {
    /// Replay-cache key: the jti is unique per key.
    pub fn replay_key(&self) -> String {
        format!("{}:{}", self.jkt, self.jti)
    }
}

/// §4.3 checks 1-11 except replay (12), in the RFC's order.
pub fn validate_proof(proof: &str, ctx: &ProofContext<'_>, keyring: &Keyring) -> Result<ValidProof, Error> {
    // (2) a well-formed JWT.
    let jws = Jws::parse(proof).map_err(|e| invalid(format!("DPoP proof is not a JWS: {e}")))?;
    // (4) typ is dpop+jwt.
    if jws.header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(invalid("DPoP proof typ must be dpop+jwt"));
    }
    // (5) alg is an asymmetric algorithm the server supports; never none or a MAC.
    let alg = jws.alg().unwrap_or("none");
    if !PROOF_ALGS.contains(&alg) {
        return Err(invalid(format!("DPoP proof alg {alg} is not accepted")));
    }
    // (7) jwk is a public key (no private members) ...
    let jwk = jws.header.get("jwk").ok_or_else(|| invalid("DPoP proof has no jwk header"))?;
    let key = PublicKey::from_jwk(jwk).map_err(|e| invalid(format!("DPoP proof jwk: {e}")))?;
    if !key.allows_alg(alg) {
        return Err(invalid(format!("DPoP proof alg {alg} does not fit its key type")));
    }
    // (6) ... and the signature verifies with it.
    if !jws.verify_with(&key) {
        return Err(invalid("DPoP proof signature does not verify"));
    }
    let claims = &jws.claims;
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    // (3) required claims.
    let jti = s("jti").filter(|j| !j.is_empty() && j.len() <= 256).ok_or_else(|| invalid("DPoP proof has no jti"))?;
    let htm = s("htm").ok_or_else(|| invalid("DPoP proof has no htm"))?;
    let htu = s("htu").ok_or_else(|| invalid("DPoP proof has no htu"))?;
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or_else(|| invalid("DPoP proof has no iat"))?;
    // (8) htm matches the request method.
    if htm != ctx.method {
        return Err(invalid(format!("DPoP proof htm {htm} does not match {}", ctx.method)));
    }
    // (9) htu matches the request URI, ignoring query and fragment.
    if normalize_htu(htu).as_deref() != normalize_htu(ctx.url).as_deref() {
        return Err(invalid("DPoP proof htu does not match the request URL"));
    }
    // (10) nonce, when the server requires one.
    if ctx.require_nonce {
        let ok = s("nonce").is_some_and(|n| check_nonce(keyring, n, ctx.now));
        if !ok {
            return Err(Error::new(ErrorCode::UseDpopNonce, "Authorization server requires nonce in DPoP proof"));
        }
    }
    // (11) iat within the acceptable window.
    if (iat - ctx.now).abs() > ctx.max_age {
        return Err(invalid("DPoP proof iat is outside the acceptable window"));
    }
    // §4.3 (12)(b): with an access token, ath is the hash of that token.
    if let Some(token) = ctx.access_token {
        let expected = b64url(&sha256(token.as_bytes()));
        match s("ath") {
            Some(ath) if ct_eq(ath.as_bytes(), expected.as_bytes()) => {}
            Some(_) => return Err(invalid("DPoP proof ath does not match the access token")),
            None => return Err(invalid("DPoP proof has no ath for the access token")),
        }
    }
    Ok(ValidProof { jkt: key.thumbprint(), jti: jti.to_string(), iat })
}

/// §4.3 (12) and §11.1: a proof's `jti` is accepted once within its window, on any node
/// (the replay cache is in the database).
pub async fn remember(store: &dyn crate::store::Store, proof: &ValidProof, max_age: i64, now: i64) -> Result<(), Error> {
    if !store.remember_jti(JTI_NAMESPACE, &proof.replay_key(), proof.iat.max(now) + max_age, now).await? {
        return Err(invalid("DPoP proof jti was already used"));
    }
    Ok(())
}

/// Scheme and host lower-cased, default port dropped, query and fragment removed.
fn normalize_htu(u: &str) -> Option<String> {
    let mut url = url::Url::parse(u).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// A fresh nonce for the current window.
pub fn issue_nonce(keyring: &Keyring, now: i64) -> String {
    nonce_for(keyring, now.div_euclid(NONCE_WINDOW))
}

fn nonce_for(keyring: &Keyring, window: i64) -> String {
    let idx = window.to_be_bytes();
    let mut msg = b"dpop-nonce:".to_vec();
    msg.extend_from_slice(&idx);
    let mac = keyring.mac(&msg);
    let mut raw = idx.to_vec();
    raw.extend_from_slice(&mac[..16]);
    b64url(&raw)
}

/// Valid in its own window and the previous one, on any node sharing the master key.
pub fn check_nonce(keyring: &Keyring, nonce: &str, now: i64) -> bool {
    let Some(raw) = b64url_decode(nonce) else { return false };
    if raw.len() != 24 {
        return false;
    }
    let mut idx = [0u8; 8];
    idx.copy_from_slice(&raw[..8]);
    let window = i64::from_be_bytes(idx);
    let current = now.div_euclid(NONCE_WINDOW);
    (window == current || window == current - 1) && ct_eq(nonce_for(keyring, window).as_bytes(), nonce.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    #[test]
    fn nonces_are_valid_for_two_windows_and_only_with_the_same_key() {
        let k = Keyring::new(&MasterKey::generate());
        let n = issue_nonce(&k, 1_000_000);
        assert!(check_nonce(&k, &n, 1_000_000));
        assert!(check_nonce(&k, &n, 1_000_000 + NONCE_WINDOW));
        assert!(!check_nonce(&k, &n, 1_000_000 + 2 * NONCE_WINDOW));
        assert!(!check_nonce(&Keyring::new(&MasterKey::generate()), &n, 1_000_000));
        assert!(!check_nonce(&k, "garbage", 1_000_000));
    }

    #[test]
    fn htu_ignores_query_fragment_and_default_port() {
        assert_eq!(
            normalize_htu("https://ID.example.com:443/oauth/token?x=1#f"),
            normalize_htu("https://id.example.com/oauth/token")
        );
        assert_ne!(normalize_htu("https://id.example.com/oauth/token2"), normalize_htu("https://id.example.com/oauth/token"));
    }
}
