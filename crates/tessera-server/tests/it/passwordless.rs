//! Auth0's email passwordless (issue 17) on every store: `/passwordless/start` with
//! `send: code` emails a 6-digit code, and the grant
//! `http://auth0.com/oauth/grant-type/passwordless/otp` redeems it once for the tokens the
//! code flow issues; wrong, reused and expired codes and the attempt limit get Auth0's
//! answers, and the grant must be enabled on the client. `send: link` emails a magic link
//! that logs the user in once and continues to /authorize with the request's authParams.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tessera_core::model::{AppType, ClientPatch, TokenEndpointAuthMethod};
use tessera_core::routes;

use crate::email_outbox::app_with_sink;
use crate::support_smtp::SmtpSink;
use crate::support_web::{backends, location, query_of, Browser, WebApp, API, NATIVE_CALLBACK};

const GRANT: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

async fn native_client(app: &WebApp, grants: &[&str]) -> String {
    let c = app
        .state
        .deployment
        .registry
        .create_client(ClientPatch {
            name: Some("Passwordless App".into()),
            app_type: Some(AppType::Native),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            grant_types: Some(grants.iter().map(|g| g.to_string()).collect()),
            callbacks: Some(vec!["http://127.0.0.1/native".into()]),
            is_first_party: Some(true),
            ..Default::default()
        })
        .await
        .expect("client");
    c.client.client_id
}

async fn start(app: &WebApp, client_id: &str, email: &str) -> (u16, Value) {
    let body = json!({"client_id": client_id, "connection": "email", "email": email, "send": "code",
                      "authParams": {"scope": "openid email offline_access"}});
    let r = reqwest::Client::new().post(app.url(routes::PASSWORDLESS_START)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn token(app: &WebApp, client_id: &str, email: &str, otp: &str) -> (u16, Value) {
    let form = [
        ("grant_type", GRANT),
        ("client_id", client_id),
        ("realm", "email"),
        ("username", email),
        ("otp", otp),
        ("audience", API),
        ("scope", "openid email offline_access read:things"),
    ];
    let r = reqwest::Client::new().post(app.url(routes::TOKEN)).form(&form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The `nth` (1-based) email to `to`, waited for.
async fn nth_mail(sink: &SmtpSink, to: &str, nth: usize) -> crate::support_smtp::Received {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let ms: Vec<_> = sink.messages().into_iter().filter(|m| m.to.iter().any(|t| t == to)).collect();
        if ms.len() >= nth {
            return ms[nth - 1].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no email {nth} to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The code of the `nth` (1-based) email to `to`.
async fn code(sink: &SmtpSink, to: &str, nth: usize) -> String {
    nth_mail(sink, to, nth).await.six_digits().expect("a 6-digit code in the email")
}

/// The claims of a JWT (the server just signed it; the test reads, the SDK tests verify).
fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).expect("a JWS");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn wrong() -> Value {
    json!({"error": "invalid_grant", "error_description": "Wrong email or verification code."})
}

#[tokio::test]
async fn an_emailed_code_logs_in_once_with_the_tokens_of_the_code_flow() {
    for backend in backends() {
        let (app, sink) = app_with_sink(backend).await;
        let client = native_client(&app, &["authorization_code", "refresh_token", GRANT]).await;
        let (status, body) = start(&app, &client, "Pat@Example.com").await;
        assert_eq!(status, 200, "[{backend}] {body}");
        assert_eq!((&body["email"], &body["email_verified"]), (&json!("pat@example.com"), &json!(false)), "[{backend}]");
        assert!(body["_id"].is_string(), "[{backend}]");
        let otp = code(&sink, "pat@example.com", 1).await;
        assert_eq!(token(&app, &client, "pat@example.com", "000000x").await, (400, wrong()), "[{backend}] wrong code");
        let (status, tokens) = token(&app, &client, "pat@example.com", &otp).await;
        assert_eq!(status, 200, "[{backend}] {tokens}");
        assert_eq!(tokens["token_type"], "Bearer", "[{backend}]");
        assert_eq!(tokens["scope"], "email offline_access openid read:things", "[{backend}]");
        assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string(), "[{backend}] {tokens}");
        let user = app.store().find_user_by_login("pat@example.com").await.unwrap().expect("a passwordless user");
        assert!(user.user_id.starts_with("email|") && user.email_verified, "[{backend}] {user:?}");
        assert_eq!(token(&app, &client, "pat@example.com", &otp).await, (400, wrong()), "[{backend}] single use");
        // The refresh token works like the code flow's.
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client.as_str()),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ];
        let r = reqwest::Client::new().post(app.url(routes::TOKEN)).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 200, "[{backend}]");
        // An existing user logs in as themselves.
        start(&app, &client, crate::support_web::EMAIL).await;
        let otp = code(&sink, crate::support_web::EMAIL, 1).await;
        let (status, tokens) = token(&app, &client, crate::support_web::EMAIL, &otp).await;
        assert_eq!(status, 200, "[{backend}]");
        let claims = payload(tokens["access_token"].as_str().unwrap());
        assert_eq!(claims["sub"], app.user_id, "[{backend}]");
    }
}

#[tokio::test]
async fn wrong_codes_use_up_the_attempts_and_codes_expire() {
    for backend in backends() {
        let (app, sink) = app_with_sink(backend).await;
        let client = native_client(&app, &["authorization_code", GRANT]).await;
        start(&app, &client, "quinn@example.com").await;
        let otp = code(&sink, "quinn@example.com", 1).await;
        let bad = if otp == "111111" { "222222" } else { "111111" };
        for _ in 0..3 {
            assert_eq!(token(&app, &client, "quinn@example.com", bad).await, (400, wrong()), "[{backend}]");
        }
        let limit = json!({"error": "invalid_grant", "error_description": "You've reached the maximum number of attempts. Please try to login again."});
        assert_eq!(token(&app, &client, "quinn@example.com", &otp).await, (400, limit), "[{backend}] even the right code");
        // A new code starts again, and expires after email.otp_lifetime (300 s).
        start(&app, &client, "quinn@example.com").await;
        let otp = code(&sink, "quinn@example.com", 2).await;
        app.clock.advance(301);
        assert_eq!(token(&app, &client, "quinn@example.com", &otp).await, (400, wrong()), "[{backend}] expired");
        assert_eq!(token(&app, &client, "nobody@example.com", &otp).await, (400, wrong()), "[{backend}] no code");
    }
}

#[tokio::test]
async fn the_grant_must_be_enabled_and_the_connection_must_be_email() {
    for backend in backends() {
        let (app, sink) = app_with_sink(backend).await;
        let without = native_client(&app, &["authorization_code"]).await;
        let (status, body) = start(&app, &without, "rae@example.com").await;
        assert_eq!(status, 400, "[{backend}]");
        assert_eq!(
            body,
            json!({"error": "unauthorized_client", "error_description": format!("Grant type '{GRANT}' not allowed for the client.")})
        );
        let (status, body) = token(&app, &without, "rae@example.com", "123456").await;
        assert_eq!((status, &body["error"]), (400, &json!("unauthorized_client")), "[{backend}]");
        let with = native_client(&app, &[GRANT]).await;
        let body = json!({"client_id": with, "connection": "sms", "phone_number": "+15555550100", "send": "code"});
        let r = reqwest::Client::new().post(app.url(routes::PASSWORDLESS_START)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "[{backend}]");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"error": "bad.connection", "error_description": "Connection does not exist"})
        );
        assert_eq!(sink.count_to("rae@example.com"), 0, "[{backend}] nothing sent");

        // email.otp_max_sends (5) codes per address and window; then 429 until it passes.
        for _ in 0..5 {
            assert_eq!(start(&app, &with, "sam@example.com").await.0, 200, "[{backend}]");
        }
        let (status, body) = start(&app, &with, "sam@example.com").await;
        let want = json!({"error": "too_many_requests", "error_description": "Too many codes were sent to this address; try again later."});
        assert_eq!((status, body), (429, want), "[{backend}]");
        assert_eq!(start(&app, &with, "other@example.com").await.0, 200, "[{backend}] per address");
        app.clock.advance(901);
        assert_eq!(start(&app, &with, "sam@example.com").await.0, 200, "[{backend}] a new window");
    }
}

// --- Magic links (`send: link`) ---

async fn start_link(app: &WebApp, client_id: &str, email: &str, auth: Value) -> (u16, Value) {
    let body = json!({"client_id": client_id, "connection": "email", "email": email, "send": "link", "authParams": auth});
    let r = reqwest::Client::new().post(app.url(routes::PASSWORDLESS_START)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The magic link of the `nth` (1-based) email to `to`.
async fn magic_link(sink: &SmtpSink, to: &str, nth: usize) -> String {
    nth_mail(sink, to, nth).await.link_containing(routes::PASSWORDLESS_VERIFY).expect("a magic link in the email")
}

/// The link with its `verification_code` replaced.
fn with_code(link: &str, code: &str) -> String {
    let mut url = url::Url::parse(link).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "verification_code" { code.to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

/// Opens `link` in `browser`: the error page's status and text, or the callback's query
/// after /authorize.
async fn open_link(browser: &Browser, link: &str) -> Result<BTreeMap<String, String>, (u16, String)> {
    let r = browser.get(link).await;
    if r.status() != 302 {
        return Err((r.status().as_u16(), r.text().await.unwrap()));
    }
    let next = location(&r);
    assert!(next.contains(routes::AUTHORIZE) && !next.contains("verification_code"), "{next}");
    let r = browser.get(&next).await;
    assert_eq!(r.status(), 302, "/authorize answers the application");
    Ok(query_of(&location(&r)))
}

/// The native client's code redeemed with its PKCE verifier: the token response (200).
async fn redeem(app: &WebApp, client_id: &str, code: &str, verifier: &str) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", NATIVE_CALLBACK),
        ("code_verifier", verifier),
    ];
    let r = reqwest::Client::new().post(app.url(routes::TOKEN)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn refused_link(r: Result<BTreeMap<String, String>, (u16, String)>) -> bool {
    matches!(r, Err((400, page)) if page.contains("This login link is invalid, has been used or has expired"))
}

#[tokio::test]
async fn a_magic_link_logs_in_once_and_continues_to_authorize_with_its_auth_params() {
    for backend in backends() {
        let (app, sink) = app_with_sink(backend).await;
        let client = native_client(&app, &["authorization_code", "refresh_token", GRANT]).await;
        let (verifier, challenge) = crate::oauth_fixture::pkce_pair();
        let auth = json!({"redirect_uri": NATIVE_CALLBACK, "scope": "openid email offline_access", "state": "st-1",
                          "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256", "audience": API});
        let (status, body) = start_link(&app, &client, "Lou@Example.com", auth).await;
        assert_eq!(status, 200, "[{backend}] {body}");
        assert_eq!(body["email"], "lou@example.com", "[{backend}]");
        let link = magic_link(&sink, "lou@example.com", 1).await;
        assert!(link.starts_with(&app.url(routes::PASSWORDLESS_VERIFY)), "[{backend}] {link}");
        let mail = &sink.messages()[0];
        assert_eq!(mail.subject(), "Log in to Passwordless App", "[{backend}]");

        let browser = Browser::new();
        let q = open_link(&browser, &link).await.expect("the link logs in");
        assert_eq!(q.get("state").map(String::as_str), Some("st-1"), "[{backend}] {q:?}");
        let tokens = redeem(&app, &client, &q["code"], &verifier).await;
        let id = payload(tokens["id_token"].as_str().unwrap());
        assert_eq!((&id["email"], &id["nonce"], &id["email_verified"]), (&json!("lou@example.com"), &json!("n-1"), &json!(true)));
        assert!(id["sub"].as_str().unwrap().starts_with("email|"), "[{backend}] {id}");
        assert_eq!(payload(tokens["access_token"].as_str().unwrap())["aud"][0], API, "[{backend}]");
        assert!(tokens["refresh_token"].is_string(), "[{backend}]");

        // Single use, in another browser as in this one.
        assert!(refused_link(open_link(&Browser::new(), &link).await), "[{backend}] reused");
        // The link started an SSO session: /authorize answers without a login page.
        let again = format!(
            "{}?client_id={client}&redirect_uri={}&response_type=code&scope=openid&state=st-2&code_challenge={challenge}&code_challenge_method=S256",
            app.url(routes::AUTHORIZE),
            urlencoding(NATIVE_CALLBACK)
        );
        let r = browser.get(&again).await;
        assert_eq!(query_of(&location(&r)).get("state").map(String::as_str), Some("st-2"), "[{backend}] SSO");
        // An existing user logs in as themselves.
        start_link(
            &app,
            &client,
            crate::support_web::EMAIL,
            json!({"redirect_uri": NATIVE_CALLBACK, "code_challenge": challenge, "code_challenge_method": "S256"}),
        )
        .await;
        let link = magic_link(&sink, crate::support_web::EMAIL, 1).await;
        let q = open_link(&Browser::new(), &link).await.expect("a link for an existing user");
        let tokens = redeem(&app, &client, &q["code"], &verifier).await;
        assert_eq!(payload(tokens["access_token"].as_str().unwrap())["sub"], app.user_id, "[{backend}] {tokens}");
    }
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn magic_links_refuse_foreign_redirects_and_die_when_replaced_guessed_at_or_expired() {
    for backend in backends() {
        let (app, sink) = app_with_sink(backend).await;
        let client = native_client(&app, &["authorization_code", GRANT]).await;
        let (_, challenge) = crate::oauth_fixture::pkce_pair();
        let pkce = |extra: Value| {
            let mut a = json!({"code_challenge": challenge, "code_challenge_method": "S256"});
            a.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            a
        };
        let bad = |d: &str| json!({"error": "bad.authParams", "error_description": d});
        for (auth, want) in [
            (pkce(json!({"redirect_uri": "https://evil.example/cb"})), bad("redirect_uri is not registered for this client")),
            (pkce(json!({"redirect_uri": NATIVE_CALLBACK, "prompt": "login"})), bad("authParams must not set prompt")),
            (pkce(json!({"client_id": "someone-else"})), bad("authParams must not set client_id")),
            (pkce(json!({"scope": ["openid"]})), bad("authParams.scope must be a string")),
            (json!("openid"), bad("authParams must be an object")),
        ] {
            assert_eq!(start_link(&app, &client, "val@example.com", auth.clone()).await, (400, want), "[{backend}] {auth}");
        }
        assert_eq!(sink.count_to("val@example.com"), 0, "[{backend}] nothing sent");

        // A newer link (or code) replaces the previous one.
        let auth = pkce(json!({"redirect_uri": NATIVE_CALLBACK}));
        start_link(&app, &client, "val@example.com", auth.clone()).await;
        let first = magic_link(&sink, "val@example.com", 1).await;
        start_link(&app, &client, "val@example.com", auth.clone()).await;
        let second = magic_link(&sink, "val@example.com", 2).await;
        assert!(refused_link(open_link(&Browser::new(), &first).await), "[{backend}] replaced");
        // Guesses use up the attempts (email.otp_max_attempts = 3): then the right link is dead.
        for _ in 0..3 {
            assert!(refused_link(open_link(&Browser::new(), &with_code(&second, "guess")).await), "[{backend}]");
        }
        assert!(refused_link(open_link(&Browser::new(), &second).await), "[{backend}] attempts used up");
        // And a link expires after email.otp_lifetime (300 s).
        start_link(&app, &client, "val@example.com", auth.clone()).await;
        let third = magic_link(&sink, "val@example.com", 3).await;
        app.clock.advance(301);
        assert!(refused_link(open_link(&Browser::new(), &third).await), "[{backend}] expired");
        // Send defaults to link, as at Auth0; a link for one client is not another's.
        let other = native_client(&app, &["authorization_code", GRANT]).await;
        let body = json!({"client_id": client, "connection": "email", "email": "wes@example.com", "authParams": auth});
        let r = reqwest::Client::new().post(app.url(routes::PASSWORDLESS_START)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "[{backend}]");
        let link = magic_link(&sink, "wes@example.com", 1).await;
        let foreign = link.replace(&format!("client_id={client}"), &format!("client_id={other}"));
        assert!(refused_link(open_link(&Browser::new(), &foreign).await), "[{backend}] another client");
        let incomplete = with_code(&link, "");
        let r = Browser::new().get(&incomplete).await;
        assert_eq!(r.status(), 400, "[{backend}]");
        assert!(open_link(&Browser::new(), &link).await.is_ok(), "[{backend}] the link itself still works");
    }
}
