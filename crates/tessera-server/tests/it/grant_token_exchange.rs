//! grant_type=urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693, issue 20) on
//! every store: impersonation and delegation with the `act` chain, downscoping, the
//! lifetime cap, discovery only when enabled, and every refusal with its exact code.
//!
//! The `oauth2`/`openidconnect` crates have no token-exchange request, so the exchanges are
//! form posts, as a client library would send them; the subject tokens come from the
//! regular grants.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tessera_core::model::{ApiScope, AppType, ClientPatch, ResourceServerPatch, TokenExchangePolicy};
use tessera_core::routes;

use crate::oauth_fixture::{backends, jwt_parts, Client, Fixture, API};
use crate::support::Backend;

pub const API_B: &str = "https://api-b.test.example";
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const ID: &str = "urn:ietf:params:oauth:token-type:id_token";

/// A fixture with token exchange enabled, a second API, and a service client that may
/// exchange tokens addressed to the first API for tokens at the second.
pub struct Exchange {
    pub f: Fixture,
    pub svc: Client,
}

pub async fn client_with_policy(f: &Fixture, name: &str, policy: Value) -> Client {
    let r = &f.state.deployment.registry;
    let c = r
        .create_client(ClientPatch {
            name: Some(name.into()),
            app_type: Some(AppType::NonInteractive),
            grant_types: Some(vec![GRANT.into(), "client_credentials".into()]),
            token_exchange_policy: Some(Some(TokenExchangePolicy::parse(&policy.to_string()).unwrap())),
            ..Default::default()
        })
        .await
        .unwrap();
    Client { id: c.client.client_id, secret: c.client_secret }
}

impl Exchange {
    pub async fn start(backend: Backend) -> Self {
        let f = Fixture::start_configured(backend, |c| c.grants.token_exchange = true).await;
        let r = &f.state.deployment.registry;
        r.create_api(ResourceServerPatch {
            identifier: Some(API_B.into()),
            scopes: Some(vec![
                ApiScope { value: "read:things".into(), description: String::new() },
                ApiScope { value: "write:things".into(), description: String::new() },
            ]),
            ..Default::default()
        })
        .await
        .unwrap();
        let svc =
            client_with_policy(&f, "svc", json!({"audiences": [API_B], "subject_audiences": [API], "delegation": true})).await;
        // Its own client_credentials token (for API_B) is what it presents as actor_token.
        r.create_grant(&svc.id, API_B, None).await.unwrap();
        Exchange { f, svc }
    }

    /// A user's access token for API (scope openid offline_access read:things) and the code
    /// response it came in.
    pub async fn user_tokens(&self) -> Value {
        self.f.post_tokens().await
    }

    pub async fn exchange(&self, c: &Client, extra: &[(&str, &str)]) -> (u16, HeaderMap, Value) {
        let mut form = vec![("grant_type", GRANT), ("client_id", c.id.as_str()), ("client_secret", c.secret.as_deref().unwrap())];
        form.extend_from_slice(extra);
        self.f.token(&form, None).await
    }

    /// The client's own client_credentials token at API_B.
    pub async fn own_token(&self, c: &Client) -> String {
        let form = [
            ("grant_type", "client_credentials"),
            ("audience", API_B),
            ("client_id", c.id.as_str()),
            ("client_secret", c.secret.as_deref().unwrap()),
        ];
        let (s, _, v) = self.f.token(&form, None).await;
        assert_eq!(s, 200, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }
}

/// A token request's extra form fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

fn err(r: &(u16, HeaderMap, Value)) -> (u16, &str) {
    (r.0, r.2["error"].as_str().unwrap_or("-"))
}

#[tokio::test]
async fn impersonation_narrows_to_the_target_api_and_never_outlives_the_subject() {
    for backend in backends() {
        let x = Exchange::start(backend).await;
        let at = x.user_tokens().await["access_token"].as_str().unwrap().to_string();
        let (s, h, v) = x.exchange(&x.svc, &[("subject_token", &at), ("subject_token_type", ACCESS), ("audience", API_B)]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        assert_eq!(h["cache-control"], "no-store");
        // RFC 8693 §2.2.1: issued_token_type, token_type, expires_in; no refresh token.
        assert_eq!(v["issued_token_type"], ACCESS);
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 86_400);
        assert!(v.get("refresh_token").is_none() && v.get("id_token").is_none(), "{v}");
        // openid and offline_access are not API_B's scopes: only read:things stays.
        assert_eq!(v["scope"], "read:things");
        let (head, claims) = jwt_parts(v["access_token"].as_str().unwrap());
        assert_eq!(head["typ"], "at+jwt");
        assert_eq!(claims["sub"], x.f.user_id.as_str());
        assert_eq!(claims["aud"], API_B);
        assert_eq!(claims["client_id"], x.svc.id.as_str());
        assert_eq!(claims["gty"], "token-exchange");
        assert!(claims.get("act").is_none(), "impersonation: no act: {claims}");
        // The exchanged token works where access tokens work (introspection says active).
        let (s, intro) =
            x.f.post_form(
                routes::INTROSPECT,
                &[("token", v["access_token"].as_str().unwrap())],
                Some((&x.svc.id, x.svc.secret.as_deref().unwrap())),
            )
            .await;
        assert_eq!((s, &intro["active"]), (200, &json!(true)), "{backend}: {intro}");

        // requested_token_type jwt is the same token, typed as asked; resource is an alias.
        let (s, _, v) = x
            .exchange(
                &x.svc,
                &[
                    ("subject_token", &at),
                    ("subject_token_type", ACCESS),
                    ("resource", API_B),
                    ("requested_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ],
            )
            .await;
        assert_eq!((s, v["issued_token_type"].as_str()), (200, Some("urn:ietf:params:oauth:token-type:jwt")), "{v}");
        // The policy names one API, so the target may be left out.
        let (s, _, v) = x.exchange(&x.svc, &[("subject_token", &at), ("subject_token_type", ACCESS)]).await;
        assert_eq!((s, jwt_parts(v["access_token"].as_str().unwrap()).1["aud"].as_str()), (200, Some(API_B)), "{v}");

        // The subject expires in 86400 s; 86000 s later the new token gets the 400 s left.
        x.f.clock.advance(86_000);
        let (s, _, v) = x.exchange(&x.svc, &[("subject_token", &at), ("subject_token_type", ACCESS)]).await;
        assert_eq!((s, v["expires_in"].as_i64()), (200, Some(400)), "{backend}: {v}");
        let claims = jwt_parts(v["access_token"].as_str().unwrap()).1;
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 400);
        // ... unless the policy lets it outlive the subject.
        let r = &x.f.state.deployment.registry;
        let policy = json!({"audiences": [API_B], "subject_audiences": [API], "extend_lifetime": true});
        r.update_client(
            &x.svc.id,
            ClientPatch {
                token_exchange_policy: Some(Some(TokenExchangePolicy::parse(&policy.to_string()).unwrap())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let (s, _, v) = x.exchange(&x.svc, &[("subject_token", &at), ("subject_token_type", ACCESS)]).await;
        assert_eq!((s, v["expires_in"].as_i64()), (200, Some(86_400)), "{backend}: {v}");
        // Once the subject has expired, it is refused.
        x.f.clock.advance(401);
        let r = x.exchange(&x.svc, &[("subject_token", &at), ("subject_token_type", ACCESS)]).await;
        assert_eq!(err(&r), (400, "invalid_request"), "{backend}: {}", r.2);
    }
}

#[tokio::test]
async fn delegation_adds_act_and_nests_prior_actors() {
    for backend in backends() {
        let x = Exchange::start(backend).await;
        let at = x.user_tokens().await["access_token"].as_str().unwrap().to_string();
        let actor = x.own_token(&x.svc).await;
        let (s, _, v) = x
            .exchange(
                &x.svc,
                &[("subject_token", &at), ("subject_token_type", ACCESS), ("actor_token", &actor), ("actor_token_type", ACCESS)],
            )
            .await;
        assert_eq!(s, 200, "{backend}: {v}");
        let delegated = v["access_token"].as_str().unwrap().to_string();
        let claims = jwt_parts(&delegated).1;
        assert_eq!(claims["sub"], x.f.user_id.as_str(), "the subject stays the user");
        // RFC 8693 §4.1: act names the actor.
        assert_eq!(claims["act"], json!({"sub": format!("{}@clients", x.svc.id)}));

        // A second service takes the delegated token (addressed to API_B) back to API, with
        // its own token as actor: the first actor nests inside the second.
        let svc2 =
            client_with_policy(&x.f, "svc2", json!({"audiences": [API], "subject_audiences": [API_B], "delegation": true})).await;
        x.f.state.deployment.registry.create_grant(&svc2.id, API_B, None).await.unwrap();
        let actor2 = x.own_token(&svc2).await;
        let (s, _, v) = x
            .exchange(
                &svc2,
                &[
                    ("subject_token", &delegated),
                    ("subject_token_type", ACCESS),
                    ("actor_token", &actor2),
                    ("actor_token_type", ACCESS),
                    ("audience", API),
                ],
            )
            .await;
        assert_eq!(s, 200, "{backend}: {v}");
        let claims = jwt_parts(v["access_token"].as_str().unwrap()).1;
        assert_eq!(claims["sub"], x.f.user_id.as_str());
        assert_eq!(claims["aud"], API);
        assert_eq!(claims["scope"], "read:things");
        assert_eq!(
            claims["act"],
            json!({"sub": format!("{}@clients", svc2.id), "act": {"sub": format!("{}@clients", x.svc.id)}}),
            "{backend}: the current actor outermost, prior actors nested"
        );
        // Impersonating with the delegated token keeps its chain.
        let policy = json!({"audiences": [API], "subject_audiences": [API_B]});
        let svc3 = client_with_policy(&x.f, "svc3", policy).await;
        let (s, _, v) = x.exchange(&svc3, &[("subject_token", &delegated), ("subject_token_type", ACCESS)]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        assert_eq!(jwt_parts(v["access_token"].as_str().unwrap()).1["act"], json!({"sub": format!("{}@clients", x.svc.id)}));

        // svc3 may not delegate; svc4 may only delegate.
        let r = x
            .exchange(
                &svc3,
                &[
                    ("subject_token", &delegated),
                    ("subject_token_type", ACCESS),
                    ("actor_token", &actor2),
                    ("actor_token_type", ACCESS),
                ],
            )
            .await;
        assert_eq!(err(&r), (400, "unauthorized_client"), "{backend}");
        let svc4 = client_with_policy(
            &x.f,
            "svc4",
            json!({"audiences": [API], "subject_audiences": [API_B], "impersonation": false, "delegation": true}),
        )
        .await;
        let r = x.exchange(&svc4, &[("subject_token", &delegated), ("subject_token_type", ACCESS)]).await;
        assert_eq!(err(&r), (400, "unauthorized_client"), "{backend}");
        // An actor token that is not the client's own (nor addressed to it) is refused.
        let r = x
            .exchange(
                &svc4,
                &[
                    ("subject_token", &delegated),
                    ("subject_token_type", ACCESS),
                    ("actor_token", &actor),
                    ("actor_token_type", ACCESS),
                ],
            )
            .await;
        assert_eq!(err(&r), (400, "invalid_request"), "{backend}: {}", r.2);
    }
}

#[tokio::test]
async fn id_tokens_are_subjects_when_the_policy_accepts_them() {
    for backend in backends() {
        let x = Exchange::start(backend).await;
        let tokens = x.user_tokens().await;
        let id_token = tokens["id_token"].as_str().unwrap().to_string();
        // svc accepts access tokens only.
        let r = x.exchange(&x.svc, &[("subject_token", &id_token), ("subject_token_type", ID)]).await;
        assert_eq!(err(&r), (400, "invalid_request"), "{backend}: {}", r.2);
        // The ID token is addressed to the post client; a policy naming it accepts it.
        let policy = json!({"audiences": [API_B], "subject_token_types": ["id_token"], "subject_audiences": [x.f.post.id]});
        let idx = client_with_policy(&x.f, "id-exchanger", policy).await;
        let (s, _, v) = x.exchange(&idx, &[("subject_token", &id_token), ("subject_token_type", ID)]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        let claims = jwt_parts(v["access_token"].as_str().unwrap()).1;
        assert_eq!(claims["sub"], x.f.user_id.as_str());
        // An ID token grants no API scope, and asking for one is widening.
        assert_eq!(v["scope"], "");
        let r = x.exchange(&idx, &[("subject_token", &id_token), ("subject_token_type", ID), ("scope", "read:things")]).await;
        assert_eq!(err(&r), (400, "invalid_scope"), "{backend}");
        // An access token presented as an ID token (and the reverse) is refused.
        let at = tokens["access_token"].as_str().unwrap();
        let r = x.exchange(&idx, &[("subject_token", at), ("subject_token_type", ID)]).await;
        assert_eq!(err(&r), (400, "invalid_request"), "{backend}");
        let r = x.exchange(&x.svc, &[("subject_token", &id_token), ("subject_token_type", ACCESS)]).await;
        assert_eq!(err(&r), (400, "invalid_request"), "{backend}");
    }
}

#[tokio::test]
async fn every_refusal_has_its_code() {
    use tessera_core::model::SigningAlg;
    use tessera_core::tokens::SigningKey;
    for backend in backends() {
        let x = Exchange::start(backend).await;
        let f = &x.f;
        let at = x.user_tokens().await["access_token"].as_str().unwrap().to_string();
        let sub = [("subject_token", at.as_str()), ("subject_token_type", ACCESS)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v: Vec<(&str, &str)> = sub.to_vec();
            v.extend_from_slice(extra);
            v
        };
        let cases: Vec<(Form, u16, &str)> = vec![
            // RFC 8693 §2.1 required parameters.
            (vec![("subject_token_type", ACCESS)], 400, "invalid_request"),
            (vec![("subject_token", at.as_str())], 400, "invalid_request"),
            (with(&[("actor_token", "x")]), 400, "invalid_request"),
            (with(&[("actor_token_type", ACCESS)]), 400, "invalid_request"),
            (
                vec![("subject_token", at.as_str()), ("subject_token_type", "urn:ietf:params:oauth:token-type:refresh_token")],
                400,
                "invalid_request",
            ),
            (vec![("subject_token", at.as_str()), ("subject_token_type", "access_token")], 400, "invalid_request"),
            (with(&[("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")]), 400, "invalid_request"),
            // §2.2.2 invalid_target: outside the policy, not one API, not registered.
            (with(&[("audience", API)]), 400, "invalid_target"),
            (with(&[("audience", API_B), ("resource", API)]), 400, "invalid_target"),
            (with(&[("audience", "https://nowhere.example")]), 400, "invalid_target"),
            // RFC 6749 §5.2 invalid_scope: wider than the subject's.
            (with(&[("scope", "read:things write:things")]), 400, "invalid_scope"),
            (vec![("subject_token", "not-a-token"), ("subject_token_type", ACCESS)], 400, "invalid_request"),
        ];
        for (form, status, code) in cases {
            let r = x.exchange(&x.svc, &form).await;
            assert_eq!(err(&r), (status, code), "{backend}: {form:?}: {}", r.2);
            assert_eq!(r.1["cache-control"], "no-store");
        }
        // A policy audience that is not a registered API.
        let ghost =
            client_with_policy(f, "ghost", json!({"audiences": ["https://ghost.example"], "subject_audiences": [API]})).await;
        let r = x.exchange(&ghost, &sub).await;
        assert_eq!(err(&r), (400, "invalid_target"), "{backend}");

        // Foreign-signed: the same claims under another key (unknown kid, then our kid).
        let (_, claims) = jwt_parts(&at);
        let foreign = SigningKey::generate(SigningAlg::RS256).unwrap();
        let forged = foreign.sign_jwt("at+jwt", &claims);
        let r = x.exchange(&x.svc, &[("subject_token", &forged), ("subject_token_type", ACCESS)]).await;
        assert_eq!(err(&r), (400, "invalid_request"), "{backend}");
        let (head, _) = jwt_parts(&at);
        let mut parts: Vec<String> = forged.split('.').map(str::to_string).collect();
        parts[0] = at.split('.').next().unwrap().to_string();
        assert_eq!(jwt_parts(&parts.join(".")).0["kid"], head["kid"]);
        let r = x.exchange(&x.svc, &[("subject_token", &parts.join(".")), ("subject_token_type", ACCESS)]).await;
        assert_eq!(err(&r), (400, "invalid_request"), "{backend}: our kid, another key's signature");

        // Not addressed to the client: the m2m client's token at API_B.
        f.state.deployment.registry.create_grant(&f.m2m.id, API_B, None).await.unwrap();
        let other = x.own_token(&f.m2m).await;
        let r = x.exchange(&x.svc, &[("subject_token", &other), ("subject_token_type", ACCESS)]).await;
        assert_eq!(err(&r), (400, "invalid_request"), "{backend}: {}", r.2);

        // A client without the grant type, and one with it but no policy.
        let r = x.exchange(&f.post, &sub).await;
        assert_eq!(err(&r), (400, "unauthorized_client"), "{backend}");
        let bare = f
            .state
            .deployment
            .registry
            .create_client(ClientPatch {
                name: Some("no-policy".into()),
                app_type: Some(AppType::NonInteractive),
                grant_types: Some(vec![GRANT.into()]),
                ..Default::default()
            })
            .await
            .unwrap();
        let bare = Client { id: bare.client.client_id, secret: bare.client_secret };
        let res = x.exchange(&bare, &sub).await;
        assert_eq!(err(&res), (400, "unauthorized_client"), "{backend}");
        // A wrong client secret is still a 401.
        let wrong = Client { id: x.svc.id.clone(), secret: Some("wrong".into()) };
        assert_eq!(x.exchange(&wrong, &sub).await.0, 401);

        // Revoked: the user's client revokes the access token; the exchange is refused.
        let (s, _) = f
            .post_form(
                routes::REVOKE,
                &[("token", &at), ("client_id", &f.post.id), ("client_secret", f.post.secret.as_deref().unwrap())],
                None,
            )
            .await;
        assert_eq!(s, 200);
        let res = x.exchange(&x.svc, &sub).await;
        assert_eq!(err(&res), (400, "invalid_request"), "{backend}: revoked: {}", res.2);
        assert_eq!(res.2["error_description"], "the subject_token has been revoked");
    }
}

#[tokio::test]
async fn off_unless_enabled_and_advertised_only_when_enabled() {
    for backend in backends() {
        let off = Fixture::start(backend).await;
        let meta = off.http.get(off.url(routes::OPENID_CONFIGURATION)).send().await.unwrap().json::<Value>().await.unwrap();
        assert!(!meta["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT), "{meta}");
        let svc = client_with_policy(&off, "svc", json!({"audiences": [API]})).await;
        let form = [
            ("grant_type", GRANT),
            ("client_id", svc.id.as_str()),
            ("client_secret", svc.secret.as_deref().unwrap()),
            ("subject_token", "x"),
            ("subject_token_type", ACCESS),
        ];
        let (s, _, v) = off.token(&form, None).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("unsupported_grant_type")), "{backend}: {v}");
        drop(off);

        let on = Exchange::start(backend).await;
        let meta = on.f.http.get(on.f.url(routes::OPENID_CONFIGURATION)).send().await.unwrap().json::<Value>().await.unwrap();
        assert!(meta["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT), "{meta}");
        assert!(!meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "urn:ietf:params:oauth:grant-type:jwt-bearer"));
    }
}

/// Public clients cannot have the grant; a policy is validated when set.
#[tokio::test]
async fn the_registry_refuses_unsafe_configurations() {
    let x = Exchange::start(Backend::Sqlite).await;
    let r = &x.f.state.deployment.registry;
    let public = r
        .create_client(ClientPatch {
            name: Some("spa".into()),
            app_type: Some(AppType::Spa),
            grant_types: Some(vec![GRANT.into()]),
            ..Default::default()
        })
        .await;
    assert!(public.unwrap_err().description().contains("public clients cannot use"), "public client");
    assert!(TokenExchangePolicy::parse(r#"{"audiences": []}"#).is_err());
}

/// RFC 9449: a DPoP-bound subject token is exchanged only with a proof of its key, and the
/// new token is bound to the proof's key.
#[tokio::test]
async fn a_dpop_bound_subject_needs_a_proof_of_its_key() {
    use crate::dpop_proof::DpopKey;
    for backend in backends() {
        let x = Exchange::start(backend).await;
        let (key, other) = (DpopKey::new(), DpopKey::new());
        let htu = x.f.url(routes::TOKEN);
        let post = |form: Vec<(&'static str, String)>, proof: Option<String>| {
            let mut req = x.f.http.post(x.f.url(routes::TOKEN)).form(&form);
            if let Some(p) = proof {
                req = req.header("DPoP", p);
            }
            async move {
                let resp = req.send().await.unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
            }
        };
        let auth = |grant: &str| {
            vec![
                ("grant_type", grant.to_string()),
                ("client_id", x.svc.id.clone()),
                ("client_secret", x.svc.secret.clone().unwrap()),
            ]
        };
        // The service's own client_credentials token, bound to `key`.
        let mut form = auth("client_credentials");
        form.push(("audience", API_B.into()));
        let (s, v) = post(form, Some(key.proof("POST", &htu, x.f.now()))).await;
        assert_eq!((s, v["token_type"].as_str()), (200, Some("DPoP")), "{backend}: {v}");
        let bound = v["access_token"].as_str().unwrap().to_string();
        let mut form = auth(GRANT);
        form.extend([("subject_token", bound.clone()), ("subject_token_type", ACCESS.into())]);
        let (s, v) = post(form.clone(), None).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")), "{backend}: no proof: {v}");
        let (s, v) = post(form.clone(), Some(other.proof("POST", &htu, x.f.now()))).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")), "{backend}: another key: {v}");
        let (s, v) = post(form, Some(key.proof("POST", &htu, x.f.now()))).await;
        assert_eq!((s, v["token_type"].as_str()), (200, Some("DPoP")), "{backend}: {v}");
        assert_eq!(jwt_parts(v["access_token"].as_str().unwrap()).1["cnf"], json!({"jkt": key.jkt()}));
    }
}
