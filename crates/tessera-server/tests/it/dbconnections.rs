//! Auth0's database-connection endpoints and hosted pages (issue 17) on every store:
//! `/dbconnections/signup` with Auth0's body and refusals, the verification email,
//! `/dbconnections/change_password` without account enumeration, the emailed single-use
//! reset link and the hosted reset page, logging in with the new password through the
//! hosted login page, and the hosted sign-up screen (`screen_hint=signup`).

use reqwest::Method;
use serde_json::{json, Value};
use tessera_core::registry::management_audience;
use tessera_core::routes;

use crate::email_outbox::app_with_sink;
use crate::support_web::{backends, field, location, query_of, Browser, WebApp, CALLBACK, EMAIL, PASSWORD};

const CONNECTION: &str = "Username-Password-Authentication";

async fn post_json(app: &WebApp, path: &str, body: Value) -> (u16, String) {
    let r = reqwest::Client::new().post(app.url(path)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn signup(app: &WebApp, body: Value) -> (u16, Value) {
    let (status, text) = post_json(app, routes::DB_SIGNUP, body).await;
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

#[tokio::test]
async fn signup_answers_auth0s_body_and_the_emailed_link_verifies_the_address() {
    for backend in backends() {
        let (app, sink) = app_with_sink(backend).await;
        let (status, body) = signup(
            &app,
            json!({"client_id": app.web.id, "email": "Bob@Example.com", "password": "long enough pw", "connection": CONNECTION,
                   "username": "bob", "given_name": "Bob", "family_name": "Builder", "user_metadata": {"plan": "pro"}}),
        )
        .await;
        assert_eq!(status, 200, "[{backend}] {body}");
        let id = body["_id"].as_str().expect("_id").to_string();
        assert_eq!(
            body,
            json!({"_id": id, "email": "bob@example.com", "email_verified": false, "username": "bob",
                   "given_name": "Bob", "family_name": "Builder", "user_metadata": {"plan": "pro"}}),
            "[{backend}]"
        );
        let user = app.store().get_user(&format!("auth0|{id}")).await.unwrap().expect("the new user");
        assert!(!user.email_verified, "[{backend}]");
        let (meta, _) = app.store().get_user_metadata(&user.user_id).await.unwrap().unwrap();
        assert_eq!(meta, json!({"plan": "pro"}), "[{backend}]");

        let mail = sink.wait_for("bob@example.com", routes::VERIFY_EMAIL).await;
        assert_eq!(mail.subject(), "Verify your email", "[{backend}]");
        let link = mail.link_containing(routes::VERIFY_EMAIL).expect("verification link");
        let page = reqwest::get(&link).await.unwrap();
        assert_eq!(page.status(), 200, "[{backend}]");
        assert!(page.text().await.unwrap().contains("Email verified"), "[{backend}]");
        assert!(app.store().get_user(&user.user_id).await.unwrap().unwrap().email_verified, "[{backend}]");
        assert_eq!((app.audit_count("user_signed_up").await, app.audit_count("email_verified").await), (1, 1), "[{backend}]");
        let again = reqwest::get(&link).await.unwrap();
        assert_eq!(again.status(), 400, "[{backend}] single use");
        assert!(again.text().await.unwrap().contains("expired or was already used"), "[{backend}]");

        // A form body works as well as JSON.
        let r = reqwest::Client::new()
            .post(app.url(routes::DB_SIGNUP))
            .form(&[
                ("client_id", app.web.id.as_str()),
                ("email", "carol@example.com"),
                ("password", "long enough pw"),
                ("connection", CONNECTION),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "[{backend}]");
        assert_eq!(r.json::<Value>().await.unwrap()["email"], "carol@example.com", "[{backend}]");
    }
}

#[tokio::test]
async fn signup_refusals_have_auth0s_exact_bodies() {
    for backend in backends() {
        let (app, _sink) = app_with_sink(backend).await;
        let weak = json!({
            "name": "PasswordStrengthError", "message": "Password is too weak", "code": "invalid_password",
            "description": {"rules": [{"message": "At least %d characters in length", "format": [8], "code": "lengthAtLeast", "verified": false}], "verified": false},
            "policy": "* At least 8 characters in length", "statusCode": 400,
        });
        let cases = [
            (json!({"client_id": app.web.id, "email": "d@example.com", "password": "short", "connection": CONNECTION}), weak),
            (
                json!({"client_id": app.web.id, "email": EMAIL, "password": "long enough pw", "connection": CONNECTION}),
                json!({"name": "BadRequestError", "code": "invalid_signup", "description": "Invalid sign up", "statusCode": 400}),
            ),
            (
                json!({"client_id": app.web.id, "email": "d@example.com", "password": "long enough pw", "connection": "google-oauth2"}),
                json!({"name": "BadRequestError", "code": "bad.connection", "description": "connection not found", "statusCode": 400}),
            ),
            (
                json!({"client_id": "nope", "email": "d@example.com", "password": "long enough pw", "connection": CONNECTION}),
                json!({"name": "BadRequestError", "code": "invalid_client", "description": "Unknown client: nope", "statusCode": 400}),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(signup(&app, body.clone()).await, (400, want), "[{backend}] {body}");
        }
        assert!(app.store().find_user_by_login("d@example.com").await.unwrap().is_none(), "[{backend}] nobody was created");

        // Auth0's disable_signup, through the Management API as Auth0 sets it.
        let token = management_token(&app).await;
        let http = reqwest::Client::new();
        let patch = |on: bool| {
            http.request(Method::PATCH, app.url("/api/v2/connections/con_tessera_database"))
                .bearer_auth(&token)
                .json(&json!({"options": {"disable_signup": on}}))
                .send()
        };
        let r = patch(true).await.unwrap();
        assert_eq!(r.status(), 200, "[{backend}]");
        assert_eq!(r.json::<Value>().await.unwrap()["options"]["disable_signup"], true, "[{backend}]");
        let body =
            json!({"client_id": app.web.id, "email": "e@example.com", "password": "long enough pw", "connection": CONNECTION});
        let disabled = json!({"name": "BadRequestError", "code": "operation_not_allowed", "description": "public signup is disabled", "statusCode": 400});
        assert_eq!(signup(&app, body.clone()).await, (400, disabled), "[{backend}]");
        assert_eq!(patch(false).await.unwrap().status(), 200, "[{backend}]");
        assert_eq!(signup(&app, body).await.0, 200, "[{backend}] on again");
    }
}

async fn management_token(app: &WebApp) -> String {
    let b = app.state.deployment.registry.bootstrap_management_client(&app.issuer).await.unwrap();
    let audience = management_audience(&app.issuer);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", b.client_id.as_str()),
        ("client_secret", b.client_secret.as_deref().unwrap_or_default()),
        ("audience", audience.as_str()),
    ];
    let v: Value = reqwest::Client::new().post(app.url(routes::TOKEN)).form(&form).send().await.unwrap().json().await.unwrap();
    v["access_token"].as_str().unwrap_or_else(|| panic!("no management token: {v}")).to_string()
}

async fn change_password(app: &WebApp, email: &str) -> (u16, String) {
    post_json(app, routes::DB_CHANGE_PASSWORD, json!({"client_id": app.web.id, "email": email, "connection": CONNECTION})).await
}

/// Posts the hosted reset form of `link` with `password` (and its confirmation).
async fn reset(link: &str, password: &str, confirmation: &str) -> (u16, String) {
    let browser = Browser::new();
    let page = browser.get(link).await;
    let status = page.status().as_u16();
    let html = page.text().await.unwrap();
    if status != 200 {
        return (status, html);
    }
    let ticket = field(&html, "ticket").expect("ticket field");
    let action = link.split('?').next().unwrap().to_string();
    let r = browser
        .post_form(&action, &[("ticket", ticket.as_str()), ("password", password), ("password_confirmation", confirmation)])
        .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_password_reset_through_the_emailed_link_lets_the_user_log_in_with_the_new_password() {
    for backend in backends() {
        let (app, sink) = app_with_sink(backend).await;
        let sent = (200, "We've just sent you an email to reset your password.".to_string());
        assert_eq!(change_password(&app, "nobody@example.com").await, sent, "[{backend}] same answer for no account");
        assert_eq!(change_password(&app, &EMAIL.to_uppercase()).await, sent, "[{backend}]");
        let mail = sink.wait_for(EMAIL, routes::RESET_PASSWORD).await;
        let link = mail.link_containing(routes::RESET_PASSWORD).expect("reset link");
        assert_eq!(sink.count_to("nobody@example.com"), 0, "[{backend}] no email for an address without an account");

        // A session the user had ends with the reset.
        let old_browser = Browser::new();
        let r = old_browser.login(&app, &app.web_authorize(&[])).await;
        assert!(location(&r).starts_with(CALLBACK), "[{backend}]");

        let (status, html) = reset(&link, "brand new password", "brand new passwerd").await;
        assert_eq!(status, 400, "[{backend}]");
        assert!(html.contains("The two passwords are not the same."), "[{backend}]");
        let (status, html) = reset(&link, "short", "short").await;
        assert!(status == 400 && html.contains("at least 8 characters"), "[{backend}] {html}");
        let (status, html) = reset(&link, "brand new password", "brand new password").await;
        assert_eq!(status, 200, "[{backend}] {html}");
        assert!(html.contains("Password changed"), "[{backend}]");
        assert_eq!(app.audit_count("password_changed").await, 1, "[{backend}] Auth0's scp");
        assert_eq!(app.audit_count("password_change_requested").await, 1, "[{backend}] Auth0's scpr, once");
        let (status, html) = reset(&link, "another new password", "another new password").await;
        assert_eq!(status, 400, "[{backend}] a used link");
        assert!(html.contains("expired or was already used"), "[{backend}]");

        // The old session no longer answers /authorize silently.
        let r = old_browser.get(&app.web_authorize(&[("prompt", "none")])).await;
        assert_eq!(query_of(&location(&r)).get("error").map(String::as_str), Some("login_required"), "[{backend}]");
        // The hosted login page takes the new password and refuses the old one.
        let b = Browser::new();
        let (txn, csrf) = b.open_login(&app.web_authorize(&[])).await;
        let r = b.submit_login(&app, &txn, &csrf, EMAIL, PASSWORD).await;
        assert!(location(&r).contains("error=credentials"), "[{backend}] the old password");
        let (txn, csrf) = b.open_login(&app.web_authorize(&[])).await;
        let r = b.submit_login(&app, &txn, &csrf, EMAIL, "brand new password").await;
        let to = location(&r);
        assert!(to.starts_with(CALLBACK) && query_of(&to).contains_key("code"), "[{backend}] {to}");

        // An expired link gets the same clear page.
        change_password(&app, EMAIL).await;
        let mail = loop {
            let ms: Vec<_> = sink.messages().into_iter().filter(|m| m.to.iter().any(|t| t == EMAIL)).collect();
            if ms.len() == 2 {
                break ms[1].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let link = mail.link_containing(routes::RESET_PASSWORD).expect("second reset link");
        app.clock.advance(3601);
        let (status, html) = reset(&link, "third new password", "third new password").await;
        assert_eq!(status, 400, "[{backend}] expired");
        assert!(html.contains("expired or was already used"), "[{backend}]");
    }
}

#[tokio::test]
async fn the_hosted_signup_screen_creates_the_user_and_continues_the_authorization() {
    for backend in backends() {
        let (app, sink) = app_with_sink(backend).await;
        let b = Browser::new();
        let r = b.get(&app.web_authorize(&[("screen_hint", "signup"), ("login_hint", "dave@example.com")])).await;
        assert_eq!(r.status(), 302, "[{backend}]");
        let to = location(&r);
        assert!(to.contains(routes::SIGNUP), "[{backend}] {to}");
        let html = b.get(&to).await.text().await.unwrap();
        assert!(html.contains("value=\"dave@example.com\""), "[{backend}] login_hint prefills the email");
        let (txn, csrf) = (field(&html, "txn").unwrap(), field(&html, "csrf").unwrap());
        let post = |email: &'static str, password: &'static str| {
            let (txn, csrf) = (txn.clone(), csrf.clone());
            let b = &b;
            let url = app.url(routes::SIGNUP);
            async move {
                b.post_form(
                    &url,
                    &[("txn", txn.as_str()), ("csrf", csrf.as_str()), ("email", email), ("username", ""), ("password", password)],
                )
                .await
            }
        };
        let r = post("dave@example.com", "short").await;
        assert_eq!(r.status(), 400, "[{backend}]");
        assert!(r.text().await.unwrap().contains("at least 8 characters"), "[{backend}]");
        let r = post(EMAIL, "long enough pw").await;
        assert!(r.text().await.unwrap().contains("This sign-up cannot be completed"), "[{backend}] an existing account");
        let r = post("dave@example.com", "long enough pw").await;
        assert_eq!(r.status(), 303, "[{backend}]");
        let to = location(&r);
        assert!(to.starts_with(CALLBACK) && query_of(&to).contains_key("code"), "[{backend}] {to}");
        assert!(app.store().find_user_by_login("dave@example.com").await.unwrap().is_some(), "[{backend}]");
        sink.wait_for("dave@example.com", routes::VERIFY_EMAIL).await;

        // Only the database connection is served by the hosted pages.
        let r = b.get(&app.web_authorize(&[("connection", "google-oauth2")])).await;
        let q = query_of(&location(&r));
        assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"), "[{backend}]");
        let r = b.get(&app.web_authorize(&[("connection", CONNECTION), ("prompt", "login")])).await;
        assert!(location(&r).contains(routes::LOGIN), "[{backend}] prompt=login shows the login page despite the session");
    }
}
