//! grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523 §2.1, issue 20) on
//! every store: assertions of trusted issuers (inline JWKS and a `jwks_uri` served by a
//! local HTTP server), each subject mapping, jti replay, the injected clock for expiry,
//! every refusal with its code; trusted-issuer JWTs as token-exchange subjects with
//! `may_act`; and the `tessera issuers` CLI.
//!
//! The assertions are signed with `ring` (an implementation independent of Tessera's) and
//! posted as forms: the `oauth2` crate has no jwt-bearer request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tessera_core::crypto::random_token;
use tessera_core::model::{AppType, ClientPatch, SubjectMapping, TrustedIssuerPatch, UserPatch};
use tessera_core::routes;

use crate::grant_token_exchange::{client_with_policy, ACCESS};
use crate::oauth_fixture::{backends, jwt_parts, sign_compact, Client, Fixture, API};
use crate::support::{Backend, Cli, TestData};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const IDP: &str = "https://idp.test.example";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// An external issuer's (or a client's) ES256 key.
pub struct IdpKey {
    pkcs8: Vec<u8>,
    kid: String,
}

impl IdpKey {
    pub fn new(kid: &str) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap().as_ref().to_vec();
        Self { pkcs8, kid: kid.into() }
    }

    pub fn jwk(&self) -> Value {
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8, &SystemRandom::new()).unwrap();
        let p = kp.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])})
    }

    pub fn sign(&self, claims: &Value) -> String {
        let rng = SystemRandom::new();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8, &rng).unwrap();
        sign_compact(&json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"}), claims, |m| {
            kp.sign(&rng, m).unwrap().as_ref().to_vec()
        })
    }
}

struct Bearer {
    f: Fixture,
    /// May use the grant, is listed by the issuer, has a client grant for API.
    app: Client,
    key: IdpKey,
}

impl Bearer {
    async fn start(backend: Backend, mapping: SubjectMapping) -> Self {
        let f = Fixture::start_configured(backend, |c| {
            c.grants.jwt_bearer = true;
            c.grants.token_exchange = true;
        })
        .await;
        let r = &f.state.deployment.registry;
        let c = r
            .create_client(ClientPatch {
                name: Some("bearer app".into()),
                app_type: Some(AppType::NonInteractive),
                grant_types: Some(vec![GRANT.into()]),
                ..Default::default()
            })
            .await
            .unwrap();
        let app = Client { id: c.client.client_id, secret: c.client_secret };
        r.create_grant(&app.id, API, Some(vec!["read:things".into()])).await.unwrap();
        let key = IdpKey::new("idp-1");
        r.create_trusted_issuer(TrustedIssuerPatch {
            issuer: Some(IDP.into()),
            jwks: Some(json!({"keys": [key.jwk()]})),
            subject_mapping: Some(mapping),
            clients: Some(vec![app.id.clone()]),
            ..Default::default()
        })
        .await
        .unwrap();
        Bearer { f, app, key }
    }

    /// Claims of a valid assertion for `sub`, with overrides (null removes a claim).
    fn claims(&self, sub: &str, overrides: Value) -> Value {
        let now = self.f.now();
        let mut c = json!({"iss": IDP, "sub": sub, "aud": self.f.url(routes::TOKEN), "iat": now, "exp": now + 60,
            "jti": random_token::<16>()});
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    async fn grant(&self, c: &Client, assertion: &str, extra: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut form = vec![
            ("grant_type", GRANT),
            ("assertion", assertion),
            ("client_id", c.id.as_str()),
            ("client_secret", c.secret.as_deref().unwrap()),
        ];
        form.extend_from_slice(extra);
        self.f.token(&form, None).await
    }
}

fn err(r: &(u16, reqwest::header::HeaderMap, Value)) -> (u16, &str) {
    (r.0, r.2["error"].as_str().unwrap_or("-"))
}

#[tokio::test]
async fn a_trusted_assertion_is_a_grant_once() {
    for backend in backends() {
        let b = Bearer::start(backend, SubjectMapping::UserId).await;
        let assertion = b.key.sign(&b.claims(&b.f.user_id, json!({})));
        let (s, h, v) = b.grant(&b.app, &assertion, &[("audience", API)]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(
            (v["token_type"].as_str(), v["scope"].as_str(), v["expires_in"].as_i64()),
            (Some("Bearer"), Some("read:things"), Some(86_400))
        );
        assert!(v.get("refresh_token").is_none() && v.get("issued_token_type").is_none(), "{v}");
        let claims = jwt_parts(v["access_token"].as_str().unwrap()).1;
        assert_eq!(claims["sub"], b.f.user_id.as_str());
        assert_eq!(claims["aud"], API);
        assert_eq!(claims["client_id"], b.app.id.as_str());
        assert_eq!(claims["gty"], "jwt-bearer");
        // RFC 7523 §3 (7): the same jti again is a replay, on every node (database cache).
        let r = b.grant(&b.app, &assertion, &[("audience", API)]).await;
        assert_eq!(err(&r), (400, "invalid_grant"), "{backend}: replay");
        assert!(r.2["error_description"].as_str().unwrap().contains("already used"), "{}", r.2);
        // The issuer as aud is accepted too; the tenant's default audience applies.
        b.f.state.deployment.registry.set_default_audience(Some(API)).await.unwrap();
        let a = b.key.sign(&b.claims(&b.f.user_id, json!({"aud": b.f.issuer})));
        let (s, _, v) = b.grant(&b.app, &a, &[]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        // Within the clock leeway an assertion that just expired is still good; past it, not
        // (the injected clock moves, nothing sleeps).
        let a = b.key.sign(&b.claims(&b.f.user_id, json!({})));
        b.f.clock.advance(65);
        assert_eq!(b.grant(&b.app, &a, &[]).await.0, 200, "{backend}: 5 s past exp, inside the 10 s leeway");
        let a = b.key.sign(&b.claims(&b.f.user_id, json!({})));
        b.f.clock.advance(70);
        let r = b.grant(&b.app, &a, &[]).await;
        assert_eq!(err(&r), (400, "invalid_grant"), "{backend}: expired");
    }
}

#[tokio::test]
async fn subjects_map_to_verified_users_or_to_the_client() {
    for backend in backends() {
        let b = Bearer::start(backend, SubjectMapping::Email).await;
        let r = &b.f.state.deployment.registry;
        let a = b.key.sign(&b.claims("Alice@Example.com", json!({})));
        let (s, _, v) = b.grant(&b.app, &a, &[("audience", API)]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        assert_eq!(jwt_parts(v["access_token"].as_str().unwrap()).1["sub"], b.f.user_id.as_str());
        // An unverified address names nobody; neither does a blocked user.
        r.create_user(UserPatch { email: Some("eve@example.com".into()), ..Default::default() }, None).await.unwrap();
        let res = b.grant(&b.app, &b.key.sign(&b.claims("eve@example.com", json!({}))), &[("audience", API)]).await;
        assert_eq!(err(&res), (400, "invalid_grant"), "{backend}: unverified email");
        r.set_blocked(&b.f.user_id, true).await.unwrap();
        let res = b.grant(&b.app, &b.key.sign(&b.claims("alice@example.com", json!({}))), &[("audience", API)]).await;
        assert_eq!(err(&res), (400, "invalid_grant"), "{backend}: blocked");
        r.set_blocked(&b.f.user_id, false).await.unwrap();

        // Mapped to the client: sub must be the client itself.
        r.update_trusted_issuer(IDP, TrustedIssuerPatch { subject_mapping: Some(SubjectMapping::Client), ..Default::default() })
            .await
            .unwrap();
        let (s, _, v) = b.grant(&b.app, &b.key.sign(&b.claims(&b.app.id, json!({}))), &[("audience", API)]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        assert_eq!(jwt_parts(v["access_token"].as_str().unwrap()).1["sub"], format!("{}@clients", b.app.id));
        let res = b.grant(&b.app, &b.key.sign(&b.claims(&b.f.user_id, json!({}))), &[("audience", API)]).await;
        assert_eq!(err(&res), (400, "invalid_grant"), "{backend}: another sub");
        // By user id: an unknown id is refused.
        r.update_trusted_issuer(IDP, TrustedIssuerPatch { subject_mapping: Some(SubjectMapping::UserId), ..Default::default() })
            .await
            .unwrap();
        let res = b.grant(&b.app, &b.key.sign(&b.claims("auth0|nobody", json!({}))), &[("audience", API)]).await;
        assert_eq!(err(&res), (400, "invalid_grant"), "{backend}: unknown user");
    }
}

#[tokio::test]
async fn every_refusal_has_its_code() {
    for backend in backends() {
        let b = Bearer::start(backend, SubjectMapping::UserId).await;
        let f = &b.f;
        let now = f.now();
        let user = f.user_id.as_str();
        let other_key = IdpKey::new("idp-1");
        let cases: Vec<(&str, String)> = vec![
            ("unknown issuer", b.key.sign(&b.claims(user, json!({"iss": "https://nobody.example"})))),
            ("signed by another key", other_key.sign(&b.claims(user, json!({})))),
            ("aud is another server", b.key.sign(&b.claims(user, json!({"aud": "https://elsewhere.example/oauth/token"})))),
            ("no aud", b.key.sign(&b.claims(user, json!({"aud": null})))),
            ("no exp", b.key.sign(&b.claims(user, json!({"exp": null})))),
            ("expired beyond the leeway", b.key.sign(&b.claims(user, json!({"exp": now - 11, "iat": now - 60})))),
            ("nbf in the future", b.key.sign(&b.claims(user, json!({"nbf": now + 61})))),
            ("iat in the future", b.key.sign(&b.claims(user, json!({"iat": now + 61, "exp": now + 120})))),
            ("lives longer than an hour", b.key.sign(&b.claims(user, json!({"exp": now + 3601})))),
            ("no jti", b.key.sign(&b.claims(user, json!({"jti": null})))),
            ("no sub", b.key.sign(&b.claims(user, json!({"sub": null})))),
            ("not a JWT", "abc.def".to_string()),
            (
                "alg none",
                format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
                    URL_SAFE_NO_PAD.encode(b.claims(user, json!({})).to_string())
                ),
            ),
            (
                "HS256 with the public key as secret",
                sign_compact(&json!({"alg": "HS256", "kid": "idp-1"}), &b.claims(user, json!({})), |m| {
                    ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b.key.jwk().to_string().as_bytes()), m)
                        .as_ref()
                        .to_vec()
                }),
            ),
        ];
        for (what, assertion) in &cases {
            let r = b.grant(&b.app, assertion, &[("audience", API)]).await;
            assert_eq!(err(&r), (400, "invalid_grant"), "{backend}: {what}: {}", r.2);
            assert_eq!(r.1["cache-control"], "no-store");
        }
        let good = || b.key.sign(&b.claims(user, json!({})));
        // RFC 7523 §2.1: assertion is required.
        let form = [("grant_type", GRANT), ("client_id", b.app.id.as_str()), ("client_secret", b.app.secret.as_deref().unwrap())];
        let r = f.token(&form, None).await;
        assert_eq!(err(&r), (400, "invalid_request"), "{backend}");
        // Policy on the issued token, as client_credentials: no client grant, wider scope.
        let r = b.grant(&b.app, &good(), &[("audience", "https://nowhere.example")]).await;
        assert_eq!(err(&r), (403, "access_denied"), "{backend}");
        let r = b.grant(&b.app, &good(), &[("audience", API), ("scope", "write:things")]).await;
        assert_eq!(err(&r), (400, "invalid_scope"), "{backend}");
        // A refused request does not burn the jti: the same assertion then succeeds.
        let a = good();
        assert_eq!(b.grant(&b.app, &a, &[("audience", API), ("scope", "write:things")]).await.0, 400);
        assert_eq!(b.grant(&b.app, &a, &[("audience", API)]).await.0, 200, "{backend}");
        // A client that may use the grant but is not listed by the issuer.
        let r = &f.state.deployment.registry;
        let c = r
            .create_client(ClientPatch {
                name: Some("unlisted".into()),
                app_type: Some(AppType::NonInteractive),
                grant_types: Some(vec![GRANT.into()]),
                ..Default::default()
            })
            .await
            .unwrap();
        let unlisted = Client { id: c.client.client_id, secret: c.client_secret };
        r.create_grant(&unlisted.id, API, None).await.unwrap();
        let res = b.grant(&unlisted, &good(), &[("audience", API)]).await;
        assert_eq!(err(&res), (400, "invalid_grant"), "{backend}: issuer does not list the client");
        // A client without the grant type.
        let res = b.grant(&f.m2m, &good(), &[("audience", API)]).await;
        assert_eq!(err(&res), (400, "unauthorized_client"), "{backend}");
    }
}

#[tokio::test]
async fn off_unless_enabled() {
    let f = Fixture::start(Backend::Sqlite).await;
    let meta = f.http.get(f.url(routes::OPENID_CONFIGURATION)).send().await.unwrap().json::<Value>().await.unwrap();
    assert!(!meta["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT), "{meta}");
    let form = [
        ("grant_type", GRANT),
        ("assertion", "x"),
        ("client_id", f.m2m.id.as_str()),
        ("client_secret", f.m2m.secret.as_deref().unwrap()),
    ];
    let (s, _, v) = f.token(&form, None).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("unsupported_grant_type")), "{v}");
    let b = Bearer::start(Backend::Sqlite, SubjectMapping::UserId).await;
    let meta = b.f.http.get(b.f.url(routes::OPENID_CONFIGURATION)).send().await.unwrap().json::<Value>().await.unwrap();
    assert!(meta["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT), "{meta}");
}

/// A JWKS endpoint on 127.0.0.1 that counts its requests and serves what `body` holds.
async fn jwks_server(body: Arc<std::sync::Mutex<String>>, hits: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (body, hits) = (body.clone(), hits.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let text = body.lock().unwrap().clone();
                ([(axum::http::header::CONTENT_TYPE, "application/json")], text)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks")
}

#[tokio::test]
async fn jwks_uris_are_fetched_cached_and_refetched_for_a_new_kid() {
    for backend in backends() {
        let b = Bearer::start(backend, SubjectMapping::UserId).await;
        let r = &b.f.state.deployment.registry;
        let body = Arc::new(std::sync::Mutex::new(json!({"keys": [b.key.jwk()]}).to_string()));
        let hits = Arc::new(AtomicUsize::new(0));
        let uri = jwks_server(body.clone(), hits.clone()).await;
        r.update_trusted_issuer(IDP, TrustedIssuerPatch { jwks_uri: Some(uri.clone()), ..Default::default() }).await.unwrap();
        let user = b.f.user_id.clone();
        for _ in 0..3 {
            let (s, _, v) = b.grant(&b.app, &b.key.sign(&b.claims(&user, json!({}))), &[("audience", API)]).await;
            assert_eq!(s, 200, "{backend}: {v}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "{backend}: fetched once, then cached");
        // The issuer rotates to a new key: an unknown kid refetches, at most every 30 s.
        let rotated = IdpKey::new("idp-2");
        *body.lock().unwrap() = json!({"keys": [b.key.jwk(), rotated.jwk()]}).to_string();
        let res = b.grant(&b.app, &rotated.sign(&b.claims(&user, json!({}))), &[("audience", API)]).await;
        assert_eq!(err(&res), (400, "invalid_grant"), "{backend}: within 30 s of the fetch");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        b.f.clock.advance(31);
        let (s, _, v) = b.grant(&b.app, &rotated.sign(&b.claims(&user, json!({}))), &[("audience", API)]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        assert_eq!(hits.load(Ordering::SeqCst), 2, "{backend}: refetched for the new kid");
        // A JWK Set over the size limit is not used: with no good copy cached, 503.
        *body.lock().unwrap() = json!({"keys": [b.key.jwk()], "pad": "x".repeat(70_000)}).to_string();
        r.update_trusted_issuer(IDP, TrustedIssuerPatch { jwks_uri: Some(uri), ..Default::default() }).await.unwrap();
        let res = b.grant(&b.app, &b.key.sign(&b.claims(&user, json!({}))), &[("audience", API)]).await;
        assert_eq!(err(&res), (503, "temporarily_unavailable"), "{backend}: {}", res.2);
    }
}

/// RFC 8693 `token-type:jwt`: a trusted issuer's JWT as the subject, with `may_act`.
#[tokio::test]
async fn trusted_jwts_are_exchange_subjects_and_may_act_is_honoured() {
    for backend in backends() {
        let b = Bearer::start(backend, SubjectMapping::UserId).await;
        let r = &b.f.state.deployment.registry;
        let svc =
            client_with_policy(&b.f, "svc", json!({"audiences": [API], "subject_token_types": ["jwt"], "delegation": true}))
                .await;
        r.create_grant(&svc.id, API, None).await.unwrap();
        r.update_trusted_issuer(
            IDP,
            TrustedIssuerPatch { clients: Some(vec![b.app.id.clone(), svc.id.clone()]), ..Default::default() },
        )
        .await
        .unwrap();
        let actor = {
            let form = [
                ("grant_type", "client_credentials"),
                ("audience", API),
                ("client_id", svc.id.as_str()),
                ("client_secret", svc.secret.as_deref().unwrap()),
            ];
            b.f.token(&form, None).await.2["access_token"].as_str().unwrap().to_string()
        };
        let exchange = |subject: String, with_actor: bool| {
            let (svc, actor) = (&svc, actor.clone());
            let f = &b.f;
            async move {
                let mut form = vec![
                    ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".to_string()),
                    ("client_id", svc.id.clone()),
                    ("client_secret", svc.secret.clone().unwrap()),
                    ("subject_token", subject),
                    ("subject_token_type", JWT_TYPE.to_string()),
                ];
                if with_actor {
                    form.push(("actor_token", actor));
                    form.push(("actor_token_type", ACCESS.to_string()));
                }
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                f.token(&form, None).await
            }
        };
        let svc_sub = format!("{}@clients", svc.id);
        let subject = |may_act: Value| {
            b.key.sign(&b.claims(&b.f.user_id, json!({"aud": svc.id, "scope": "read:things", "may_act": may_act})))
        };
        let (s, _, v) = exchange(subject(json!({"sub": svc_sub})), true).await;
        assert_eq!(s, 200, "{backend}: {v}");
        let claims = jwt_parts(v["access_token"].as_str().unwrap()).1;
        assert_eq!(claims["sub"], b.f.user_id.as_str());
        assert_eq!(claims["act"], json!({"sub": svc_sub}));
        assert_eq!(claims["scope"], "read:things");
        // RFC 8693 §4.4: an actor the subject's may_act does not name is refused.
        let res = exchange(subject(json!({"sub": "someone-else@clients"})), true).await;
        assert_eq!(err(&res), (400, "invalid_request"), "{backend}: {}", res.2);
        // The JWT must be addressed to the client (its issuer's client_id/azp are another
        // namespace and count for nothing); one from an issuer that does not list it is refused.
        let res = exchange(
            b.key.sign(&b.claims(&b.f.user_id, json!({"aud": "https://other.example", "azp": svc.id, "client_id": svc.id}))),
            false,
        )
        .await;
        assert_eq!(err(&res), (400, "invalid_request"), "{backend}: {}", res.2);
        r.update_trusted_issuer(IDP, TrustedIssuerPatch { clients: Some(vec![b.app.id.clone()]), ..Default::default() })
            .await
            .unwrap();
        let res = exchange(subject(json!({"sub": svc_sub})), true).await;
        assert_eq!(err(&res), (400, "invalid_request"), "{backend}: {}", res.2);
    }
}

#[test]
fn the_issuers_cli_creates_lists_shows_updates_and_deletes() {
    for backend in backends() {
        let data = TestData::new(backend);
        let cli = Cli::new(&data);
        let policy = r#"{"audiences":["https://api.b"],"delegation":true}"#;
        let created = cli
            .run(&[
                "clients",
                "create",
                "--name",
                "svc",
                "--app-type",
                "non_interactive",
                "--grant-type",
                GRANT,
                "--token-exchange-policy",
                policy,
                "--json",
            ])
            .json();
        let id = created["client_id"].as_str().unwrap().to_string();
        assert_eq!(created["token_exchange_policy"]["delegation"], true, "[{backend}] {created}");
        assert_eq!(created["grant_types"], json!([GRANT]));
        let bad = cli.run(&["clients", "update", &id, "--token-exchange-policy", r#"{"audiences":[]}"#]);
        assert!(!bad.success && bad.stderr.contains("audiences"), "[{backend}] {}", bad.stderr);
        let cleared = cli.run(&["clients", "update", &id, "--token-exchange-policy", "none", "--json"]).json();
        assert!(cleared.get("token_exchange_policy").is_none(), "[{backend}] {cleared}");

        let jwks = data.dir.join("idp.json");
        std::fs::write(&jwks, json!({"keys": [IdpKey::new("k1").jwk()]}).to_string()).unwrap();
        let t = cli
            .run(&[
                "issuers",
                "create",
                "--issuer",
                IDP,
                "--jwks-file",
                jwks.to_str().unwrap(),
                "--subject-mapping",
                "email",
                "--client",
                &id,
                "--json",
            ])
            .json();
        assert_eq!((t["issuer"].as_str(), t["subject_mapping"].as_str()), (Some(IDP), Some("email")), "[{backend}] {t}");
        assert_eq!(t["clients"], json!([id]));
        let tid = t["id"].as_str().unwrap().to_string();
        let listed = cli.run(&["issuers", "list", "--json"]).json();
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert_eq!(cli.run(&["issuers", "show", IDP, "--json"]).json()["id"], tid.as_str());
        let updated = cli.run(&["issuers", "update", &tid, "--jwks-uri", "https://idp.test.example/jwks", "--json"]).json();
        assert_eq!(updated["jwks_uri"], "https://idp.test.example/jwks");
        assert!(updated.get("jwks").is_none(), "[{backend}] setting jwks_uri replaces the inline set: {updated}");
        // Refusals: an http URL that is not loopback, an unknown client, a duplicate issuer.
        assert!(cli.run(&["issuers", "update", &tid, "--jwks-uri", "http://idp.test.example/jwks"]).err().contains("jwks_uri"));
        assert!(cli.run(&["issuers", "update", &tid, "--client", "nope"]).err().contains("does not exist"));
        let dup = cli.run(&["issuers", "create", "--issuer", IDP, "--jwks-file", jwks.to_str().unwrap(), "--client", &id]);
        assert!(dup.err().contains("already exists"), "[{backend}] {}", dup.stderr);
        cli.run(&["issuers", "delete", &tid]).ok();
        assert!(cli.run(&["issuers", "show", &tid]).err().contains("does not exist"));
    }
}
