//! Auth0's official SDKs against a live `tessera serve` over TLS whose email goes to the
//! test's SMTP sink (issue 17): the Node `auth0` AuthenticationClient (`database.signUp`,
//! `database.changePassword`, `passwordless.sendEmail` + `loginWithEmail`) and
//! auth0-python (`Database.signup`, `change_password`, `Passwordless.email`,
//! `GetToken.passwordless_login`), exactly as their READMEs show. The reset email the
//! sink received is then followed to the hosted reset page, and the new password logs in
//! through the hosted login page; the magic link the SDK asked for (`send: link`) logs its
//! address in once and ends at the callback with a code the client redeems.

use std::time::Duration;

use serde_json::{json, Value};
use tessera_core::routes;

use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{run, sdk_available, Runtime};
use crate::support_smtp::SmtpSink;
use crate::support_web::{field, location, query_of};

const CALLBACK: &str = "https://app.example.com/callback";
const GRANT: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

async fn server(sink: &SmtpSink) -> (LiveServer, String, String) {
    let port = sink.port.to_string();
    let options = LiveOptions::tls()
        .env("TESSERA_SMTP_HOST", "127.0.0.1")
        .env("TESSERA_SMTP_PORT", &port)
        .env("TESSERA_SMTP_SECURITY", "none");
    let live = LiveServer::start_with(Backend::Sqlite, &options).await;
    // A regular web app with the passwordless grant: the Node SDK sends a client secret
    // with passwordless calls (Auth0 requires one of confidential clients).
    let web = live
        .cli()
        .run(&[
            "clients",
            "create",
            "--name",
            "Web",
            "--app-type",
            "regular_web",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            GRANT,
            "--callback",
            CALLBACK,
            "--json",
        ])
        .json();
    let id = web["client_id"].as_str().expect("client_id").to_string();
    let secret = web["client_secret"].as_str().expect("client_secret").to_string();
    // Let the server's registry cache see the CLI's changes (polled every second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (live, id, secret)
}

/// Follows the emailed reset link with the live server's HTTP client, sets `password`.
async fn reset_through_email(live: &LiveServer, sink: &SmtpSink, email: &str, password: &str) {
    let mail = sink.wait_for(email, routes::RESET_PASSWORD).await;
    let link = mail.link_containing(routes::RESET_PASSWORD).expect("a reset link");
    assert!(link.starts_with(&live.url(routes::RESET_PASSWORD)), "{link}");
    let http = live.http();
    let page = http.get(&link).send().await.unwrap().text().await.unwrap();
    let ticket = field(&page, "ticket").expect("the reset form");
    let form = [("ticket", ticket.as_str()), ("password", password), ("password_confirmation", password)];
    let r = http.post(live.url(routes::RESET_PASSWORD)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Password changed"));
}

/// Logs in through /authorize and the hosted login page; the callback's query.
async fn hosted_login(
    live: &LiveServer,
    client_id: &str,
    email: &str,
    password: &str,
) -> std::collections::BTreeMap<String, String> {
    let http = live.http();
    let q =
        [("client_id", client_id), ("redirect_uri", CALLBACK), ("response_type", "code"), ("scope", "openid"), ("state", "s1")];
    let r = http.get(live.url(routes::AUTHORIZE)).query(&q).send().await.unwrap();
    let page = http.get(location(&r)).send().await.unwrap().text().await.unwrap();
    let (txn, csrf) = (field(&page, "txn").unwrap(), field(&page, "csrf").unwrap());
    let form = [("txn", txn.as_str()), ("csrf", csrf.as_str()), ("username", email), ("password", password)];
    let r = http.post(live.url(routes::LOGIN)).form(&form).send().await.unwrap();
    query_of(&location(&r))
}

/// Opens the emailed magic link: /authorize, then the callback with `state` m1 and a code
/// that the client redeems for `email`'s ID token; the link is dead afterwards.
async fn follow_magic_link(live: &LiveServer, sink: &SmtpSink, client_id: &str, secret: &str, email: &str) {
    let mail = sink.wait_for(email, routes::PASSWORDLESS_VERIFY).await;
    let link = mail.link_containing(routes::PASSWORDLESS_VERIFY).expect("a magic link");
    assert!(link.starts_with(&live.url(routes::PASSWORDLESS_VERIFY)), "{link}");
    let http = live.http();
    let r = http.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap_or_default());
    let r = http.get(location(&r)).send().await.unwrap();
    let q = query_of(&location(&r));
    assert_eq!(q.get("state").map(String::as_str), Some("m1"), "{q:?}");
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("code", q["code"].as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let tokens: Value = http.post(live.url(routes::TOKEN)).form(&form).send().await.unwrap().json().await.unwrap();
    let (_, id) = crate::oauth_fixture::jwt_parts(tokens["id_token"].as_str().expect("an ID token"));
    assert_eq!((&id["email"], &id["email_verified"]), (&json!(email), &json!(true)), "{id}");
    let again = live.http().get(&link).send().await.unwrap();
    assert_eq!(again.status(), 400, "single use");
}

async fn check(rt: Runtime, script: &str) {
    if !sdk_available(rt) {
        return;
    }
    let sink = SmtpSink::start().await;
    let (live, web, secret) = server(&sink).await;
    let (email, otp_email, password) = ("sdk-user@example.com", "sdk-otp@example.com", "first password 1");
    let env = [
        ("CLIENT_ID", web.as_str()),
        ("CLIENT_SECRET", secret.as_str()),
        ("EMAIL", email),
        ("OTP_EMAIL", otp_email),
        ("PASSWORD", password),
        ("LINK_EMAIL", "sdk-link@example.com"),
        ("CALLBACK", CALLBACK),
    ];
    let mut start_env = env.to_vec();
    start_env.push(("STEP", "start"));
    let out = run(rt, &live, script, &start_env).await;
    assert_eq!(out["user"]["email"], email, "{out}");
    assert_eq!(out["user"]["email_verified"], false, "{out}");
    assert!(out["user"]["_id"].is_string(), "{out}");
    assert_eq!(out["changed"], "We've just sent you an email to reset your password.", "{out}");
    match rt {
        Runtime::Node => {
            assert_eq!((&out["weak"]["status"], &out["weak"]["error"]), (&json!(400), &json!("invalid_password")), "{out}");
            assert_eq!(out["weak"]["body"]["name"], "PasswordStrengthError", "{out}");
            let dup =
                json!({"name": "BadRequestError", "code": "invalid_signup", "description": "Invalid sign up", "statusCode": 400});
            assert_eq!(out["duplicate"]["body"], dup, "{out}");
        }
        Runtime::Python => {
            assert_eq!((&out["weak"]["status"], &out["weak"]["error"]), (&json!(400), &json!("invalid_password")), "{out}");
            // auth0-python reads `message`/`error_description`, which Auth0's body for this
            // refusal does not have: it shows an empty message there too.
            assert_eq!(out["duplicate"], json!({"status": 400, "error": "invalid_signup", "description": ""}), "{out}");
        }
    }
    sink.wait_for(email, routes::VERIFY_EMAIL).await;

    // The code the SDK asked for, from the email.
    let otp = sink.wait_for(otp_email, "verification code").await.six_digits().expect("a code");
    let mut login_env = env.to_vec();
    login_env.extend([("STEP", "login"), ("OTP", otp.as_str())]);
    let out = run(rt, &live, script, &login_env).await;
    assert!(out["token"]["id_token"].is_string() && out["token"]["access_token"].is_string(), "{out}");
    assert_eq!(out["token"]["token_type"], "Bearer", "{out}");
    let wrong = "Wrong email or verification code.";
    match rt {
        Runtime::Node => assert_eq!(out["wrong"]["body"], json!({"error": "invalid_grant", "error_description": wrong}), "{out}"),
        Runtime::Python => {
            assert_eq!(out["wrong"], json!({"status": 400, "error": "invalid_grant", "description": wrong}), "{out}")
        }
    }

    // The magic link the SDK asked for: once, to the callback with a code for that address.
    follow_magic_link(&live, &sink, &web, &secret, "sdk-link@example.com").await;

    // The reset the SDK asked for, through the emailed link; then the hosted login page.
    reset_through_email(&live, &sink, email, "second password 2").await;
    let refused = hosted_login(&live, &web, email, password).await;
    assert_eq!(refused.get("error").map(String::as_str), Some("credentials"), "the old password is refused: {refused:?}");
    let q = hosted_login(&live, &web, email, "second password 2").await;
    assert!(q.contains_key("code") && q["state"] == "s1", "{q:?}");

    // Sign-up turned off from the CLI, as Auth0's disable_signup.
    let off = live.cli().run(&["tenant", "set", "--disable-signup", "true", "--json"]).json();
    assert_eq!(off["disable_signup"], true);
    let body = json!({"client_id": web, "email": "late@example.com", "password": "long enough pw", "connection": "Username-Password-Authentication"});
    let r = live.http().post(live.url(routes::DB_SIGNUP)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "operation_not_allowed");
}

#[tokio::test]
async fn node_auth0_database_and_passwordless() {
    check(Runtime::Node, "node/dbconnections.mjs").await;
}

#[tokio::test]
async fn auth0_python_database_and_passwordless() {
    check(Runtime::Python, "python/dbconnections.py").await;
}
