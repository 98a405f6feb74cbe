//! The tokens Tessera issues and how they are checked when they come back.
//!
//! - Access tokens: RFC 9068 JWTs (`typ: at+jwt`) with `iss sub aud exp iat jti client_id
//!   scope`, plus `azp`, `auth_time` for user tokens and `gty` for client credentials
//!   (Auth0). Without an API audience the token is good for /userinfo only
//!   (`aud: {issuer}userinfo`).
//! - ID tokens: OIDC Core §2 / §3.1.3.6 (`at_hash`), signed with the client's algorithm.

use serde::Serialize;
use serde_json::{Map, Value};

use super::jose::Jws;
use super::keys::{KeySet, SigningKey};
use crate::crypto::{b64url, ordered_id};
use crate::error::Error;
use crate::model::{SigningAlg, User};
use crate::scope::Scope;

/// The audience that makes an access token usable at /userinfo.
pub fn userinfo_audience(issuer: &str) -> String {
    format!("{}/userinfo", issuer.trim_end_matches('/'))
}

/// What goes into an access token.
#[derive(Debug, Clone)]
pub struct AccessTokenSpec<'a> {
    pub issuer: &'a str,
    /// User id, or `<client_id>@clients` for client credentials.
    pub subject: &'a str,
    pub client_id: &'a str,
    /// The API identifier, if any.
    pub audience: Option<&'a str>,
    pub scope: &'a Scope,
    pub now: i64,
    pub lifetime: i64,
    pub auth_time: Option<i64>,
    /// `gty` (Auth0 grant-type claim), e.g. `client-credentials`.
    pub gty: Option<&'a str>,
    /// RFC 9449 §6: `cnf.jkt`, the DPoP key thumbprint.
    pub jkt: Option<&'a str>,
}

/// A signed access token and the parts the caller needs to record it.
#[derive(Debug, Clone)]
pub struct SignedAccessToken {
    pub token: String,
    pub jti: String,
    pub expires_at: i64,
}

/// An access token's claims (RFC 9068 §2.2), serialised straight into the JWS payload.
#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: Audience<'a>,
    iat: i64,
    exp: i64,
    jti: &'a str,
    client_id: &'a str,
    azp: &'a str,
    #[serde(serialize_with = "as_display")]
    scope: &'a Scope,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gty: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

/// RFC 7519 §4.1.3: one audience is a string, several an array.
#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Two([&'a str; 2]),
}

/// RFC 9449 §6.1: the confirmation claim of a DPoP-bound token.
#[derive(Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

fn as_display<S: serde::Serializer>(v: &&Scope, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(*v)
}

pub fn sign_access_token(key: &SigningKey, spec: &AccessTokenSpec<'_>) -> SignedAccessToken {
    let jti = ordered_id::<12>("");
    let exp = spec.now + spec.lifetime;
    // RFC 9068 §2.2: `aud` names the resource server; Auth0 adds the userinfo audience when
    // `openid` was granted so one token serves both.
    let userinfo;
    let aud = match spec.audience {
        Some(api) if !spec.scope.contains("openid") => Audience::One(api),
        Some(api) => {
            userinfo = userinfo_audience(spec.issuer);
            Audience::Two([api, &userinfo])
        }
        None => {
            userinfo = userinfo_audience(spec.issuer);
            Audience::One(&userinfo)
        }
    };
    let claims = AccessClaims {
        iss: spec.issuer,
        sub: spec.subject,
        aud,
        iat: spec.now,
        exp,
        jti: &jti,
        client_id: spec.client_id,
        azp: spec.client_id,
        scope: spec.scope,
        auth_time: spec.auth_time,
        gty: spec.gty,
        cnf: spec.jkt.map(|jkt| Confirmation { jkt }),
    };
    let token = key.sign_jwt("at+jwt", &claims);
    SignedAccessToken { token, jti, expires_at: exp }
}

/// OIDC Core §3.1.3.6: `at_hash` is the left half of the hash of the access token, with
/// the hash of the ID token's algorithm (SHA-512 for Ed25519).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    match alg {
        SigningAlg::EdDSA => {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, access_token.as_bytes());
            b64url(&d.as_ref()[..32])
        }
        _ => {
            let d = crate::crypto::sha256(access_token.as_bytes());
            b64url(&d[..16])
        }
    }
}

/// OIDC Core §5.4: the standard claims a scope releases (`profile`, `email`), in an ID
/// token and at /userinfo; a claim the user has no value for is left out (§5.3.2).
#[derive(Serialize)]
pub struct UserClaims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    picture: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nickname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
}

impl<'a> UserClaims<'a> {
    pub fn of(user: &'a User, scope: &Scope) -> Self {
        let profile = scope.contains("profile");
        let shown = |v: &'a Option<String>| v.as_deref().filter(|_| profile);
        let email = user.email.as_deref().filter(|_| scope.contains("email"));
        UserClaims {
            name: shown(&user.name),
            given_name: shown(&user.given_name),
            family_name: shown(&user.family_name),
            picture: shown(&user.picture),
            nickname: shown(&user.username),
            preferred_username: shown(&user.username),
            updated_at: profile.then_some(user.updated_at),
            email,
            email_verified: email.map(|_| user.email_verified),
        }
    }
}

/// The /userinfo answer (OIDC Core §5.3.2): `sub` and the claims the scope releases.
#[derive(Serialize)]
pub struct UserInfo<'a> {
    pub sub: &'a str,
    #[serde(flatten)]
    pub claims: UserClaims<'a>,
}

/// An ID token's claims (OIDC Core §2, §3.1.3.6), serialised straight into the JWS payload.
#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    auth_time: i64,
    azp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(flatten)]
    user: UserClaims<'a>,
}

#[derive(Debug, Clone)]
pub struct IdTokenSpec<'a> {
    pub issuer: &'a str,
    pub user: &'a User,
    pub client_id: &'a str,
    pub scope: &'a Scope,
    pub now: i64,
    pub lifetime: i64,
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub access_token: Option<&'a str>,
}

pub fn sign_id_token(key: &SigningKey, spec: &IdTokenSpec<'_>) -> String {
    let claims = IdClaims {
        iss: spec.issuer,
        sub: &spec.user.user_id,
        aud: spec.client_id,
        iat: spec.now,
        exp: spec.now + spec.lifetime,
        auth_time: spec.auth_time,
        azp: spec.client_id,
        nonce: spec.nonce,
        sid: spec.sid,
        at_hash: spec.access_token.map(|at| at_hash(key.alg(), at)),
        user: UserClaims::of(spec.user, spec.scope),
    };
    key.sign_jwt("JWT", &claims)
}

/// An access token presented back to Tessera (at /userinfo, introspection, revocation),
/// after its signature, issuer and expiry were checked.
#[derive(Debug, Clone)]
pub struct VerifiedAccessToken {
    pub claims: Map<String, Value>,
    pub jti: String,
    pub sub: String,
    pub client_id: String,
    pub scope: Scope,
    pub exp: i64,
}

impl VerifiedAccessToken {
    /// Whether `aud` (string or array) contains `audience`.
    pub fn has_audience(&self, audience: &str) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience)),
            _ => false,
        }
    }

    /// RFC 9449 §6.1 `cnf.jkt`.
    pub fn jkt(&self) -> Option<&str> {
        self.claims.get("cnf").and_then(|c| c.get("jkt")).and_then(Value::as_str)
    }
}

/// Verifies a token Tessera issued: `typ` at+jwt, a published kid, a signature with the
/// key's own algorithm, our issuer, and `exp` in the future. Revocation is the caller's
/// next check (it needs the store).
pub fn verify_access_token(keys: &KeySet, issuer: &str, token: &str, now: i64) -> Result<VerifiedAccessToken, Error> {
    let invalid = |why: &str| Error::new(crate::ErrorCode::InvalidToken, why.to_string());
    let jws = Jws::parse(token).map_err(|_| invalid("the access token is malformed"))?;
    if jws.header.get("typ").and_then(Value::as_str) != Some("at+jwt") {
        return Err(invalid("the token is not an access token"));
    }
    let kid = jws.kid().ok_or_else(|| invalid("the access token has no kid"))?;
    let key = keys.verifier(kid).ok_or_else(|| invalid("the access token was signed by an unknown key"))?;
    if !key.verifies(&jws) {
        return Err(invalid("the access token signature is invalid"));
    }
    let c = &jws.claims;
    if c.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(invalid("the access token was issued by another issuer"));
    }
    let exp = c.get("exp").and_then(Value::as_i64).ok_or_else(|| invalid("the access token has no exp"))?;
    if exp <= now {
        return Err(invalid("the access token has expired"));
    }
    let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(VerifiedAccessToken {
        jti: s("jti").ok_or_else(|| invalid("the access token has no jti"))?,
        sub: s("sub").ok_or_else(|| invalid("the access token has no sub"))?,
        client_id: s("client_id").unwrap_or_default(),
        scope: Scope::parse(&s("scope").unwrap_or_default()).unwrap_or_default(),
        exp,
        claims: jws.claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_verify_and_expire() {
        let keys = KeySet::with_one_current_key(SigningAlg::ES256);
        let signer = keys.signer(SigningAlg::ES256).unwrap();
        let scope = Scope::parse("openid read:x").unwrap();
        let spec = AccessTokenSpec {
            issuer: "https://id.example.com/",
            subject: "auth0|1",
            client_id: "c1",
            audience: Some("https://api.example.com"),
            scope: &scope,
            now: 1000,
            lifetime: 60,
            auth_time: Some(990),
            gty: None,
            jkt: None,
        };
        let t = sign_access_token(&signer, &spec);
        let v = verify_access_token(&keys, "https://id.example.com/", &t.token, 1059).unwrap();
        assert!(v.has_audience("https://api.example.com"));
        assert!(v.has_audience("https://id.example.com/userinfo"));
        assert_eq!(v.jti, t.jti);
        assert_eq!(
            verify_access_token(&keys, "https://id.example.com/", &t.token, 1060).unwrap_err().code,
            crate::ErrorCode::InvalidToken
        );
        assert!(verify_access_token(&keys, "https://other.example.com/", &t.token, 1000).is_err());
        let mut tampered = t.token.clone();
        tampered.insert(tampered.len() - 2, 'A');
        assert!(verify_access_token(&keys, "https://id.example.com/", &tampered, 1000).is_err());
    }

    /// `base` with the members of `extra` added.
    fn merged(mut base: Value, extra: Value) -> Value {
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        base
    }

    #[test]
    fn access_token_claims_and_header_are_exactly_these() {
        let key = SigningKey::generate(SigningAlg::EdDSA).unwrap();
        let api_scope = Scope::parse("read:x write:x").unwrap();
        let oidc_scope = Scope::parse("openid read:x").unwrap();
        let spec = |audience, scope, auth_time, gty, jkt| AccessTokenSpec {
            issuer: "https://id.example.com/",
            subject: "auth0|1",
            client_id: "c1",
            audience,
            scope,
            now: 1000,
            lifetime: 60,
            auth_time,
            gty,
            jkt,
        };
        let decoded = |spec: &AccessTokenSpec<'_>| {
            let t = sign_access_token(&key, spec);
            let jws = Jws::parse(&t.token).unwrap();
            assert_eq!(Value::Object(jws.header), serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid()}));
            assert_eq!(jws.claims["jti"], t.jti.as_str());
            assert_eq!(t.expires_at, 1060);
            let mut claims = jws.claims;
            claims.remove("jti");
            Value::Object(claims)
        };
        let common = |aud: Value| {
            serde_json::json!({"iss": "https://id.example.com/", "sub": "auth0|1", "aud": aud, "iat": 1000, "exp": 1060,
                "client_id": "c1", "azp": "c1"})
        };

        // An API token: one audience, a string (RFC 7519 §4.1.3); Auth0's gty.
        let api = spec(Some("https://api.example.com"), &api_scope, None, Some("client-credentials"), None);
        let want = merged(
            common("https://api.example.com".into()),
            serde_json::json!({"scope": "read:x write:x", "gty": "client-credentials"}),
        );
        assert_eq!(decoded(&api), want);
        // With openid: the userinfo audience too, so the audience is an array.
        let both = spec(Some("https://api.example.com"), &oidc_scope, Some(990), None, Some("thumb"));
        let want = merged(
            common(serde_json::json!(["https://api.example.com", "https://id.example.com/userinfo"])),
            serde_json::json!({"scope": "openid read:x", "auth_time": 990, "cnf": {"jkt": "thumb"}}),
        );
        assert_eq!(decoded(&both), want);
        // Without an API: good for /userinfo only.
        let userinfo = spec(None, &oidc_scope, Some(990), None, None);
        let want = merged(
            common("https://id.example.com/userinfo".into()),
            serde_json::json!({"scope": "openid read:x", "auth_time": 990}),
        );
        assert_eq!(decoded(&userinfo), want);
    }

    #[test]
    fn id_token_claims_and_header_are_exactly_these() {
        let key = SigningKey::generate(SigningAlg::ES256).unwrap();
        let user = User {
            user_id: "auth0|1".into(),
            email: Some("ada@example.com".into()),
            email_verified: true,
            username: Some("ada".into()),
            name: Some("Ada Lovelace".into()),
            given_name: None,
            family_name: Some("Lovelace".into()),
            picture: None,
            password_hash: Some("secret".into()),
            blocked: false,
            created_at: 500,
            updated_at: 700,
        };
        let decoded = |scope: &str, nonce, sid, access_token| {
            let scope = Scope::parse(scope).unwrap();
            let spec = IdTokenSpec {
                issuer: "https://id.example.com/",
                user: &user,
                client_id: "c1",
                scope: &scope,
                now: 1000,
                lifetime: 60,
                auth_time: 990,
                nonce,
                sid,
                access_token,
            };
            let jws = Jws::parse(&sign_id_token(&key, &spec)).unwrap();
            assert_eq!(Value::Object(jws.header), serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": key.kid()}));
            Value::Object(jws.claims)
        };
        let core = serde_json::json!({"iss": "https://id.example.com/", "sub": "auth0|1", "aud": "c1", "iat": 1000,
            "exp": 1060, "auth_time": 990, "azp": "c1"});
        // `openid` alone releases no user claim (OIDC Core §5.4).
        assert_eq!(decoded("openid", None, None, None), core);
        // profile and email release what the user has, and nothing they lack (§5.3.2);
        // nonce, sid and at_hash (§3.1.3.6) when given.
        let full = merged(
            core.clone(),
            serde_json::json!({"nonce": "n-0S6", "sid": "s1", "at_hash": at_hash(SigningAlg::ES256, "the-access-token"),
                "name": "Ada Lovelace", "family_name": "Lovelace", "nickname": "ada", "preferred_username": "ada",
                "updated_at": 700, "email": "ada@example.com", "email_verified": true}),
        );
        assert_eq!(decoded("openid profile email", Some("n-0S6"), Some("s1"), Some("the-access-token")), full);
        // No email address: neither email claim, even with the email scope.
        let no_email = User { email: None, ..user.clone() };
        let scope = Scope::parse("openid email").unwrap();
        let info = serde_json::to_value(UserInfo { sub: &no_email.user_id, claims: UserClaims::of(&no_email, &scope) });
        assert_eq!(info.unwrap(), serde_json::json!({"sub": "auth0|1"}));
    }

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" → at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(at_hash(SigningAlg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }
}
