//! Dynamic client registration (RFC 7591) and client configuration (RFC 7592), issue 21:
//! register → authorize (consent always: a dynamic client is third-party) → token →
//! refresh → read / update / delete with the registration access token; every policy
//! refusal with its RFC 7591 §3.2.2 code; initial access tokens; the per-address rate
//! limit; the cap; the expiry of never-used and idle clients with the injected clock.

use serde_json::{json, Value};
use tessera_core::routes;
use tessera_server::config::Config;

use crate::support_web::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const NATIVE_CB: &str = "http://127.0.0.1/mcp-callback";

fn open(c: &mut Config) {
    c.registration.mode = "open".into();
}

fn native_body() -> Value {
    json!({
        "client_name": "Agent <One>",
        "redirect_uris": [NATIVE_CB],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
        "client_uri": "https://agent.example",
        "software_id": "agent-one",
        "unknown_member": "ignored",
    })
}

async fn register(app: &WebApp, body: &Value, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().post(app.url(routes::REGISTER)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("register");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

/// `method` on the client configuration endpoint with `token`.
async fn configure(app: &WebApp, method: reqwest::Method, client_id: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
    let mut req =
        reqwest::Client::new().request(method, app.url(&format!("{}/{client_id}", routes::REGISTER))).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("configure");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// /authorize → login → consent (allowed) → code → tokens, as the public client would.
async fn sign_in(app: &WebApp, b: &Browser, client_id: &str, logged_in: bool) -> Value {
    let url = app.authorize_url(&[
        ("client_id", client_id),
        ("redirect_uri", NATIVE_CB),
        ("response_type", "code"),
        ("scope", "openid offline_access read:things"),
        ("resource", API),
        ("state", "s1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let r = if logged_in { b.get(&url).await } else { b.login(app, &url).await };
    let to = location(&r);
    // Third-party everywhere: the consent page comes, even for a logged-in user.
    assert!(to.contains(routes::CONSENT), "a dynamic client must be asked consent for, got {to}");
    let html = b.get(&to).await.text().await.unwrap();
    assert!(html.contains("Agent &lt;One&gt;") || html.contains("Renamed agent"), "{html}");
    let (txn, csrf) = (field(&html, "txn").unwrap(), field(&html, "csrf").unwrap());
    let allowed = b.post_form(&app.url(routes::CONSENT), &[("txn", &txn), ("csrf", &csrf), ("decision", "allow")]).await;
    let q = query_of(&location(&allowed));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", NATIVE_CB),
        ("client_id", client_id),
        ("code_verifier", VERIFIER),
    ];
    let resp = reqwest::Client::new().post(app.url(routes::TOKEN)).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn register_authorize_token_then_read_update_delete() {
    for backend in backends() {
        let app = WebApp::start_with(backend, open).await;
        let meta: Value = reqwest::get(app.url(routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
        assert_eq!(meta["registration_endpoint"], format!("{}oidc/register", app.issuer));

        let (s, h, reg) = register(&app, &native_body(), None).await;
        assert_eq!(s, 201, "[{backend}] {reg}");
        assert_eq!(h["cache-control"], "no-store");
        let id = reg["client_id"].as_str().unwrap().to_string();
        let rat = reg["registration_access_token"].as_str().unwrap().to_string();
        assert_eq!(reg["registration_client_uri"], format!("{}oidc/register/{id}", app.issuer));
        assert_eq!(reg["token_endpoint_auth_method"], "none");
        assert_eq!(reg["application_type"], "native");
        assert_eq!(reg["redirect_uris"], json!([NATIVE_CB]));
        assert_eq!(reg["grant_types"], json!(["authorization_code", "refresh_token"]));
        assert_eq!(reg["client_uri"], "https://agent.example");
        assert!(reg.get("client_secret").is_none() && reg.get("unknown_member").is_none(), "{reg}");
        assert!(reg["client_id_issued_at"].as_i64().unwrap() > 0);
        let client = app.store().get_client(&id).await.unwrap().expect("stored client");
        assert!(!client.is_first_party, "dynamic clients are third-party");
        let record = app.store().get_dynamic_client(&id).await.unwrap().expect("record");
        assert!(!record.registration_token_hash.contains(&rat), "only a keyed hash is stored");
        assert_eq!(record.last_used_at, None);

        // The Management API / CLI cannot make it first-party either.
        let r = &app.state.deployment.registry;
        let patch = tessera_core::model::ClientPatch { is_first_party: Some(true), ..Default::default() };
        let e = r.update_client(&id, patch).await.unwrap_err();
        assert_eq!(e.code, tessera_core::ErrorCode::InvalidBody, "{e:?}");

        let b = Browser::new();
        let tokens = sign_in(&app, &b, &id, false).await;
        assert_eq!(tokens["token_type"], "Bearer");
        let record = app.store().get_dynamic_client(&id).await.unwrap().unwrap();
        assert_eq!(record.last_used_at, Some(app.state.now()), "[{backend}] the token counts as a use");
        let refresh =
            [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap()), ("client_id", &id)];
        let resp = reqwest::Client::new().post(app.url(routes::TOKEN)).form(&refresh).send().await.unwrap();
        assert_eq!(resp.status(), 200);

        // RFC 7592 §2.1: read with the registration access token; any other token is
        // invalid_token (401 with a Bearer challenge).
        let (s, read) = configure(&app, reqwest::Method::GET, &id, &rat, None).await;
        assert_eq!(s, 200, "{read}");
        assert_eq!((read["client_id"].as_str(), read["client_name"].as_str()), (Some(id.as_str()), Some("Agent <One>")));
        assert!(read.get("registration_access_token").is_none());
        let resp =
            reqwest::Client::new().get(app.url(&format!("{}/{id}", routes::REGISTER))).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_token");
        let (s, v) = configure(&app, reqwest::Method::GET, &app.web.id, &rat, None).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_token")), "another client's configuration");

        // RFC 7592 §2.2: a full replacement carrying the client_id.
        let mut update = native_body();
        update["client_name"] = "Renamed agent".into();
        update["redirect_uris"] = json!([NATIVE_CB, "com.example.agent:/cb"]);
        let (s, v) = configure(&app, reqwest::Method::PUT, &id, &rat, Some(&update)).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_client_metadata")), "no client_id: {v}");
        update["client_id"] = id.clone().into();
        let (s, v) = configure(&app, reqwest::Method::PUT, &id, &rat, Some(&update)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["redirect_uris"], json!([NATIVE_CB, "com.example.agent:/cb"]));
        let client = app.store().get_client(&id).await.unwrap().unwrap();
        assert_eq!((client.name.as_str(), client.callbacks.len(), client.is_first_party), ("Renamed agent", 2, false));
        // Remembered consent covers the same scopes now: no question, a code straight away.
        let url = app.authorize_url(&[
            ("client_id", &id),
            ("redirect_uri", NATIVE_CB),
            ("response_type", "code"),
            ("scope", "openid read:things"),
            ("resource", API),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        assert!(query_of(&location(&b.get(&url).await)).contains_key("code"));

        // RFC 7592 §2.3: delete; the token and the client are gone.
        let (s, _) = configure(&app, reqwest::Method::DELETE, &id, &rat, None).await;
        assert_eq!(s, 204);
        assert!(app.store().get_client(&id).await.unwrap().is_none());
        let (s, v) = configure(&app, reqwest::Method::GET, &id, &rat, None).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_token")));
    }
}

#[tokio::test]
async fn policy_refusals_have_rfc_7591_codes() {
    for backend in backends() {
        let off = WebApp::start(backend).await;
        let meta: Value = reqwest::get(off.url(routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
        assert!(meta.get("registration_endpoint").is_none(), "off by default, not advertised");
        let (s, _, v) = register(&off, &native_body(), None).await;
        assert_eq!((s, v["error"].as_str()), (404, Some("not_found")));
        drop(off);

        // Without the per-address limit: every refusal below is counted by it otherwise.
        let app = WebApp::start_with(backend, |c| {
            open(c);
            c.registration.rate_limit = 0;
        })
        .await;
        let with = |k: &str, v: Value| {
            let mut b = native_body();
            b[k] = v;
            b
        };
        let table: Vec<(&str, Value, &str)> = vec![
            ("http redirect for a web client", with("application_type", "web".into()), "invalid_redirect_uri"),
            ("non-loopback http", with("redirect_uris", json!(["http://agent.example/cb"])), "invalid_redirect_uri"),
            ("private-use scheme not reverse-domain", with("redirect_uris", json!(["agent:/cb"])), "invalid_redirect_uri"),
            ("fragment", with("redirect_uris", json!(["https://agent.example/cb#x"])), "invalid_redirect_uri"),
            ("no redirect_uris", with("redirect_uris", Value::Null), "invalid_redirect_uri"),
            ("grant not allowed", with("grant_types", json!(["client_credentials"])), "invalid_client_metadata"),
            ("unknown grant", with("grant_types", json!(["password"])), "invalid_client_metadata"),
            (
                "auth method not allowed",
                with("token_endpoint_auth_method", "client_secret_jwt".into()),
                "invalid_client_metadata",
            ),
            ("native with a secret", with("token_endpoint_auth_method", "client_secret_basic".into()), "invalid_client_metadata"),
            ("implicit", with("response_types", json!(["token"])), "invalid_client_metadata"),
            ("logo over http", with("logo_uri", "http://agent.example/logo.png".into()), "invalid_client_metadata"),
            ("jwks_uri", with("jwks_uri", "https://agent.example/jwks".into()), "invalid_client_metadata"),
            ("bad application_type", with("application_type", "desktop".into()), "invalid_client_metadata"),
            ("software statement", with("software_statement", "eyJhbGciOiJub25lIn0.e30.".into()), "invalid_software_statement"),
        ];
        for (name, body, code) in table {
            let (s, _, v) = register(&app, &body, None).await;
            assert_eq!((s, v["error"].as_str()), (400, Some(code)), "[{backend}] {name}: {v}");
        }
        let resp = reqwest::Client::new().post(app.url(routes::REGISTER)).body("{}").send().await.unwrap();
        assert_eq!(resp.status(), 400, "no JSON Content-Type");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_client_metadata");
        // A confidential web client gets a secret (shown once, stored hashed).
        let web = json!({"redirect_uris": ["https://agent.example/cb"], "token_endpoint_auth_method": "client_secret_basic"});
        let (s, _, v) = register(&app, &web, None).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["client_secret_expires_at"], 0);
        assert!(v["client_secret"].as_str().is_some_and(|s| s.len() >= 43));
        assert_eq!(v["client_name"], "agent.example", "named after its redirect host when unnamed");
        assert_eq!(app.store().count_dynamic_clients().await.unwrap(), 1, "refusals register nothing");
    }
}

#[tokio::test]
async fn initial_access_tokens_in_token_mode() {
    for backend in backends() {
        let app = WebApp::start_with(backend, |c| c.registration.mode = "token".into()).await;
        let (s, h, v) = register(&app, &native_body(), None).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_token")), "{v}");
        assert_eq!(h["www-authenticate"], "Bearer error=\"invalid_token\"");
        let (s, _, _) = register(&app, &native_body(), Some("made-up")).await;
        assert_eq!(s, 401);
        let r = &app.state.deployment.registry;
        let (once, plain) = r.create_registration_token(Some(600), Some(1)).await.unwrap();
        let (s, _, v) = register(&app, &native_body(), Some(&plain)).await;
        assert_eq!(s, 201, "{v}");
        let (s, _, v) = register(&app, &native_body(), Some(&plain)).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_token")), "used up");
        let (_, timed) = r.create_registration_token(Some(600), None).await.unwrap();
        assert_eq!(register(&app, &native_body(), Some(&timed)).await.0, 201);
        assert_eq!(register(&app, &native_body(), Some(&timed)).await.0, 201, "unlimited uses");
        app.clock.advance(600);
        assert_eq!(register(&app, &native_body(), Some(&timed)).await.0, 401, "expired");
        let listed = r.list_registration_tokens().await.unwrap();
        assert_eq!(listed.iter().find(|t| t.id == once.id).and_then(|t| t.remaining_uses), Some(0));
        r.delete_registration_token(&once.id).await.unwrap();
        assert_eq!(r.list_registration_tokens().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn rate_limit_per_address_and_cap() {
    for backend in backends() {
        let app = WebApp::start_with(backend, |c| {
            open(c);
            c.registration.rate_limit = 2;
            c.registration.rate_limit_window = 60;
        })
        .await;
        assert_eq!(register(&app, &native_body(), None).await.0, 201);
        assert_eq!(register(&app, &native_body(), None).await.0, 201);
        let (s, h, v) = register(&app, &native_body(), None).await;
        assert_eq!((s, v["error"].as_str()), (429, Some("too_many_requests")), "{v}");
        assert_eq!(h["retry-after"], "60");
        app.clock.advance(60);
        assert_eq!(register(&app, &native_body(), None).await.0, 201, "a new window");
        drop(app);

        let app = WebApp::start_with(backend, |c| {
            open(c);
            c.registration.rate_limit = 0;
            c.registration.max_clients = 2;
        })
        .await;
        assert_eq!(register(&app, &native_body(), None).await.0, 201);
        assert_eq!(register(&app, &native_body(), None).await.0, 201);
        let (s, _, v) = register(&app, &native_body(), None).await;
        assert_eq!((s, v["error"].as_str()), (403, Some("access_denied")), "{v}");
        assert_eq!(app.store().count_dynamic_clients().await.unwrap(), 2);
        let clients = app.store().list_clients().await.unwrap();
        assert_eq!(clients.iter().filter(|c| c.name == "Agent <One>").count(), 2, "the refused client is not kept");
    }
}

#[tokio::test]
async fn never_used_and_idle_dynamic_clients_expire() {
    for backend in backends() {
        let app = WebApp::start_with(backend, |c| {
            open(c);
            c.registration.unused_lifetime = 3600;
            c.registration.idle_lifetime = 86_400;
        })
        .await;
        let (_, _, unused) = register(&app, &native_body(), None).await;
        let (_, _, used) = register(&app, &native_body(), None).await;
        let (unused_id, used_id) = (unused["client_id"].as_str().unwrap(), used["client_id"].as_str().unwrap());
        let b = Browser::new();
        sign_in(&app, &b, used_id, false).await;
        let r = &app.state.deployment.registry;
        let policy = &app.state.registration.policy;
        app.clock.advance(3599);
        assert_eq!(r.purge_dynamic_clients(policy).await.unwrap(), 0, "[{backend}] nothing expired yet");
        app.clock.advance(2);
        assert_eq!(r.purge_dynamic_clients(policy).await.unwrap(), 1, "[{backend}] the never-used one");
        assert!(app.store().get_client(unused_id).await.unwrap().is_none());
        let (s, _) =
            configure(&app, reqwest::Method::GET, unused_id, unused["registration_access_token"].as_str().unwrap(), None).await;
        assert_eq!(s, 401);
        assert!(app.store().get_client(used_id).await.unwrap().is_some(), "used within its lifetime");
        app.clock.advance(86_400 - 3601);
        assert_eq!(r.purge_dynamic_clients(policy).await.unwrap(), 0, "[{backend}] idle for less than a day");
        app.clock.advance(1);
        assert_eq!(r.purge_dynamic_clients(policy).await.unwrap(), 1, "[{backend}] idle for a day");
        assert!(app.store().get_client(used_id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn initial_access_tokens_from_the_management_api() {
    for backend in backends() {
        let app = WebApp::start_with(backend, |c| c.registration.mode = "token".into()).await;
        let r = &app.state.deployment.registry;
        let boot = r.bootstrap_management_client(&app.issuer).await.unwrap();
        let audience = tessera_core::registry::management_audience(&app.issuer);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", boot.client_id.as_str()),
            ("client_secret", boot.client_secret.as_deref().unwrap()),
            ("audience", audience.as_str()),
        ];
        let http = reqwest::Client::new();
        let v: Value = http.post(app.url(routes::TOKEN)).form(&form).send().await.unwrap().json().await.unwrap();
        let mgmt = v["access_token"].as_str().unwrap().to_string();
        let api = |p: &str| app.url(&format!("/api/v2{p}"));
        let resp = http.post(api("/registration-tokens")).bearer_auth(&mgmt).json(&json!({"uses": 1})).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        let created: Value = resp.json().await.unwrap();
        let (id, token) = (created["id"].as_str().unwrap(), created["token"].as_str().unwrap());
        assert_eq!(created["remaining_uses"], 1);
        let listed: Value = http.get(api("/registration-tokens")).bearer_auth(&mgmt).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed[0]["id"], id);
        assert!(listed[0].get("token").is_none(), "the value is shown at creation only");
        assert_eq!(register(&app, &native_body(), Some(token)).await.0, 201, "[{backend}]");
        let bad = http.post(api("/registration-tokens")).bearer_auth(&mgmt).json(&json!({"uses": 0})).send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let del = http.delete(api(&format!("/registration-tokens/{id}"))).bearer_auth(&mgmt).send().await.unwrap();
        assert_eq!(del.status(), 204);
        let del = http.delete(api(&format!("/registration-tokens/{id}"))).bearer_auth(&mgmt).send().await.unwrap();
        assert_eq!(del.status(), 404);
    }
}

#[test]
fn initial_access_tokens_from_the_cli() {
    let data = crate::support::TestData::new(crate::support::Backend::Sqlite);
    let cli = crate::support::Cli::new(&data);
    let created = cli.run(&["registration", "token", "create", "--uses", "2", "--expires-in", "600", "--json"]).json();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created["token"].as_str().is_some_and(|t| t.len() >= 43), "{created}");
    assert_eq!(created["remaining_uses"], 2);
    let listed = cli.run(&["registration", "token", "list", "--json"]).json();
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(listed[0].get("token").is_none());
    cli.run(&["registration", "token", "delete", &id]).ok();
    assert_eq!(cli.run(&["registration", "token", "list", "--json"]).json(), json!([]));
    let refused = cli.run(&["registration", "token", "create", "--uses", "0"]);
    assert!(refused.err().contains("positive"), "{}", refused.err());
}

/// Step-up (issue 21): a signed-in user re-asked with more scopes consents to the new ones
/// only; the page lists the scopes already allowed apart, and the token then carries all.
#[tokio::test]
async fn a_re_request_with_more_scopes_asks_consent_for_the_new_ones_only() {
    for backend in backends() {
        let app = WebApp::start_with(backend, open).await;
        let (_, _, reg) = register(&app, &native_body(), None).await;
        let id = reg["client_id"].as_str().unwrap().to_string();
        let b = Browser::new();
        sign_in(&app, &b, &id, false).await;
        let url = app.authorize_url(&[
            ("client_id", &id),
            ("redirect_uri", NATIVE_CB),
            ("response_type", "code"),
            ("scope", "openid read:things write:things"),
            ("resource", API),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        let r = b.get(&url).await;
        let to = location(&r);
        assert!(to.contains(routes::CONSENT), "[{backend}] new scope: consent again, got {to}");
        let html = b.get(&to).await.text().await.unwrap();
        let (asked, kept) = html.split_once("Already allowed").expect("the scopes already allowed are listed apart");
        assert!(asked.contains("Change your things (write:things)"), "{html}");
        assert!(!asked.contains("read:things") && !asked.contains("Know who you are"), "only the new scope is asked: {html}");
        assert!(kept.contains("Read your things (read:things)") && kept.contains("Know who you are"), "{html}");
        let (txn, csrf) = (field(&html, "txn").unwrap(), field(&html, "csrf").unwrap());
        let allowed = b.post_form(&app.url(routes::CONSENT), &[("txn", &txn), ("csrf", &csrf), ("decision", "allow")]).await;
        assert!(query_of(&location(&allowed)).contains_key("code"));
        let c = app.store().get_consent(&app.user_id, &id, API).await.unwrap().unwrap();
        assert_eq!(c.scope, "offline_access openid read:things write:things", "[{backend}]");
    }
}
