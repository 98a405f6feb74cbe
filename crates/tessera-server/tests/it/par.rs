//! Pushed authorization requests (RFC 9126): push with each kind of client, then the
//! browser brings only `client_id` + `request_uri` to /authorize, logs in, and the code is
//! redeemed; every refusal at push time with its exact status and code; a `request_uri`
//! is single use, bound to its client and expires (injected clock); per-client and
//! tenant-wide `require_pushed_authorization_requests`; DPoP at the push binds the code.

use serde_json::Value;
use tessera_core::clock::Clock;
use tessera_core::model::ClientPatch;
use tessera_core::routes;

use crate::dpop_proof::DpopKey;
use crate::oauth_fixture::pkce_pair;
use crate::support_web::*;

struct Push {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn push(app: &WebApp, form: &[(&str, &str)], dpop: Option<String>) -> Push {
    let mut req = reqwest::Client::new().post(app.url(routes::PAR)).form(form);
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    let resp = req.send().await.expect("POST /oauth/par");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Push { status, headers, body: resp.json().await.unwrap_or(Value::Null) }
}

/// The native (public) client's pushed request for the API with PKCE.
fn native_request<'a>(app: &'a WebApp, challenge: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("client_id", app.native.id.as_str()),
        ("redirect_uri", NATIVE_CALLBACK),
        ("response_type", "code"),
        ("scope", "openid profile offline_access read:things"),
        ("audience", API),
        ("state", "pushed-state"),
        ("nonce", "pushed-nonce"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

async fn request_uri(app: &WebApp, form: &[(&str, &str)]) -> String {
    let p = push(app, form, None).await;
    assert_eq!(p.status, 201, "[{}] push: {}", app.backend, p.body);
    p.body["request_uri"].as_str().expect("request_uri").to_string()
}

async fn web_secret(app: &WebApp, client_id: &str) -> String {
    app.state.deployment.registry.rotate_client_secret(client_id, 0).await.expect("secret")
}

/// An HTML error page with this code (never a redirect).
async fn assert_page(app: &WebApp, what: &str, r: reqwest::Response, code: &str) {
    let status = r.status();
    assert!(r.headers().get("location").is_none(), "[{}] {what}: must not redirect", app.backend);
    let body = r.text().await.unwrap();
    assert_eq!(status, 400, "[{}] {what}: {body}", app.backend);
    assert!(body.contains(&format!("<code>{code}</code>")), "[{}] {what}: {body}", app.backend);
}

type Form = Vec<(&'static str, String)>;

fn owned(base: &[(&'static str, &str)]) -> Form {
    base.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn with(base: &[(&'static str, &str)], k: &'static str, v: &str) -> Form {
    let mut p = without(base, k);
    p.push((k, v.to_string()));
    p
}

fn without(base: &[(&'static str, &str)], k: &str) -> Form {
    base.iter().filter(|(bk, _)| *bk != k).map(|(bk, bv)| (*bk, bv.to_string())).collect()
}

async fn redeem(app: &WebApp, form: &[(&str, &str)], dpop: Option<String>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(app.url(routes::TOKEN)).form(form);
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn push_then_authorize_with_only_the_request_uri() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let (verifier, challenge) = pkce_pair();
        let p = push(&app, &native_request(&app, &challenge), None).await;
        assert_eq!(p.status, 201, "[{backend}] {}", p.body);
        assert_eq!(p.headers["cache-control"], "no-store");
        assert_eq!(p.body["expires_in"], 60, "[{backend}] the default lifetime");
        let uri = p.body["request_uri"].as_str().unwrap();
        let opaque = uri.strip_prefix("urn:ietf:params:oauth:request_uri:").expect("RFC 9126 §2.2 prefix");
        assert!(opaque.len() >= 43, "[{backend}] {uri}");

        // RFC 9126 §4 / RFC 9101 §5: parameters sent beside request_uri are ignored.
        let b = Browser::new();
        let front = [
            ("client_id", app.native.id.as_str()),
            ("request_uri", uri),
            ("state", "front-state"),
            ("redirect_uri", "http://127.0.0.1/elsewhere"),
            ("scope", "openid"),
        ];
        let done = b.login(&app, &app.authorize_url(&front)).await;
        assert_eq!(done.status(), 303, "[{backend}]");
        let to = location(&done);
        assert!(to.starts_with(&format!("{NATIVE_CALLBACK}?")), "[{backend}] the pushed redirect_uri: {to}");
        let q = query_of(&to);
        assert_eq!(q["state"], "pushed-state", "[{backend}]");
        assert_eq!(q["iss"], app.issuer);

        let form = [
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", NATIVE_CALLBACK),
            ("client_id", app.native.id.as_str()),
        ];
        let (status, tokens) = redeem(&app, &form, None).await;
        assert_eq!(status, 200, "[{backend}] {tokens}");
        assert_eq!(tokens["scope"], "offline_access openid profile read:things", "[{backend}] the pushed scope");
        assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string(), "[{backend}] {tokens}");
        let (_, claims) = crate::oauth_fixture::jwt_parts(tokens["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"][0], API, "[{backend}] the pushed audience");
        let (_, id) = crate::oauth_fixture::jwt_parts(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["nonce"], "pushed-nonce", "[{backend}]");

        // A confidential client authenticates at the PAR endpoint as at the token endpoint.
        let secret = web_secret(&app, &app.web.id).await;
        let form = [
            ("client_id", app.web.id.as_str()),
            ("client_secret", secret.as_str()),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
        ];
        let uri = request_uri(&app, &form).await;
        let r = b.get(&app.authorize_url(&[("client_id", &app.web.id), ("request_uri", &uri)])).await;
        // The browser has a session now: the code comes at once.
        assert_eq!(r.status(), 302, "[{backend}]");
        let q = query_of(&location(&r));
        let form = [
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", CALLBACK),
            ("client_id", app.web.id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        assert_eq!(redeem(&app, &form, None).await.0, 200, "[{backend}]");
    }
}

#[tokio::test]
async fn request_uri_is_single_use_bound_to_its_client_and_expires() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let (_, challenge) = pkce_pair();
        let b = Browser::new();
        let authorize = |client: &str, uri: &str| app.authorize_url(&[("client_id", client), ("request_uri", uri)]);
        let to_login = |r: &reqwest::Response| r.status() == 302 && location(r).contains(routes::LOGIN);

        // Another client's request_uri is refused, and trying it does not burn it.
        let uri = request_uri(&app, &native_request(&app, &challenge)).await;
        let r = b.get(&authorize(&app.web.id, &uri)).await;
        assert_page(&app, "foreign client", r, "invalid_request_uri").await;
        let r = b.get(&authorize(&app.native.id, &uri)).await;
        assert!(to_login(&r), "[{backend}] the owner can still use it: {r:?}");
        // Single use.
        let r = b.get(&authorize(&app.native.id, &uri)).await;
        assert_page(&app, "reused", r, "invalid_request_uri").await;

        // Expired: usable just before its 60 s, not at them.
        let uri = request_uri(&app, &native_request(&app, &challenge)).await;
        let late = request_uri(&app, &native_request(&app, &challenge)).await;
        app.clock.advance(59);
        assert!(to_login(&b.get(&authorize(&app.native.id, &uri)).await), "[{backend}] at 59 s");
        app.clock.advance(1);
        let r = b.get(&authorize(&app.native.id, &late)).await;
        assert_page(&app, "expired", r, "invalid_request_uri").await;

        // Not one of ours, or made up.
        for bogus in [
            "https://app.example.com/request.jwt",
            "urn:ietf:params:oauth:request_uri:",
            "urn:ietf:params:oauth:request_uri:nope",
        ] {
            let r = b.get(&authorize(&app.native.id, bogus)).await;
            assert_page(&app, bogus, r, "invalid_request_uri").await;
        }
        // client_id is required with a request_uri (RFC 9126 §4).
        let r = b.get(&app.authorize_url(&[("request_uri", &late)])).await;
        assert_page(&app, "no client_id", r, "invalid_request").await;
    }
}

#[tokio::test]
async fn every_refusal_at_push_time_has_its_code() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let secret = web_secret(&app, &app.web.id).await;
        let cc_secret = web_secret(&app, &app.cc_only.id).await;
        let (_, challenge) = pkce_pair();
        let native = native_request(&app, &challenge);
        let web = vec![
            ("client_id", app.web.id.as_str()),
            ("client_secret", secret.as_str()),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
        ];
        let mut cc = owned(&web);
        cc.retain(|(k, _)| *k != "client_id" && *k != "client_secret");
        cc.push(("client_id", app.cc_only.id.clone()));
        cc.push(("client_secret", cc_secret.clone()));
        let cases: Vec<(&str, Form, u16, &str)> = vec![
            ("unregistered redirect_uri", with(&web, "redirect_uri", "https://evil.example/cb"), 400, "invalid_request"),
            ("public client without PKCE", without(&native, "code_challenge"), 400, "invalid_request"),
            ("PKCE plain", with(&native, "code_challenge_method", "plain"), 400, "invalid_request"),
            ("response_type token", with(&web, "response_type", "token"), 400, "unsupported_response_type"),
            ("no response_type", without(&web, "response_type"), 400, "invalid_request"),
            ("bad scope", with(&web, "scope", "openid \"x"), 400, "invalid_scope"),
            ("unknown audience", with(&web, "audience", "https://unknown.example"), 403, "access_denied"),
            ("unknown resource", with(&web, "resource", "https://unknown.example"), 400, "invalid_target"),
            ("request_uri pushed", with(&web, "request_uri", "urn:ietf:params:oauth:request_uri:x"), 400, "invalid_request"),
            ("request object", with(&web, "request", "eyJhbGciOiJub25lIn0.e30."), 400, "invalid_request"),
            ("prompt unknown", with(&web, "prompt", "sideways"), 400, "invalid_request"),
            ("dpop_jkt malformed", with(&web, "dpop_jkt", "short"), 400, "invalid_request"),
            ("client without the code grant", cc, 400, "unauthorized_client"),
            ("wrong secret", with(&web, "client_secret", "wrong"), 401, "invalid_client"),
            ("unknown client", with(&native, "client_id", "nope"), 401, "invalid_client"),
            ("no client authentication", without(&web, "client_secret"), 401, "invalid_client"),
        ];
        for (name, form, status, code) in cases {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let p = push(&app, &pairs, None).await;
            assert_eq!((p.status, p.body["error"].as_str()), (status, Some(code)), "[{backend}] {name}: {}", p.body);
            assert_eq!(p.headers["cache-control"], "no-store", "[{backend}] {name}");
        }
        // Only POST (RFC 9126 §2).
        let r = reqwest::get(app.url(routes::PAR)).await.unwrap();
        assert_eq!(r.status(), 405, "[{backend}]");
    }
}

#[tokio::test]
async fn require_pushed_authorization_requests_per_client_and_tenant_wide() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let (_, challenge) = pkce_pair();
        let registry = &app.state.deployment.registry;
        let b = Browser::new();
        let front = [
            ("client_id", app.native.id.as_str()),
            ("redirect_uri", NATIVE_CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        assert_eq!(b.get(&app.authorize_url(&front)).await.status(), 302);
        let patch = ClientPatch { require_pushed_authorization_requests: Some(true), ..Default::default() };
        let updated = registry.update_client(&app.native.id, patch).await.unwrap();
        assert!(updated.client.require_pushed_authorization_requests);
        let r = b.get(&app.authorize_url(&front)).await;
        assert_eq!(r.status(), 302, "[{backend}]");
        let q = query_of(&location(&r));
        assert!(location(&r).starts_with(NATIVE_CALLBACK), "[{backend}] the redirect URI is verified: redirected");
        assert_eq!((q["error"].as_str(), q["state"].as_str()), ("invalid_request", "s"), "[{backend}]");
        // Through PAR it works; other clients are unaffected.
        let uri = request_uri(&app, &native_request(&app, &challenge)).await;
        let r = b.get(&app.authorize_url(&[("client_id", &app.native.id), ("request_uri", &uri)])).await;
        assert!(location(&r).contains(routes::LOGIN), "[{backend}]");
        assert!(location(&b.get(&app.web_authorize(&[])).await).contains(routes::LOGIN), "[{backend}]");

        // Tenant-wide: every client, and discovery says so.
        let strict = WebApp::start_with(backend, |c| c.par.required = true).await;
        let r = b.get(&strict.web_authorize(&[])).await;
        let q = query_of(&location(&r));
        assert_eq!((q["error"].as_str(), q["state"].as_str()), ("invalid_request", "st-1"), "[{backend}]");
        let meta: Value = reqwest::get(strict.url(routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
        assert_eq!(meta["require_pushed_authorization_requests"], true);
        assert_eq!(meta["pushed_authorization_request_endpoint"], format!("{}oauth/par", strict.issuer));
        let meta: Value = reqwest::get(app.url(routes::OAUTH_AUTHORIZATION_SERVER)).await.unwrap().json().await.unwrap();
        assert_eq!(meta["require_pushed_authorization_requests"], false);
    }
}

#[tokio::test]
async fn a_dpop_proof_at_the_push_binds_the_code() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let (verifier, challenge) = pkce_pair();
        let key = DpopKey::new();
        let par_url = routes::url(&app.issuer, routes::PAR);
        let token_url = routes::url(&app.issuer, routes::TOKEN);
        let now = app.clock.now();

        // RFC 9449 §10.1: a dpop_jkt that names another key than the proof's is refused.
        let mut mismatched = native_request(&app, &challenge);
        let other = DpopKey::new().jkt();
        mismatched.push(("dpop_jkt", other.as_str()));
        let p = push(&app, &mismatched, Some(key.proof("POST", &par_url, now))).await;
        assert_eq!((p.status, p.body["error"].as_str()), (400, Some("invalid_request")), "[{backend}] {}", p.body);
        // A proof for another endpoint is not a proof for this one.
        let p = push(&app, &native_request(&app, &challenge), Some(key.proof("POST", &token_url, now))).await;
        assert_eq!((p.status, p.body["error"].as_str()), (400, Some("invalid_dpop_proof")), "[{backend}] {}", p.body);

        let p = push(&app, &native_request(&app, &challenge), Some(key.proof("POST", &par_url, now))).await;
        assert_eq!(p.status, 201, "[{backend}] {}", p.body);
        let uri = p.body["request_uri"].as_str().unwrap();
        let b = Browser::new();
        let done = b.login(&app, &app.authorize_url(&[("client_id", &app.native.id), ("request_uri", uri)])).await;
        let q = query_of(&location(&done));
        let form = [
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", NATIVE_CALLBACK),
            ("client_id", app.native.id.as_str()),
        ];
        let (status, body) = redeem(&app, &form, None).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "[{backend}] without the key: {body}");
        let (status, body) = redeem(&app, &form, Some(DpopKey::new().proof("POST", &token_url, now))).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "[{backend}] another key: {body}");
        let (status, body) = redeem(&app, &form, Some(key.proof("POST", &token_url, now))).await;
        assert_eq!(status, 200, "[{backend}] {body}");
        assert_eq!(body["token_type"], "DPoP");
        let (_, claims) = crate::oauth_fixture::jwt_parts(body["access_token"].as_str().unwrap());
        assert_eq!(claims["cnf"]["jkt"], key.jkt());
    }
}

#[test]
fn the_cli_sets_require_pushed_authorization_requests() {
    let data = crate::support::TestData::new(crate::support::Backend::Sqlite);
    let cli = crate::support::Cli::new(&data);
    let created = cli
        .run(&[
            "clients",
            "create",
            "--name",
            "TV",
            "--app-type",
            "native",
            "--callback",
            "http://127.0.0.1/cb",
            "--require-pushed-authorization-requests",
            "true",
            "--json",
        ])
        .json();
    assert_eq!(created["require_pushed_authorization_requests"], true, "{created}");
    let id = created["client_id"].as_str().unwrap();
    let updated = cli.run(&["clients", "update", id, "--require-pushed-authorization-requests", "false", "--json"]).json();
    assert_eq!(updated["require_pushed_authorization_requests"], false, "{updated}");
}

/// RFC 9126 §2: the PAR endpoint authenticates clients as the token endpoint does, every
/// method; an assertion's `aud` may be the issuer, the token endpoint or the PAR endpoint.
#[tokio::test]
async fn every_client_authentication_method_can_push() {
    use crate::oauth_fixture::{Fixture, CALLBACK as FIXTURE_CALLBACK};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::json;
    const ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    for backend in backends() {
        let f = Fixture::start(backend).await;
        let (_, challenge) = pkce_pair();
        let request = |client_id: &str| -> Form {
            vec![
                ("client_id", client_id.to_string()),
                ("redirect_uri", FIXTURE_CALLBACK.to_string()),
                ("response_type", "code".to_string()),
                ("scope", "openid".to_string()),
                ("code_challenge", challenge.clone()),
                ("code_challenge_method", "S256".to_string()),
            ]
        };
        let par = f.url(routes::PAR);
        let send = |form: Form, basic: Option<String>| {
            let mut req = reqwest::Client::new().post(&par).form(&form);
            if let Some(b) = basic {
                req = req.header("Authorization", b);
            }
            async move {
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let basic = format!("Basic {}", STANDARD.encode(format!("{}:{}", f.basic.id, f.basic.secret.as_deref().unwrap())));
        let mut post = request(&f.post.id);
        post.push(("client_secret", f.post.secret.clone().unwrap()));
        let with_assertion = |id: &str, assertion: String| {
            let mut p = request(id);
            p.push(("client_assertion_type", ASSERTION.into()));
            p.push(("client_assertion", assertion));
            p
        };
        let cases: Vec<(&str, Form, Option<String>)> = vec![
            ("client_secret_basic", request(&f.basic.id), Some(basic)),
            ("client_secret_post", post, None),
            ("client_secret_jwt, aud the token endpoint", with_assertion(&f.secret_jwt.id, f.secret_assertion(json!({}))), None),
            ("private_key_jwt, aud the PAR endpoint", with_assertion(&f.key_jwt.id, f.key_assertion(json!({"aud": par}))), None),
            ("private_key_jwt, aud the issuer", with_assertion(&f.key_jwt.id, f.key_assertion(json!({"aud": f.issuer}))), None),
            ("none (public client)", request(&f.public.id), None),
        ];
        for (name, form, basic) in cases {
            let (status, body) = send(form, basic).await;
            assert_eq!(status, 201, "[{backend}] {name}: {body}");
            assert!(body["request_uri"].as_str().is_some_and(|u| u.starts_with("urn:ietf:params:oauth:request_uri:")));
        }
        // An assertion for another audience is refused.
        let other = with_assertion(&f.key_jwt.id, f.key_assertion(json!({"aud": "https://elsewhere.example/"})));
        let (status, body) = send(other, None).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "[{backend}] {body}");
    }
}
