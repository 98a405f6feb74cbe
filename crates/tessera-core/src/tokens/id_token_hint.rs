//! `id_token_hint`: an ID token Tessera issued, handed back by the client as a hint about
//! the End-User (OIDC Core §3.1.2.1 at /authorize, RP-Initiated Logout §2 at logout).
//!
//! It is verified as our own token — a published kid, the key's own algorithm, a valid
//! signature, our `iss`, and not an access token — but its expiry is not checked: both
//! specifications allow a hint that has expired (OIDC Core §3.1.2.1, RP-Initiated Logout
//! §4), since it names a user and is not used to grant anything.

use serde_json::Value;

use super::jose::Jws;
use super::keys::KeySet;
use crate::error::Error;

/// The claims of a verified hint that /authorize and logout use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    /// The End-User the client expects (OIDC Core §2 `sub`).
    pub sub: String,
    pub audiences: Vec<String>,
    pub sid: Option<String>,
}

/// Verifies `token` as an ID token this issuer signed; any failure is `invalid_request`.
pub fn verify(keys: &KeySet, issuer: &str, token: &str) -> Result<IdTokenHint, Error> {
    let invalid = || Error::invalid_request("id_token_hint is not an ID token issued here");
    let jws = Jws::parse(token).map_err(|_| invalid())?;
    // RFC 8725 §3.11: explicit typing keeps one kind of JWT from being taken for another.
    // Tessera signs its ID tokens `typ: JWT` and its access tokens `at+jwt` (RFC 9068 §2.1)
    // with the same keys, so only `JWT` (or no typ) is an ID token; not `at+jwt`, nor
    // `application/at+jwt`, nor any other type a future token of ours may carry.
    if jws.header.get("typ").is_some_and(|t| !t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT"))) {
        return Err(invalid());
    }
    let key = jws.kid().and_then(|kid| keys.verifier(kid)).ok_or_else(invalid)?;
    if !key.verifies(&jws) {
        return Err(invalid());
    }
    if jws.claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(invalid());
    }
    let sub = jws.claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(invalid)?.to_string();
    let audiences = match jws.claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => return Err(invalid()),
    };
    let sid = jws.claims.get("sid").and_then(Value::as_str).map(str::to_string);
    Ok(IdTokenHint { sub, audiences, sid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SigningAlg, User, UserPatch};
    use crate::scope::Scope;
    use crate::tokens::claims::{sign_access_token, sign_id_token, AccessTokenSpec, IdTokenSpec};

    const ISS: &str = "https://id.example.com/";

    fn claims_of(token: &str) -> serde_json::Map<String, Value> {
        Jws::parse(token).unwrap().claims
    }

    /// Regression (issue 22, found by `properties::jwt::tokens_are_accepted_only_for_their_own_use`):
    /// a token of ours typed anything but `JWT` (here `dpop+jwt`, `application/at+jwt`) was
    /// taken as an ID token hint, because only `at+jwt` was refused.
    #[test]
    fn only_our_id_tokens_are_hints_expired_or_not() {
        let keys = KeySet::with_one_current_key(SigningAlg::ES256);
        let key = keys.signer(SigningAlg::ES256).unwrap();
        let user = User::create("auth0|1".into(), UserPatch { username: Some("alice".into()), ..Default::default() }, 0).unwrap();
        let scope = Scope::parse("openid").unwrap();
        let id_token = |issuer| {
            sign_id_token(
                &key,
                &IdTokenSpec {
                    issuer,
                    user: &user,
                    client_id: "c1",
                    scope: &scope,
                    now: 1000,
                    lifetime: 60,
                    auth_time: 990,
                    nonce: None,
                    sid: Some("s1"),
                    access_token: None,
                },
            )
        };
        // Long expired (exp 1060) and still a hint: nothing here reads the clock.
        let hint = verify(&keys, ISS, &id_token(ISS)).unwrap();
        assert_eq!(hint, IdTokenHint { sub: "auth0|1".into(), audiences: vec!["c1".into()], sid: Some("s1".into()) });

        let access_token = sign_access_token(
            &key,
            &AccessTokenSpec {
                issuer: ISS,
                subject: "auth0|1",
                client_id: "c1",
                audience: None,
                scope: &scope,
                now: 1000,
                lifetime: 60,
                auth_time: Some(990),
                gty: None,
                jkt: None,
            },
        );
        let mut tampered = id_token(ISS);
        tampered.insert(tampered.len() - 2, 'A');
        let other_keys = KeySet::with_one_current_key(SigningAlg::ES256);
        let refused = [
            ("another issuer", verify(&keys, ISS, &id_token("https://other.example.com/"))),
            ("an access token", verify(&keys, ISS, &access_token.token)),
            ("an ID token re-typed dpop+jwt", verify(&keys, ISS, &key.sign_jwt("dpop+jwt", &claims_of(&id_token(ISS))))),
            (
                "an ID token re-typed application/at+jwt",
                verify(&keys, ISS, &key.sign_jwt("application/at+jwt", &claims_of(&id_token(ISS)))),
            ),
            ("a bad signature", verify(&keys, ISS, &tampered)),
            ("an unknown key", verify(&other_keys, ISS, &id_token(ISS))),
            ("not a JWT", verify(&keys, ISS, "not.a.token")),
        ];
        for (name, result) in refused {
            assert_eq!(result.unwrap_err().code, crate::ErrorCode::InvalidRequest, "{name}");
        }
    }
}
