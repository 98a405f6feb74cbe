//! /userinfo (OIDC Core §5.3, RFC 6750): claims per granted scope; the token in the header
//! or a POST body; every kind of bad token is a 401 `invalid_token` challenge.

use serde_json::{json, Value};
use tessera_core::model::SigningAlg;
use tessera_core::routes;
use tessera_core::scope::Scope;
use tessera_core::tokens::claims::{sign_access_token, AccessTokenSpec, SignedAccessToken};

use crate::dpop_proof::{ath, DpopKey};
use crate::support_web::*;

struct Spec<'a> {
    scope: &'a str,
    audience: Option<&'a str>,
    issuer: Option<&'a str>,
    jkt: Option<&'a str>,
}

const OIDC: Spec<'static> = Spec { scope: "openid", audience: None, issuer: None, jkt: None };

fn token(app: &WebApp, spec: Spec<'_>) -> SignedAccessToken {
    let key = app.state.keys.get().signer(SigningAlg::RS256).expect("RS256 key");
    let scope = Scope::parse(spec.scope).unwrap();
    let now = app.state.now();
    sign_access_token(
        &key,
        &AccessTokenSpec {
            issuer: spec.issuer.unwrap_or(&app.issuer),
            subject: &app.user_id,
            client_id: &app.web.id,
            audience: spec.audience,
            scope: &scope,
            now,
            lifetime: 300,
            auth_time: Some(now),
            gty: None,
            jkt: spec.jkt,
        },
    )
}

async fn get(app: &WebApp, token: &str) -> reqwest::Response {
    Browser::new().http.get(app.url(routes::USERINFO)).bearer_auth(token).send().await.unwrap()
}

async fn claims(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    r.json().await.unwrap()
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers().get("www-authenticate").expect("WWW-Authenticate").to_str().unwrap().to_string()
}

async fn assert_invalid_token(r: reqwest::Response, ctx: &str) {
    assert_eq!(r.status(), 401, "{ctx}");
    assert!(challenge(&r).starts_with("Bearer error=\"invalid_token\", error_description=\""), "{ctx}: {}", challenge(&r));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "{ctx}");
}

#[tokio::test]
async fn claims_follow_the_granted_scopes() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let sub = app.user_id.clone();
        let c = claims(get(&app, &token(&app, OIDC).token).await).await;
        assert_eq!(c, json!({"sub": sub}));
        let c = claims(get(&app, &token(&app, Spec { scope: "openid email", ..OIDC }).token).await).await;
        assert_eq!(c, json!({"sub": sub, "email": EMAIL, "email_verified": true}));
        let c = claims(get(&app, &token(&app, Spec { scope: "openid profile", ..OIDC }).token).await).await;
        assert_eq!((c["name"].as_str(), c["given_name"].as_str()), (Some("Alice Example"), Some("Alice")));
        assert_eq!((c["nickname"].as_str(), c["preferred_username"].as_str()), (Some(USERNAME), Some(USERNAME)));
        assert!(c["updated_at"].is_i64() && c.get("email").is_none());
        // An API token with openid is also good for /userinfo (Auth0).
        let c =
            claims(get(&app, &token(&app, Spec { scope: "openid read:things", audience: Some(API), ..OIDC }).token).await).await;
        assert_eq!(c, json!({"sub": sub}));
        // RFC 6750 §2.2: form-encoded body parameter.
        let t = token(&app, OIDC).token;
        let r = Browser::new().http.post(app.url(routes::USERINFO)).form(&[("access_token", t.as_str())]).send().await.unwrap();
        assert_eq!(claims(r).await, json!({"sub": sub}));
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_with_a_bearer_challenge() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let http = Browser::new().http;
        let url = app.url(routes::USERINFO);

        let bare = "Bearer, DPoP algs=\"RS256 PS256 ES256 EdDSA\"";
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(
            (r.status().as_u16(), challenge(&r).as_str()),
            (401, bare),
            "[{backend}] no token: no error code (RFC 6750 3.1)"
        );
        let t = token(&app, OIDC);
        let r = http.get(format!("{url}?access_token={}", t.token)).send().await.unwrap();
        assert_eq!(
            (r.status().as_u16(), challenge(&r).as_str()),
            (401, bare),
            "[{backend}] the query string is not a place for tokens"
        );
        let r = http.post(&url).bearer_auth(&t.token).form(&[("access_token", t.token.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 400, "[{backend}] two methods at once");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");

        assert_invalid_token(get(&app, "not-a-jwt").await, "garbage").await;
        let r = http.get(&url).header("authorization", format!("Basic {}", t.token)).send().await.unwrap();
        assert_invalid_token(r, "wrong scheme").await;
        let api_only = token(&app, Spec { scope: "read:things", audience: Some(API), ..OIDC });
        assert_invalid_token(get(&app, &api_only.token).await, "audience is the API only").await;
        let foreign = token(&app, Spec { issuer: Some("https://other.example/"), ..OIDC });
        assert_invalid_token(get(&app, &foreign.token).await, "another issuer").await;
        let bound = token(&app, Spec { jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"), ..OIDC });
        assert_invalid_token(get(&app, &bound.token).await, "DPoP-bound token as Bearer").await;
        let mut tampered = t.token.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert_invalid_token(get(&app, &tampered).await, "tampered").await;

        // No openid: 403 insufficient_scope.
        let r = get(&app, &token(&app, Spec { scope: "profile", ..OIDC }).token).await;
        assert_eq!(r.status(), 403);
        assert!(challenge(&r).starts_with("Bearer error=\"insufficient_scope\""));

        // Revoked.
        let revoked = token(&app, OIDC);
        app.store().revoke_access_token(&revoked.jti, &app.web.id, revoked.expires_at, app.state.now()).await.unwrap();
        assert_invalid_token(get(&app, &revoked.token).await, "revoked").await;
        // Expired.
        let t = token(&app, OIDC);
        app.clock.advance(300);
        assert_invalid_token(get(&app, &t.token).await, "expired").await;
        // The user was blocked, then deleted.
        let t = token(&app, OIDC);
        app.state.deployment.registry.set_blocked(&app.user_id, true).await.unwrap();
        assert_invalid_token(get(&app, &t.token).await, "blocked user").await;
        app.state.deployment.registry.delete_user(&app.user_id).await.unwrap();
        assert_invalid_token(get(&app, &t.token).await, "deleted user").await;

        // CORS preflight for SPAs.
        let r = http.request(reqwest::Method::OPTIONS, &url).header("origin", "https://spa.example").send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        assert!(r.headers()["access-control-allow-headers"].to_str().unwrap().contains("Authorization"));
    }
}

#[tokio::test]
async fn dpop_bound_tokens_need_the_dpop_scheme_and_a_matching_proof() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let http = Browser::new().http;
        let url = app.url(routes::USERINFO);
        let htu = tessera_core::routes::url(&app.issuer, routes::USERINFO);
        let key = DpopKey::new();
        let jkt = key.jkt();
        let bound = token(&app, Spec { scope: "openid email", jkt: Some(&jkt), ..OIDC });
        let now = app.state.now();
        let proof = |k: &DpopKey, htm: &str, tok: &str| k.proof_with(htm, &htu, now, json!({}), json!({ "ath": ath(tok) }));
        let call = |p: Option<String>, tok: &str| {
            let mut req = http.get(&url).header("authorization", format!("DPoP {tok}"));
            if let Some(p) = p {
                req = req.header("dpop", p);
            }
            req.send()
        };

        let ok = call(Some(proof(&key, "GET", &bound.token)), &bound.token).await.unwrap();
        assert_eq!(claims(ok).await, json!({"sub": app.user_id, "email": EMAIL, "email_verified": true}), "[{backend}]");
        let r = http
            .post(&url)
            .header("authorization", format!("DPoP {}", bound.token))
            .header("dpop", proof(&key, "POST", &bound.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "[{backend}] POST with a POST proof");

        let dpop_error = async |r: reqwest::Response, code: &str, ctx: &str| {
            assert_eq!(r.status(), 401, "[{backend}] {ctx}");
            let c = challenge(&r);
            assert!(c.starts_with(&format!("DPoP algs=\"RS256 PS256 ES256 EdDSA\", error=\"{code}\"")), "[{backend}] {ctx}: {c}");
        };
        dpop_error(call(None, &bound.token).await.unwrap(), "invalid_dpop_proof", "no proof").await;
        dpop_error(
            call(Some(proof(&DpopKey::new(), "GET", &bound.token)), &bound.token).await.unwrap(),
            "invalid_dpop_proof",
            "another key",
        )
        .await;
        dpop_error(
            call(Some(proof(&key, "POST", &bound.token)), &bound.token).await.unwrap(),
            "invalid_dpop_proof",
            "wrong method",
        )
        .await;
        dpop_error(call(Some(key.proof("GET", &htu, now)), &bound.token).await.unwrap(), "invalid_dpop_proof", "no ath").await;
        let replayed = proof(&key, "GET", &bound.token);
        assert_eq!(call(Some(replayed.clone()), &bound.token).await.unwrap().status(), 200);
        dpop_error(call(Some(replayed), &bound.token).await.unwrap(), "invalid_dpop_proof", "replayed proof").await;
        let unbound = token(&app, OIDC);
        dpop_error(
            call(Some(proof(&key, "GET", &unbound.token)), &unbound.token).await.unwrap(),
            "invalid_token",
            "unbound token",
        )
        .await;
        assert_invalid_token(get(&app, &bound.token).await, "bound token as Bearer").await;
    }
}

#[tokio::test]
async fn dpop_server_nonces_are_demanded_and_handed_out_when_enabled() {
    for backend in backends() {
        let app = WebApp::start_with(backend, |c| c.dpop.nonce = "on".into()).await;
        let http = Browser::new().http;
        let htu = tessera_core::routes::url(&app.issuer, routes::USERINFO);
        let key = DpopKey::new();
        let jkt = key.jkt();
        let bound = token(&app, Spec { jkt: Some(&jkt), ..OIDC });
        let now = app.state.now();
        let send = |proof: String| {
            http.get(app.url(routes::USERINFO))
                .header("authorization", format!("DPoP {}", bound.token))
                .header("dpop", proof)
                .send()
        };
        let r = send(key.proof_with("GET", &htu, now, json!({}), json!({ "ath": ath(&bound.token) }))).await.unwrap();
        assert_eq!(r.status(), 401, "[{backend}]");
        assert!(challenge(&r).contains("error=\"use_dpop_nonce\""), "[{backend}] {}", challenge(&r));
        let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
        let r =
            send(key.proof_with("GET", &htu, now, json!({}), json!({ "ath": ath(&bound.token), "nonce": nonce }))).await.unwrap();
        assert_eq!(r.status(), 200, "[{backend}]");
        assert!(r.headers().contains_key("dpop-nonce"), "[{backend}] a fresh nonce for the next request");
    }
}
