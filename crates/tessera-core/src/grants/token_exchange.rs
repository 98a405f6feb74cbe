//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): a client
//! presents a token (the subject) and gets an access token for another API, either as the
//! subject (impersonation) or as an actor on the subject's behalf (delegation, with an
//! `actor_token`; the new token carries the `act` claim, §4.1, nested for prior actors).
//!
//! What a client may exchange is its [`TokenExchangePolicy`] (none: `unauthorized_client`).
//! Subject and actor tokens are Tessera access tokens (signature, issuer, expiry, and the
//! revocation list: one indexed read), Tessera ID tokens, or JWTs of trusted issuers. The
//! new token is for one API of the policy (`invalid_target` otherwise, §2.2.2), carries at
//! most the subject's scope (only narrowing), and by default lives no longer than the
//! subject and actor tokens. Nothing is written: the answer is a self-contained JWT.
//!
//! Error codes as §2.2.2 assigns them: an invalid, expired, revoked or foreign subject or
//! actor token, or one the policy does not accept, is `invalid_request` (RFC 8693 uses that
//! code, not `invalid_grant`, for the tokens of this grant); a target the server will not
//! issue for is `invalid_target`; a wider scope is `invalid_scope` (RFC 6749 §5.2).

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Params, TokenContext, TokenResponse};
use crate::client_auth::AuthenticatedClient;
use crate::crypto::ordered_id;
use crate::error::Error;
use crate::model::{Client, ExchangeTokenType, ResourceServer, TokenExchangePolicy};
use crate::scope::Scope;
use crate::tokens::claims::verify_access_token;
use crate::tokens::jose::Jws;

/// RFC 8693 §3: the identifier of an OAuth 2.0 access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 §3: a JWT.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// A subject or actor token after verification, in Tessera's subject namespace.
#[derive(Debug)]
struct Presented {
    /// `iss` as the token said it.
    iss: String,
    /// The Tessera subject: a user id, or `<client_id>@clients`.
    sub: String,
    scope: Scope,
    exp: i64,
    audiences: Vec<String>,
    /// The client the token was issued to (`client_id`, else `azp`).
    client_id: Option<String>,
    act: Option<Value>,
    may_act: Option<Value>,
    /// RFC 9449 `cnf.jkt` of a DPoP-bound token.
    jkt: Option<String>,
}

fn invalid_request(why: String) -> Error {
    Error::invalid_request(why)
}

fn unauthorized(why: &'static str) -> Error {
    Error::new(crate::ErrorCode::UnauthorizedClient, why)
}

fn invalid_target(why: String) -> Error {
    Error::new(crate::ErrorCode::InvalidTarget, why)
}

/// The claims of an exchanged access token: RFC 9068 §2.2 plus RFC 8693 §4.1 `act`.
#[derive(Serialize)]
struct ExchangedClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: &'a str,
    /// RFC 8693 §4.3: the client that requested the token.
    client_id: &'a str,
    azp: &'a str,
    #[serde(serialize_with = "as_display")]
    scope: &'a Scope,
    gty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

#[derive(Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

fn as_display<S: serde::Serializer>(v: &&Scope, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(*v)
}

pub async fn exchange(ctx: &TokenContext<'_>, params: &Params, auth: &AuthenticatedClient) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    // RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED.
    let subject_token = params.get("subject_token").ok_or_else(|| Error::invalid_request("subject_token is required"))?;
    let subject_type =
        params.get("subject_token_type").ok_or_else(|| Error::invalid_request("subject_token_type is required"))?;
    // §2.1: actor_token_type is REQUIRED when actor_token is present and MUST NOT be sent
    // without it.
    let actor = match (params.get("actor_token"), params.get("actor_token_type")) {
        (Some(t), Some(ty)) => Some((t, ty)),
        (None, None) => None,
        (Some(_), None) => return Err(Error::invalid_request("actor_token_type is required with actor_token")),
        (None, Some(_)) => return Err(Error::invalid_request("actor_token_type must not be sent without actor_token")),
    };
    // §2.1 requested_token_type: Tessera issues access tokens, which are JWTs.
    let issued_type = match params.get("requested_token_type").map(String::as_str) {
        None | Some(ACCESS_TOKEN_TYPE) => ACCESS_TOKEN_TYPE,
        Some(JWT_TOKEN_TYPE) => JWT_TOKEN_TYPE,
        Some(other) => return Err(invalid_request(format!("requested_token_type '{other}' cannot be issued"))),
    };
    let policy = client.token_exchange_policy.as_ref().ok_or_else(|| unauthorized("the client has no token exchange policy"))?;
    if actor.is_none() && !policy.impersonation {
        return Err(unauthorized("the client's policy allows only delegation: an actor_token is required"));
    }
    if actor.is_some() && !policy.delegation {
        return Err(unauthorized("the client's policy does not allow delegation (actor_token)"));
    }
    let api = target_api(ctx, params, policy).await?;
    let subject = verify(ctx, client, policy, subject_token, subject_type, "subject_token").await?;
    let actor = match actor {
        Some((token, ty)) => Some(verify(ctx, client, policy, token, ty, "actor_token").await?),
        None => None,
    };
    if let (Some(may_act), Some(actor)) = (&subject.may_act, &actor) {
        check_may_act(may_act, actor)?;
    }
    // RFC 9449 §6: a DPoP-bound subject token is usable only with a proof of its key, or
    // exchanging it would shed the binding.
    if let Some(bound) = &subject.jkt {
        if ctx.dpop.map(|p| p.jkt.as_str()) != Some(bound.as_str()) {
            return Err(Error::invalid_request("the subject_token is DPoP-bound: send a DPoP proof of its key"));
        }
    }
    let scope = downscope(params, &subject, &api)?;
    let jkt = super::dpop_binding(ctx, client, Some(&api))?;
    let mut lifetime = api.token_lifetime;
    if !policy.extend_lifetime {
        // Issue 20: the new token never outlives what it was made from, unless the policy says so.
        lifetime = lifetime.min(subject.exp - ctx.now);
        if let Some(a) = &actor {
            lifetime = lifetime.min(a.exp - ctx.now);
        }
    }
    if lifetime < 1 {
        return Err(Error::invalid_request("the subject_token or actor_token has expired"));
    }
    let act = act_claim(&subject, actor.as_ref());
    let jti = ordered_id::<12>("");
    let claims = ExchangedClaims {
        iss: ctx.issuer,
        sub: &subject.sub,
        aud: &api.identifier,
        iat: ctx.now,
        exp: ctx.now + lifetime,
        jti: &jti,
        client_id: &client.client_id,
        azp: &client.client_id,
        scope: &scope,
        gty: "token-exchange",
        act: act.as_ref(),
        cnf: jkt.as_deref().map(|jkt| Confirmation { jkt }),
    };
    let token = ctx.signer(api.signing_alg)?.sign_jwt("at+jwt", &claims);
    Ok(TokenResponse {
        access_token: token,
        refresh_token: None,
        id_token: None,
        token_type: super::token_type(jkt.as_deref()),
        expires_in: lifetime,
        scope: scope.to_string(),
        // §2.2.1: issued_token_type is REQUIRED.
        issued_token_type: Some(issued_type),
    })
}

/// §2.1 `audience` / `resource`: one API of the policy. Both may be sent if they name the
/// same API; without either, the policy's only API.
async fn target_api(
    ctx: &TokenContext<'_>,
    params: &Params,
    policy: &TokenExchangePolicy,
) -> Result<std::sync::Arc<ResourceServer>, Error> {
    let identifier = match (params.get("audience"), params.get("resource")) {
        // §2.2.2: unable to issue one token for every target named → invalid_target.
        (Some(a), Some(r)) if a != r => return Err(invalid_target("audience and resource name different APIs".into())),
        (Some(a), _) | (None, Some(a)) => a.clone(),
        (None, None) => match policy.audiences.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(Error::invalid_request("audience or resource is required: the client may exchange for several APIs"))
            }
        },
    };
    // §2.2.2: the server is unwilling to issue a token for a target outside the policy.
    if !policy.audiences.contains(&identifier) {
        return Err(invalid_target(format!("the client may not exchange tokens for '{identifier}'")));
    }
    ctx.registry
        .api_by_identifier(&identifier)
        .await?
        .ok_or_else(|| invalid_target(format!("'{identifier}' is not a registered API")))
}

/// The subject's scope narrowed to what the target API defines, or the requested subset.
fn downscope(params: &Params, subject: &Presented, api: &ResourceServer) -> Result<Scope, Error> {
    let offered = Scope::from_tokens(subject.scope.iter().filter(|s| api.has_scope(s)).map(str::to_string));
    match params.get("scope") {
        None => Ok(offered),
        Some(s) => {
            let asked = Scope::parse(s)?;
            // RFC 6749 §5.2 invalid_scope; issue 20: the scope may only narrow.
            if !asked.is_subset(&offered) {
                return Err(Error::invalid_scope(format!(
                    "scope exceeds the subject token's scope at '{}' ({offered})",
                    api.identifier
                )));
            }
            Ok(asked)
        }
    }
}

/// §4.1: `act` names the current actor; the subject token's own `act` (its prior actors)
/// nests inside. Without an actor (impersonation) the subject's chain is kept as it is.
fn act_claim(subject: &Presented, actor: Option<&Presented>) -> Option<Value> {
    let Some(actor) = actor else { return subject.act.clone() };
    let mut act = Map::new();
    act.insert("sub".into(), actor.sub.clone().into());
    if let Some(prior) = &subject.act {
        act.insert("act".into(), prior.clone());
    }
    Some(Value::Object(act))
}

/// §4.4: a subject token's `may_act` names who may act for it; the actor must match each
/// of its `sub` and `iss` that is given.
fn check_may_act(may_act: &Value, actor: &Presented) -> Result<(), Error> {
    let want = |k: &str| may_act.get(k).and_then(Value::as_str);
    let sub_ok = want("sub").is_none_or(|s| s == actor.sub);
    let iss_ok = want("iss").is_none_or(|i| i == actor.iss);
    if !(sub_ok && iss_ok) || (want("sub").is_none() && want("iss").is_none()) {
        return Err(Error::invalid_request("the actor is not one the subject_token's may_act allows"));
    }
    Ok(())
}

/// Verifies a subject or actor token of the given type and applies the policy's "whose
/// tokens" rule. `what` names the parameter in error descriptions.
async fn verify(
    ctx: &TokenContext<'_>,
    client: &Client,
    policy: &TokenExchangePolicy,
    token: &str,
    type_urn: &str,
    what: &'static str,
) -> Result<Presented, Error> {
    let kind = ExchangeTokenType::from_urn(type_urn)
        .ok_or_else(|| invalid_request(format!("{what}_type '{type_urn}' is not supported")))?;
    // §2.2.2: a token unacceptable based on policy is invalid_request. The policy names the
    // subject token types; an actor token may be any type, as long as it is the client's own.
    if what == "subject_token" && !policy.subject_token_types.contains(&kind) {
        return Err(invalid_request(format!("the client may not exchange {} tokens", kind.as_str())));
    }
    let presented = match kind {
        ExchangeTokenType::AccessToken => {
            let t = verify_access_token(ctx.keys, ctx.issuer, token, ctx.now).map_err(|e| {
                invalid_request(format!("the {what} is not a valid access token issued here"))
                    .with_detail(e.description().to_string())
            })?;
            // A revoked access token is refused (RFC 7009 §2: revocation takes effect at once).
            if ctx.registry.store().is_access_token_revoked(&t.jti).await? {
                return Err(invalid_request(format!("the {what} has been revoked")));
            }
            let jkt = t.jkt().map(str::to_string);
            Presented {
                iss: ctx.issuer.to_string(),
                audiences: audiences(&t.claims),
                client_id: Some(t.client_id.clone()).filter(|c| !c.is_empty()),
                act: t.claims.get("act").cloned(),
                may_act: t.claims.get("may_act").cloned(),
                sub: t.sub,
                scope: t.scope,
                exp: t.exp,
                jkt,
            }
        }
        ExchangeTokenType::IdToken => verify_id_token(ctx, token, what)?,
        ExchangeTokenType::Jwt => {
            let fail = |why: String| Error::invalid_request(why);
            let jwt = super::jwt_bearer::verify_trusted_jwt(ctx, client, token, fail).await?;
            let sub = super::jwt_bearer::map_subject(ctx, client, &jwt, fail).await?;
            let c = &jwt.jws.claims;
            let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
            Presented {
                iss: jwt.issuer.issuer.clone(),
                sub,
                scope: Scope::parse(&s("scope").unwrap_or_default()).unwrap_or_default(),
                exp: jwt.exp,
                audiences: audiences(c),
                // Another issuer's client ids are not Tessera's: only `aud` can name this client.
                client_id: None,
                act: c.get("act").cloned(),
                may_act: c.get("may_act").cloned(),
                jkt: None,
            }
        }
    };
    // The policy's "whose tokens" rule: issued to this client, addressed to it, or (for a
    // subject token) addressed to one of the APIs it fronts. An actor token must be the
    // client's own: relaying another party's token as actor would claim that it acts.
    let fronted = |a: &String| what == "subject_token" && policy.subject_audiences.contains(a);
    let mine = presented.client_id.as_deref() == Some(client.client_id.as_str())
        || presented.audiences.iter().any(|a| *a == client.client_id || fronted(a));
    if !mine {
        return Err(invalid_request(format!("the {what} was not issued to or addressed to this client")));
    }
    Ok(presented)
}

fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => vec![],
    }
}

/// An ID token Tessera issued (OIDC Core §3.1.3.7): a published kid with the key's own
/// algorithm, our `iss`, not an access token (RFC 9068 §2.1 `typ`), unexpired.
fn verify_id_token(ctx: &TokenContext<'_>, token: &str, what: &'static str) -> Result<Presented, Error> {
    let invalid = || invalid_request(format!("the {what} is not a valid ID token issued here"));
    let jws = Jws::parse(token).map_err(|_| invalid())?;
    if jws.header.get("typ").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
        return Err(invalid());
    }
    let key = jws.kid().and_then(|kid| ctx.keys.verifier(kid)).ok_or_else(invalid)?;
    if !key.verifies(&jws) {
        return Err(invalid());
    }
    let c = &jws.claims;
    if c.get("iss").and_then(Value::as_str) != Some(ctx.issuer) {
        return Err(invalid());
    }
    let exp = c.get("exp").and_then(Value::as_i64).ok_or_else(invalid)?;
    if exp <= ctx.now {
        return Err(invalid_request(format!("the {what} has expired")));
    }
    let sub = c.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(invalid)?.to_string();
    Ok(Presented {
        iss: ctx.issuer.to_string(),
        sub,
        // An ID token grants no API scope.
        scope: Scope::default(),
        exp,
        audiences: audiences(c),
        client_id: c.get("azp").and_then(Value::as_str).map(str::to_string),
        act: None,
        may_act: None,
        jkt: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(sub: &str, act: Option<Value>) -> Presented {
        Presented {
            iss: "https://id.example/".into(),
            sub: sub.into(),
            scope: Scope::default(),
            exp: 0,
            audiences: vec![],
            client_id: None,
            act,
            may_act: None,
            jkt: None,
        }
    }

    #[test]
    fn act_nests_prior_actors_inside_the_current_one() {
        let subject = presented("user-1", Some(serde_json::json!({"sub": "svc-a@clients"})));
        let actor = presented("svc-b@clients", None);
        assert_eq!(
            act_claim(&subject, Some(&actor)),
            Some(serde_json::json!({"sub": "svc-b@clients", "act": {"sub": "svc-a@clients"}}))
        );
        assert_eq!(act_claim(&presented("u", None), Some(&actor)), Some(serde_json::json!({"sub": "svc-b@clients"})));
        // Impersonation keeps the subject's chain.
        assert_eq!(act_claim(&subject, None), subject.act);
        assert_eq!(act_claim(&presented("u", None), None), None);
    }

    #[test]
    fn may_act_must_match_every_given_member() {
        let actor = presented("svc-b@clients", None);
        for (may_act, ok) in [
            (serde_json::json!({"sub": "svc-b@clients"}), true),
            (serde_json::json!({"sub": "svc-b@clients", "iss": "https://id.example/"}), true),
            (serde_json::json!({"sub": "svc-c@clients"}), false),
            (serde_json::json!({"sub": "svc-b@clients", "iss": "https://other/"}), false),
            (serde_json::json!({}), false),
        ] {
            assert_eq!(check_may_act(&may_act, &actor).is_ok(), ok, "{may_act}");
        }
    }
}
