//! Access tokens presented to Tessera's own protected resources (`/userinfo`, the
//! Management API under `/api/v2/`): where the token comes from, and the checks every such
//! resource makes before its own (scope, subject).
//!
//! - RFC 6750 §2.1 / §2.2: a Bearer token comes in the `Authorization` header or, on a form
//!   POST where the resource allows it, as the `access_token` field; using both is
//!   `invalid_request` (§2). The query string is not accepted (§2.3 is a "SHOULD NOT" we make
//!   a "not").
//! - RFC 9449 §7.1: a DPoP-bound token (`cnf.jkt`) comes as `Authorization: DPoP <token>`
//!   with a `DPoP` proof for this request whose key is the token's and whose `ath` is the
//!   token's hash. §7.2: a bound token presented as a Bearer token is refused (no downgrade),
//!   and so is an unbound token presented with the DPoP scheme.
//! - RFC 6750 §3.1: an expired, revoked, forged or wrong-audience token is `invalid_token`.

use axum::http::{header, HeaderMap, Method};
use tessera_core::authorize::Params;
use tessera_core::tokens::claims::{verify_access_token, VerifiedAccessToken};
use tessera_core::{Error, ErrorCode};

use super::dpop;
use super::error::TokenScheme;
use crate::app::AppState;

pub fn invalid_token(d: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorCode::InvalidToken, d)
}

/// The presented token and its scheme; `Ok(None)` when there is none. `form_body` is the
/// body of a request that may carry the token as a form field (RFC 6750 §2.2).
pub fn presented_token(
    method: &Method,
    headers: &HeaderMap,
    form_body: Option<&[u8]>,
) -> Result<Option<(TokenScheme, String)>, Error> {
    let from_header = match headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("")) {
        None => None,
        Some(v) => match v.split_once(' ').map(|(s, t)| (s, t.trim())) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                Some((TokenScheme::Bearer, token.to_string()))
            }
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") && !token.is_empty() => {
                Some((TokenScheme::Dpop, token.to_string()))
            }
            _ => return Err(invalid_token("the Authorization header must be: Bearer <token> or DPoP <token>")),
        },
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let from_body = match form_body {
        Some(body) if *method == Method::POST && is_form => {
            let params = Params::parse(body);
            if params.is_repeated("access_token") {
                return Err(Error::invalid_request("parameter access_token is repeated"));
            }
            params.get("access_token").map(|t| (TokenScheme::Bearer, t.to_string()))
        }
        _ => None,
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(Error::invalid_request("send the access token in one place only (RFC 6750 section 2)")),
        (h, b) => Ok(h.or(b)),
    }
}

/// A refusal, with the DPoP nonce to hand back if one is in use.
pub struct Refusal(pub Error, pub Option<String>);

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Self(e, None)
    }
}

impl From<tessera_core::store::StoreError> for Refusal {
    fn from(e: tessera_core::store::StoreError) -> Self {
        Self(e.into(), None)
    }
}

/// A token that passed every common check, and the DPoP nonce for the response.
pub struct Authorized {
    pub token: VerifiedAccessToken,
    pub dpop_nonce: Option<String>,
}

/// Verifies `token` for the resource at `path` whose audience is `audience`: signature,
/// issuer, expiry, audience, sender constraint (DPoP proof for `method` + `path`) and
/// revocation.
pub async fn authorize(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    audience: &str,
    scheme: TokenScheme,
    token: &str,
) -> Result<Authorized, Refusal> {
    let verified = verify_access_token(&state.keys.get(), &state.issuer, token, state.now())?;
    // RFC 9068 §4: the resource refuses a token whose `aud` does not name it.
    if !verified.has_audience(audience) {
        return Err(invalid_token(format!("the access token is not valid for {path}")).into());
    }
    let store = state.deployment.store.as_ref();
    let nonce = match (scheme, verified.jkt()) {
        (TokenScheme::Bearer, None) => None,
        (TokenScheme::Bearer, Some(_)) => {
            return Err(invalid_token("a DPoP-bound access token must be presented with the DPoP scheme and a proof").into())
        }
        (TokenScheme::Dpop, None) => {
            return Err(invalid_token("the access token is not DPoP-bound; present it as a Bearer token").into())
        }
        (TokenScheme::Dpop, Some(jkt)) => {
            let client = store.get_client(&verified.client_id).await?;
            let require_nonce = dpop::nonce_required(state, client.as_ref());
            let proof = dpop::proof(state, headers, method.as_str(), path, Some(token), require_nonce)
                .await
                .map_err(|h| Refusal(h.error, h.dpop_nonce))?;
            let nonce = dpop::fresh_nonce(state, require_nonce);
            let refuse = |d: &'static str| Refusal(Error::new(ErrorCode::InvalidDpopProof, d), nonce.clone());
            // RFC 9449 §7.1: the proof's key must be the one the token is bound to.
            match proof {
                None => return Err(refuse("a DPoP proof is required with the DPoP scheme")),
                Some(p) if p.jkt != jkt => return Err(refuse("the DPoP proof key is not the key the token is bound to")),
                Some(_) => nonce,
            }
        }
    };
    if store.is_access_token_revoked(&verified.jti).await? {
        return Err(Refusal(invalid_token("the access token has been revoked"), nonce));
    }
    Ok(Authorized { token: verified, dpop_nonce: nonce })
}
