//! Auth0's email passwordless (issue 17) on every store: `/passwordless/start` with
//! `send: code` emails a 6-digit code, and the grant
//! `http://auth0.com/oauth/grant-type/passwordless/otp` redeems it once for the tokens the
//! code flow issues; wrong, reused and expired codes and the attempt limit get Auth0's
//! answers, and the grant must be enabled on the client.

use serde_json::{json, Value};
use tessera_core::model::{AppType, ClientPatch, TokenEndpointAuthMethod};
use tessera_core::routes;

use crate::email_outbox::app_with_sink;
use crate::support_smtp::SmtpSink;
use crate::support_web::{backends, WebApp, API};

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

/// The code of the `nth` (1-based) email to `to`.
async fn code(sink: &SmtpSink, to: &str, nth: usize) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let ms: Vec<_> = sink.messages().into_iter().filter(|m| m.to.iter().any(|t| t == to)).collect();
        if ms.len() >= nth {
            return ms[nth - 1].six_digits().expect("a 6-digit code in the email");
        }
        assert!(std::time::Instant::now() < deadline, "no email {nth} to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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
