//! The device authorization grant (RFC 8628): the openidconnect crate asks for a device
//! code and polls as its README shows (its sleeps move the injected clock), while the user
//! enters the code on /activate in the browser harness, signs in and approves; every
//! polling answer with its exact code (authorization_pending, slow_down and the grown
//! interval, access_denied, expired_token, invalid_grant); wrong user codes limited per
//! browser and per IP; two parallel polls after approval get tokens once; a poll before
//! approval writes nothing.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{CoreClient, CoreDeviceAuthorizationResponse, CoreProviderMetadata};
use openidconnect::{ClientId, DeviceAuthorizationUrl, IssuerUrl, Nonce, OAuth2TokenResponse, Scope};
use serde_json::Value;
use tessera_core::model::{AppType, ClientPatch, TokenEndpointAuthMethod};
use tessera_core::routes;
use tessera_server::config::Config;

use crate::oauth_fixture::jwt_parts;
use crate::support_web::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

struct Tv {
    app: WebApp,
    id: String,
}

/// A web app with a public "TV App" allowed the device and refresh grants. Background
/// purges are pushed out of the test's way (they would be writes of their own).
async fn tv(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Tv {
    let app = WebApp::start_with(backend, |c| {
        c.keys.reload_interval = 3600;
        tweak(c)
    })
    .await;
    let created = app
        .state
        .deployment
        .registry
        .create_client(ClientPatch {
            name: Some("TV App".into()),
            app_type: Some(AppType::Native),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            grant_types: Some(vec![DEVICE_GRANT.into(), "refresh_token".into()]),
            ..Default::default()
        })
        .await
        .expect("tv client");
    Tv { id: created.client.client_id, app }
}

async fn post(app: &WebApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new().post(app.url(path)).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(r.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{path}");
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn device_code(tv: &Tv, scope: &str) -> Value {
    let (status, body) = post(&tv.app, routes::DEVICE_CODE, &[("client_id", &tv.id), ("scope", scope), ("audience", API)]).await;
    assert_eq!(status, 200, "[{}] {body}", tv.app.backend);
    body
}

async fn poll(tv: &Tv, device_code: &str) -> (u16, Value) {
    post(&tv.app, routes::TOKEN, &[("grant_type", DEVICE_GRANT), ("device_code", device_code), ("client_id", &tv.id)]).await
}

fn error(answer: &(u16, Value)) -> (u16, Option<&str>) {
    (answer.0, answer.1["error"].as_str())
}

/// The user enters `user_code` on /activate, signs in (unless the browser has a session)
/// and approves or denies. Returns the final page's HTML.
async fn activate(app: &WebApp, b: &Browser, verification_uri_complete: &str, approve: bool) -> String {
    let page = b.get(verification_uri_complete).await;
    assert_eq!(page.status(), 200, "[{}]", app.backend);
    let html = page.text().await.unwrap();
    let (csrf, code) = (field(&html, "csrf").expect("csrf"), field(&html, "user_code").expect("prefilled code"));
    let r = b.post_form(&app.url(routes::ACTIVATE), &[("csrf", &csrf), ("user_code", &code)]).await;
    assert_eq!(r.status(), 303, "[{}] a right code goes on", app.backend);
    let mut next = location(&r);
    if next.contains(routes::LOGIN) {
        let login = b.get(&next).await.text().await.unwrap();
        let (txn, csrf) = (field(&login, "txn").unwrap(), field(&login, "csrf").unwrap());
        let r = b.submit_login(app, &txn, &csrf, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 303, "[{}]", app.backend);
        next = location(&r);
    }
    assert!(next.contains(&format!("{}?txn=", routes::ACTIVATE)), "[{}] back to the approval page: {next}", app.backend);
    let confirm = b.get(&next).await.text().await.unwrap();
    assert!(confirm.contains("TV App") && confirm.contains("Things API"), "[{}] who asks, for which API: {confirm}", app.backend);
    assert!(confirm.contains("Read your things"), "[{}] the scopes in words", app.backend);
    let (txn, csrf) = (field(&confirm, "txn").unwrap(), field(&confirm, "csrf").unwrap());
    let decision = if approve { "allow" } else { "deny" };
    let done = b.post_form(&app.url(routes::ACTIVATE), &[("txn", &txn), ("csrf", &csrf), ("decision", decision)]).await;
    assert_eq!(done.status(), 200, "[{}]", app.backend);
    done.text().await.unwrap()
}

/// Write transactions committed so far (SQLite's group-commit writer counts them).
async fn sqlite_transactions(app: &WebApp) -> Option<f64> {
    let text = reqwest::get(app.url(routes::METRICS)).await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix("tessera_sqlite_transactions_total ")).map(|v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn an_independent_client_polls_while_the_user_approves_on_activate() {
    for backend in backends() {
        let tv = tv(backend, |_| {}).await;
        let app = &tv.app;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http).await.expect("discovery");
        let client = CoreClient::from_provider_metadata(metadata, ClientId::new(tv.id.clone()), None)
            .set_device_authorization_url(DeviceAuthorizationUrl::new(app.url(routes::DEVICE_CODE)).unwrap());
        let details: CoreDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("offline_access".into()))
            .add_scope(Scope::new("read:things".into()))
            .add_extra_param("audience", API)
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("[{backend}] device authorization: {e:?}"));
        let shown = details.user_code().secret();
        assert!(
            shown.len() == 9
                && shown.as_bytes()[4] == b'-'
                && shown.bytes().enumerate().all(|(i, c)| i == 4 || b"BCDFGHJKLMNPQRSTVWXZ".contains(&c)),
            "[{backend}] RFC 8628 §6.1 user code: {shown}"
        );
        assert_eq!(details.verification_uri().as_str(), app.url(routes::ACTIVATE));
        let complete = details.verification_uri_complete().expect("verification_uri_complete").secret().clone();
        assert_eq!(details.expires_in(), Duration::from_secs(600));
        assert_eq!(details.interval(), Duration::from_secs(5));

        // The client polls; each of its sleeps moves the server's clock by as much.
        let clock = app.clock.clone();
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = polls.clone();
        let sleep = move |d: Duration| {
            clock.advance(d.as_secs() as i64);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100))
        };
        let polling = async {
            client
                .exchange_device_access_token(&details)
                .expect("token endpoint")
                .request_async(&http, sleep, None)
                .await
                .unwrap_or_else(|e| panic!("[{backend}] polling: {e:?}"))
        };
        let user = async {
            tokio::time::sleep(Duration::from_millis(350)).await;
            activate(app, &Browser::new(), &complete, true).await
        };
        let (tokens, page) = tokio::join!(polling, user);
        assert!(page.contains("Device connected"), "[{backend}] {page}");
        assert!(polls.load(std::sync::atomic::Ordering::SeqCst) >= 2, "[{backend}] it polled while pending");
        let id_token = tokens.extra_fields().id_token().expect("id_token with openid");
        let claims = id_token.claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(())).expect("valid ID token");
        assert_eq!(claims.subject().as_str(), app.user_id);
        assert!(tokens.refresh_token().is_some(), "[{backend}] offline_access gives a refresh token");
        let (_, at) = jwt_parts(tokens.access_token().secret());
        assert_eq!(at["aud"][0], API, "[{backend}]");
        assert_eq!(at["scope"], "offline_access openid profile read:things", "[{backend}]");

        // The refresh token works like one from the code flow.
        let rt = tokens.refresh_token().unwrap().secret();
        let (status, body) =
            post(app, routes::TOKEN, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &tv.id)]).await;
        assert_eq!(status, 200, "[{backend}] {body}");
    }
}

#[tokio::test]
async fn every_polling_answer() {
    for backend in backends() {
        let tv = tv(backend, |_| {}).await;
        let app = &tv.app;
        let d = device_code(&tv, "openid read:things").await;
        let dc = d["device_code"].as_str().unwrap();
        let complete = d["verification_uri_complete"].as_str().unwrap();

        // Pending, and a poll before approval writes nothing.
        let before = sqlite_transactions(app).await;
        assert_eq!(error(&poll(&tv, dc).await), (400, Some("authorization_pending")), "[{backend}]");
        // RFC 8628 §3.5: too soon is slow_down, and the interval grows by 5 s.
        app.clock.advance(4);
        assert_eq!(error(&poll(&tv, dc).await), (400, Some("slow_down")), "[{backend}] 4 s after");
        app.clock.advance(9);
        assert_eq!(error(&poll(&tv, dc).await), (400, Some("slow_down")), "[{backend}] 9 s: the interval is 10 now");
        app.clock.advance(15);
        assert_eq!(error(&poll(&tv, dc).await), (400, Some("authorization_pending")), "[{backend}] 15 s: paced");
        if backend == Backend::Sqlite {
            assert!(before.is_some(), "[{backend}] the writer's transaction counter is exported");
            assert_eq!(sqlite_transactions(app).await, before, "[{backend}] polls before approval wrote nothing");
        }

        // Denied.
        let page = activate(app, &Browser::new(), complete, false).await;
        assert!(page.contains("denied"), "[{backend}] {page}");
        assert_eq!(app.audit_count("device_authorization_denied").await, 1, "[{backend}] the decision is audited");
        app.clock.advance(20);
        assert_eq!(error(&poll(&tv, dc).await), (403, Some("access_denied")), "[{backend}]");

        // Expired: at its expires_in.
        let d = device_code(&tv, "openid read:things").await;
        let dc = d["device_code"].as_str().unwrap();
        app.clock.advance(599);
        assert_eq!(error(&poll(&tv, dc).await), (400, Some("authorization_pending")), "[{backend}] 599 s");
        app.clock.advance(1);
        assert_eq!(error(&poll(&tv, dc).await), (400, Some("expired_token")), "[{backend}] 600 s");

        // Unknown, missing, another client's; a client without the grant.
        assert_eq!(error(&poll(&tv, "nope").await), (400, Some("invalid_grant")), "[{backend}]");
        let missing = post(app, routes::TOKEN, &[("grant_type", DEVICE_GRANT), ("client_id", &tv.id)]).await;
        assert_eq!(error(&missing), (400, Some("invalid_request")), "[{backend}]");
        let d = device_code(&tv, "openid read:things").await;
        let dc = d["device_code"].as_str().unwrap();
        let registry = &app.state.deployment.registry;
        let other = registry
            .create_client(ClientPatch {
                name: Some("Other TV".into()),
                app_type: Some(AppType::Native),
                token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
                grant_types: Some(vec![DEVICE_GRANT.into()]),
                ..Default::default()
            })
            .await
            .unwrap()
            .client
            .client_id;
        let theirs = post(app, routes::TOKEN, &[("grant_type", DEVICE_GRANT), ("device_code", dc), ("client_id", &other)]).await;
        assert_eq!(error(&theirs), (400, Some("invalid_grant")), "[{backend}] another client's device code");
        let web = post(app, routes::DEVICE_CODE, &[("client_id", &app.native.id)]).await;
        assert_eq!(error(&web), (400, Some("unauthorized_client")), "[{backend}] no device grant");
        let web =
            post(app, routes::TOKEN, &[("grant_type", DEVICE_GRANT), ("device_code", dc), ("client_id", &app.native.id)]).await;
        assert_eq!(error(&web), (400, Some("unauthorized_client")), "[{backend}]");
        let unknown = post(app, routes::DEVICE_CODE, &[("client_id", "nope")]).await;
        assert_eq!(error(&unknown), (401, Some("invalid_client")), "[{backend}]");
        let bad_aud = post(app, routes::DEVICE_CODE, &[("client_id", &tv.id), ("audience", "https://unknown.example")]).await;
        assert_eq!(error(&bad_aud), (403, Some("access_denied")), "[{backend}]");
        let bad_scope = post(app, routes::DEVICE_CODE, &[("client_id", &tv.id), ("scope", "openid \"x")]).await;
        assert_eq!(error(&bad_scope), (400, Some("invalid_scope")), "[{backend}]");

        // Approved: tokens once, then invalid_grant.
        let page = activate(app, &Browser::new(), d["verification_uri_complete"].as_str().unwrap(), true).await;
        assert!(page.contains("Device connected"), "[{backend}]");
        let (status, tokens) = poll(&tv, dc).await;
        assert_eq!(status, 200, "[{backend}] {tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_null(), "[{backend}] openid only: {tokens}");
        assert_eq!(error(&poll(&tv, dc).await), (400, Some("invalid_grant")), "[{backend}] used");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_parallel_polls_after_approval_get_tokens_once() {
    for backend in backends() {
        let tv = Arc::new(tv(backend, |_| {}).await);
        let d = device_code(&tv, "openid offline_access read:things").await;
        activate(&tv.app, &Browser::new(), d["verification_uri_complete"].as_str().unwrap(), true).await;
        let dc = d["device_code"].as_str().unwrap().to_string();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (tv, dc) = (tv.clone(), dc.clone());
                tokio::spawn(async move { poll(&tv, &dc).await })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        let won = answers.iter().filter(|a| a.0 == 200).count();
        assert_eq!(won, 1, "[{backend}] exactly one of 8 parallel polls gets tokens: {answers:?}");
        for a in answers.iter().filter(|a| a.0 != 200) {
            assert_eq!(error(a), (400, Some("invalid_grant")), "[{backend}] the others");
        }
    }
}

/// Opens the code form in `b` and submits `code`.
async fn enter(app: &WebApp, b: &Browser, code: String) -> reqwest::Response {
    let url = app.url(routes::ACTIVATE);
    let html = b.get(&url).await.text().await.unwrap();
    let csrf = field(&html, "csrf").unwrap();
    b.post_form(&url, &[("csrf", &csrf), ("user_code", &code)]).await
}

#[tokio::test]
async fn wrong_user_codes_are_limited_per_browser_and_per_ip_and_codes_are_single_use() {
    for backend in backends() {
        let tv = tv(backend, |c| {
            c.device.max_failures = 3;
            c.device.ip_max_failures = 5;
        })
        .await;
        let app = &tv.app;
        let d = device_code(&tv, "openid read:things").await;
        let right = d["user_code"].as_str().unwrap();
        // Per browser: the third wrong code blocks it, and then even the right one is refused.
        let b = Browser::new();
        for (i, wrong) in ["BBBB-BBBB", "bcdf-ghjk", "not a code"].into_iter().enumerate() {
            let r = enter(app, &b, wrong.into()).await;
            let status = r.status();
            let html = r.text().await.unwrap();
            if i < 2 {
                assert_eq!(status, 200, "[{backend}] wrong code {i}");
                assert!(html.contains("not valid"), "[{backend}] {html}");
            } else {
                assert_eq!(status, 429, "[{backend}] blocked at the limit");
            }
        }
        assert_eq!(enter(app, &b, right.into()).await.status(), 429, "[{backend}] blocked even for the right code");
        // Per IP: two more wrong codes from fresh browsers reach the address's limit of 5.
        for _ in 0..2 {
            enter(app, &Browser::new(), "ZZZZ-ZZZZ".into()).await;
        }
        assert_eq!(enter(app, &Browser::new(), right.into()).await.status(), 429, "[{backend}] the address is blocked");
        // The block ends (the first device code has expired by then: a new one).
        app.clock.advance(901);
        let d = device_code(&tv, "openid read:things").await;
        let right = d["user_code"].as_str().unwrap();
        let r = enter(app, &Browser::new(), right.into()).await;
        assert_eq!(r.status(), 303, "[{backend}] after the block");

        // A user code is single use: once decided, it is just a wrong code.
        activate(app, &Browser::new(), d["verification_uri_complete"].as_str().unwrap(), true).await;
        let r = enter(app, &Browser::new(), right.into()).await;
        assert!(r.text().await.unwrap().contains("not valid"), "[{backend}]");
        // Without the form's CSRF token nothing is looked up.
        let r = Browser::new().post_form(&app.url(routes::ACTIVATE), &[("user_code", right)]).await;
        assert_eq!(r.status(), 400, "[{backend}]");
    }
}
