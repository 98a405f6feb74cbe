//! Client authentication at the token, revocation and introspection endpoints.
//!
//! - `client_secret_basic` (RFC 6749 §2.3.1), `client_secret_post` (§2.3.1),
//! - `private_key_jwt` / `client_secret_jwt` (RFC 7523 §2.2, §3; OIDC Core §9); a
//!   `private_key_jwt` client's keys are its inline `jwks` or the set at its `jwks_uri`,
//! - `none` for public clients (RFC 6749 §2.1; PKCE is then the proof of possession).
//!
//! Every failure is `invalid_client` with the same description whether the client exists
//! or not, and is recorded as an audit event by the caller.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::error::Error;
use crate::model::{Client, TokenEndpointAuthMethod};
use crate::registry::{ClientEntry, Registry};
use crate::tokens::jose::Jws;

pub const JWT_BEARER_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The time bounds of client assertions and JWT-bearer assertions (RFC 7523 §3 (4)-(5):
/// "reasonable" limits are the server's to set). Settings, `[client_assertions]` in the
/// configuration; the defaults accept what mainstream client libraries sign (Authlib's
/// `PrivateKeyJWT` and `client_secret_jwt` assertions live 3600 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssertionLimits {
    /// Longest accepted lifetime, `exp - iat` (seconds).
    pub max_lifetime: i64,
    /// How far in the future `iat`/`nbf` may be (seconds): clock skew of the client.
    pub max_future: i64,
    /// Clock leeway for `exp` (seconds); the replay `jti` is kept until `exp` + leeway.
    pub leeway: i64,
}

impl AssertionLimits {
    pub const DEFAULT: Self = Self { max_lifetime: 3600, max_future: 60, leeway: 10 };
}

impl Default for AssertionLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
/// Replay-cache namespace for assertion `jti`s.
pub const ASSERTION_JTI_NAMESPACE: &str = "client_assertion";
/// The JWS algorithms a client assertion may be signed with, at every endpoint that
/// authenticates clients (token, revocation, introspection: one code path). Discovery
/// publishes exactly this list for each of them (RFC 8414 §2), so it is also what the
/// verifier enforces. `private_key_jwt` further needs the algorithm to fit the registered
/// key's type; `client_secret_jwt` is HS256 only.
pub const ASSERTION_SIGNING_ALGS: &[&str] =
    &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA", "Ed25519", "HS256"];

/// The credentials a request carried, before any of them is trusted.
#[derive(Default, Clone)]
pub struct ClientCredentials {
    /// From `Authorization: Basic`, already form-decoded: (client_id, client_secret).
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion: Option<String>,
    pub client_assertion_type: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("basic_client_id", &self.basic.as_ref().map(|b| &b.0))
            .field("client_id", &self.client_id)
            .field("has_secret", &self.client_secret.is_some())
            .field("has_assertion", &self.client_assertion.is_some())
            .finish()
    }
}

/// RFC 6749 §2.3.1: the client identifier and password are encoded with
/// application/x-www-form-urlencoded, then used as the Basic user-id and password.
pub fn parse_basic(header_value: &str) -> Result<(String, String), Error> {
    let bad = || Error::invalid_client("malformed HTTP Basic credentials");
    let (scheme, rest) = header_value.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::invalid_request("only the Basic authorization scheme is accepted here"));
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    // form-urlencoding: '+' is a space, %XX a byte.
    let decode = |s: &str| -> Result<String, Error> {
        percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8().map(|c| c.into_owned()).map_err(|_| bad())
    };
    let (id, secret) = (decode(id)?, decode(secret)?);
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

/// The client as authenticated, and how.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: std::sync::Arc<Client>,
    pub method: TokenEndpointAuthMethod,
}

/// What authentication is checked against.
pub struct ClientAuthContext<'a> {
    pub registry: &'a Registry,
    pub issuer: &'a str,
    /// The token endpoint URL, an accepted assertion audience.
    pub token_endpoint: &'a str,
    /// The URL of the endpoint being called, also accepted: RFC 9126 §2 names the pushed
    /// authorization request endpoint's URL as a valid audience there.
    pub endpoint: &'a str,
    pub now: i64,
    pub limits: AssertionLimits,
}

fn failed() -> Error {
    Error::invalid_client("client authentication failed")
}

impl ClientCredentials {
    /// Which method the request used; more than one is `invalid_request`.
    pub fn method(&self) -> Result<TokenEndpointAuthMethod, Error> {
        let used = [self.basic.is_some(), self.client_secret.is_some(), self.client_assertion.is_some()];
        // RFC 6749 §2.3: the client MUST NOT use more than one authentication method in each request.
        if used.iter().filter(|u| **u).count() > 1 {
            return Err(Error::invalid_request("more than one client authentication method was used"));
        }
        Ok(match used {
            [true, _, _] => TokenEndpointAuthMethod::ClientSecretBasic,
            [_, true, _] => TokenEndpointAuthMethod::ClientSecretPost,
            [_, _, true] => TokenEndpointAuthMethod::PrivateKeyJwt,
            _ => TokenEndpointAuthMethod::None,
        })
    }

    /// Authenticates the client. The registered method must be the one used, except that
    /// `client_secret_basic` and `client_secret_post` are interchangeable (same secret; RFC
    /// 6749 §2.3.1 makes Basic mandatory to support, and Auth0 apps default to post).
    pub async fn authenticate(&self, ctx: &ClientAuthContext<'_>) -> Result<AuthenticatedClient, Error> {
        let used = self.method()?;
        if let (Some((basic_id, _)), Some(body_id)) = (&self.basic, &self.client_id) {
            if basic_id != body_id {
                return Err(Error::invalid_request("client_id in the body differs from the HTTP Basic client"));
            }
        }
        match used {
            TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost => {
                let (id, secret) = match &self.basic {
                    Some((id, secret)) => (id.clone(), secret.clone()),
                    None => (
                        self.client_id
                            .clone()
                            .ok_or_else(|| Error::invalid_request("client_id is required with client_secret"))?,
                        self.client_secret.clone().unwrap_or_default(),
                    ),
                };
                let entry = lookup(ctx, &id).await?;
                let client = &entry.client;
                if !matches!(
                    client.token_endpoint_auth_method,
                    TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost
                ) {
                    return Err(failed().with_detail(format!(
                        "client {id} is registered for {}, not a client secret",
                        client.token_endpoint_auth_method.as_str()
                    )));
                }
                if !ctx.registry.secret_matches(&entry.secrets, &secret, ctx.now) {
                    return Err(failed().with_detail(format!("wrong client secret for {id}")));
                }
                Ok(AuthenticatedClient { client: client.clone(), method: used })
            }
            TokenEndpointAuthMethod::PrivateKeyJwt | TokenEndpointAuthMethod::ClientSecretJwt => {
                self.authenticate_assertion(ctx).await
            }
            TokenEndpointAuthMethod::None => {
                let id = self
                    .client_id
                    .clone()
                    .ok_or_else(|| Error::invalid_client("client authentication is required (no client_id)"))?;
                let entry = lookup(ctx, &id).await?;
                // RFC 6749 §3.2.1: a confidential client must authenticate.
                if !entry.client.is_public() {
                    return Err(failed().with_detail(format!("confidential client {id} sent no credentials")));
                }
                Ok(AuthenticatedClient { client: entry.client.clone(), method: TokenEndpointAuthMethod::None })
            }
        }
    }

    /// RFC 7523 §3 and OIDC Core §9.
    async fn authenticate_assertion(&self, ctx: &ClientAuthContext<'_>) -> Result<AuthenticatedClient, Error> {
        // RFC 7523 §2.2: client_assertion_type MUST be the jwt-bearer URN.
        if self.client_assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION_TYPE) {
            return Err(Error::invalid_request(format!("client_assertion_type must be {JWT_BEARER_ASSERTION_TYPE}")));
        }
        let assertion = self.client_assertion.as_deref().unwrap_or_default();
        let jws = Jws::parse(assertion).map_err(|e| failed().with_detail(format!("client assertion: {e}")))?;
        // RFC 8725 §3.11: explicit typing keeps a JWT made for one use (a DPoP proof, an
        // access token) from being replayed as another, here with the client's own key. A
        // client assertion is untyped, `JWT`, or `client-authentication+jwt`
        // (draft-ietf-oauth-rfc7523bis §5); RFC 7515 §4.1.9: case-insensitive, and the
        // `application/` prefix may be omitted.
        if let Some(typ) = jws.header.get("typ") {
            let typ = typ.as_str().unwrap_or_default().to_ascii_lowercase();
            let typ = typ.strip_prefix("application/").unwrap_or(&typ);
            if !matches!(typ, "jwt" | "client-authentication+jwt") {
                return Err(failed().with_detail(format!("a JWT of type {typ:?} is not a client assertion")));
            }
        }
        let claim = |k: &str| jws.claims.get(k).and_then(Value::as_str);
        // RFC 7523 §3 (1)(2): iss and sub MUST both be the client_id.
        let (Some(iss), Some(sub)) = (claim("iss"), claim("sub")) else {
            return Err(failed().with_detail("client assertion lacks iss or sub"));
        };
        if iss != sub {
            return Err(failed().with_detail("client assertion iss differs from sub"));
        }
        if self.client_id.as_deref().is_some_and(|id| id != iss) {
            return Err(failed().with_detail("client assertion iss differs from client_id"));
        }
        let entry = lookup(ctx, iss).await?;
        let client = &entry.client;
        let alg = jws.alg().unwrap_or("none");
        // RFC 8414 §2: the algorithms accepted are the ones the metadata advertises.
        if !ASSERTION_SIGNING_ALGS.contains(&alg) {
            return Err(failed().with_detail(format!("client assertion algorithm {alg} is not supported")));
        }
        let verified = match client.token_endpoint_auth_method {
            // The key comes from the client's registered JWK Set, never from the token; the
            // algorithm must fit the key type (RSA→RS/PS, EC→ES, OKP→EdDSA), never none/HS*.
            // With a jwks_uri the set is fetched (cached; a kid it lacks refetches it, so
            // a client's key rotation works); a set that cannot be had fails the client.
            TokenEndpointAuthMethod::PrivateKeyJwt => {
                // Its JWK Set (inline or fetched) and its enabled credentials not expired.
                let mut keys =
                    ctx.registry.client_keys(client, jws.kid(), ctx.now).await.map_err(|e| failed().with_detail(e))?.to_vec();
                keys.extend(entry.credential_keys(ctx.now).map_err(|e| failed().with_detail(e))?);
                keys.iter()
                    .filter(|k| jws.kid().is_none() || k.kid.as_deref() == jws.kid())
                    .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg))
                    .any(|k| jws.verify_with(&k.key))
            }
            // RFC 7523 / OIDC Core §9: client_secret_jwt is HMAC with the client secret; HS256 only.
            TokenEndpointAuthMethod::ClientSecretJwt => {
                alg == "HS256" && ctx.registry.shared_secrets(&entry.secrets, ctx.now).iter().any(|s| jws.verify_hs256(s))
            }
            other => {
                return Err(
                    failed().with_detail(format!("client {iss} is registered for {}, not JWT authentication", other.as_str()))
                )
            }
        };
        if !verified {
            return Err(failed().with_detail(format!("client assertion signature ({alg}) does not verify for {iss}")));
        }
        check_assertion_claims(&jws, ctx)?;
        // RFC 7523 §3 (7): the jti may be used only once; remembered until exp by every node.
        let jti = claim("jti").ok_or_else(|| proven("client_assertion has no jti".into()))?;
        let exp = jws.claims.get("exp").and_then(Value::as_i64).unwrap_or(ctx.now);
        let first = ctx
            .registry
            .store()
            .remember_jti(ASSERTION_JTI_NAMESPACE, &format!("{iss}:{jti}"), exp + ctx.limits.leeway, ctx.now)
            .await?;
        if !first {
            return Err(proven(format!("client_assertion jti {jti:?} was already used")));
        }
        let method = client.token_endpoint_auth_method;
        Ok(AuthenticatedClient { client: client.clone(), method })
    }
}

async fn lookup(ctx: &ClientAuthContext<'_>, id: &str) -> Result<std::sync::Arc<ClientEntry>, Error> {
    ctx.registry.client_entry(id).await?.ok_or_else(|| failed().with_detail(format!("unknown client {id:?}")))
}

/// An assertion whose signature verified: the client is proven, so saying which check
/// failed (issue 17) reveals nothing about which clients exist. The code stays
/// `invalid_client` (RFC 6749 §5.2, RFC 7523 §3.1).
fn proven(why: String) -> Error {
    Error::invalid_client(why.clone()).with_detail(why)
}

/// RFC 7523 §3 (3)-(5): audience, expiry, not-before/issued-at, lifetime.
fn check_assertion_claims(jws: &Jws, ctx: &ClientAuthContext<'_>) -> Result<(), Error> {
    let now = ctx.now;
    let limits = ctx.limits;
    let accepted =
        |a: &str| a == ctx.issuer || a == ctx.issuer.trim_end_matches('/') || a == ctx.token_endpoint || a == ctx.endpoint;
    // (3) aud MUST identify the authorization server; an array with anything else is refused.
    let aud_ok = match jws.claims.get("aud") {
        Some(Value::String(a)) => accepted(a),
        Some(Value::Array(list)) => !list.is_empty() && list.iter().all(|v| v.as_str().is_some_and(accepted)),
        _ => false,
    };
    if !aud_ok {
        return Err(proven(format!("client_assertion aud must be this issuer or {}", ctx.token_endpoint)));
    }
    // (4) exp is required; the JWT MUST be rejected once it has expired (with the leeway).
    let exp = jws.claims.get("exp").and_then(Value::as_i64).ok_or_else(|| proven("client_assertion has no exp".into()))?;
    if exp + limits.leeway <= now {
        return Err(proven(format!("client_assertion has expired (exp is {} s ago)", now - exp)));
    }
    // (5) nbf / iat: not usable before; allow the configured clock skew only.
    for claim in ["nbf", "iat"] {
        if let Some(t) = jws.claims.get(claim) {
            let t = t.as_i64().ok_or_else(|| proven(format!("client_assertion {claim} is not a number")))?;
            if t > now + limits.max_future {
                return Err(proven(format!(
                    "client_assertion {claim} is {} s in the future (at most {} s allowed)",
                    t - now,
                    limits.max_future
                )));
            }
        }
    }
    // The server's own bound on how long an assertion (and so its remembered jti) may live.
    let issued = jws.claims.get("iat").and_then(Value::as_i64).unwrap_or(now);
    if exp - issued > limits.max_lifetime {
        return Err(proven(format!(
            "client_assertion lifetime {} s exceeds the maximum {} s",
            exp - issued,
            limits.max_lifetime
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret+x"));
        assert_eq!(parse_basic(&h).unwrap(), ("my client".to_string(), "s:cret x".to_string()));
        let h = format!("basic {}", STANDARD.encode("id:pa:ss"));
        assert_eq!(parse_basic(&h).unwrap(), ("id".to_string(), "pa:ss".to_string()));
        assert!(parse_basic("Basic !!!").is_err());
        assert!(parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))).is_err());
        assert_eq!(parse_basic("Bearer abc").unwrap_err().code, crate::ErrorCode::InvalidRequest);
    }

    #[test]
    fn one_method_per_request() {
        let c =
            ClientCredentials { basic: Some(("a".into(), "b".into())), client_secret: Some("b".into()), ..Default::default() };
        assert_eq!(c.method().unwrap_err().code, crate::ErrorCode::InvalidRequest);
        let c = ClientCredentials { client_id: Some("a".into()), ..Default::default() };
        assert_eq!(c.method().unwrap(), TokenEndpointAuthMethod::None);
    }
}
