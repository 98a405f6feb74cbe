//! The password grants (issue 17): `password` and Auth0's `password-realm`, off unless the
//! deployment and the client enable them, first-party clients only, behind the hosted
//! login page's brute-force counters, with Auth0's answers; on every store.

use serde_json::Value;
use tessera_core::model::{AppType, ClientPatch, TokenEndpointAuthMethod, UserPatch};
use tessera_core::routes;

use crate::oauth_fixture::jwt_parts;
use crate::support_web::*;

const REALM_GRANT: &str = "http://auth0.com/oauth/grant-type/password-realm";
const REALM: &str = "Username-Password-Authentication";

struct Ropc {
    app: WebApp,
    /// First-party confidential client with both password grants and refresh tokens.
    first: (String, String),
    /// Third-party confidential client listing the password grant.
    third: (String, String),
    /// First-party confidential client without the password grants.
    plain: (String, String),
    /// First-party public (native) client with the password grant.
    native: String,
}

async fn start(backend: Backend) -> Ropc {
    let app = WebApp::start_with(backend, |c| {
        c.grants.password = true;
        c.login.max_failures = 3;
    })
    .await;
    let r = &app.state.deployment.registry;
    let mk = |name: &str, grants: &[&str], first_party: bool, method| ClientPatch {
        name: Some(name.into()),
        app_type: Some(if method == TokenEndpointAuthMethod::None { AppType::Native } else { AppType::RegularWeb }),
        token_endpoint_auth_method: Some(method),
        grant_types: Some(grants.iter().map(|g| g.to_string()).collect()),
        callbacks: Some(vec![CALLBACK.into()]),
        is_first_party: Some(first_party),
        ..Default::default()
    };
    let post = TokenEndpointAuthMethod::ClientSecretPost;
    let pair = |c: tessera_core::registry::CreatedClient| (c.client.client_id, c.client_secret.expect("secret"));
    let first = pair(r.create_client(mk("Mobile", &["password", REALM_GRANT, "refresh_token"], true, post)).await.unwrap());
    let third = pair(r.create_client(mk("Partner", &["password", REALM_GRANT], false, post)).await.unwrap());
    let plain = pair(r.create_client(mk("Web", &["authorization_code"], true, post)).await.unwrap());
    let native = r.create_client(mk("Native", &["password"], true, TokenEndpointAuthMethod::None)).await.unwrap();
    Ropc { app, first, third, plain, native: native.client.client_id }
}

async fn token(app: &WebApp, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new().post(app.url(routes::TOKEN)).form(form).send().await.expect("token request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

fn password_form<'a>(client: &'a (String, String), username: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "password"),
        ("client_id", client.0.as_str()),
        ("client_secret", client.1.as_str()),
        ("username", username),
        ("password", password),
    ]
}

fn plus<'a>(mut form: Vec<(&'a str, &'a str)>, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    form.extend_from_slice(extra);
    form
}

/// `aud` is a string, or an array when the token is also good for /userinfo.
fn has_audience(claims: &Value, audience: &str) -> bool {
    match &claims["aud"] {
        Value::String(a) => a == audience,
        Value::Array(a) => a.iter().any(|v| v == audience),
        _ => false,
    }
}

fn answer(v: &Value) -> (Option<&str>, Option<&str>) {
    (v["error"].as_str(), v["error_description"].as_str())
}

#[tokio::test]
async fn password_grants_issue_the_code_flows_tokens() {
    for backend in backends() {
        let t = start(backend).await;
        let app = &t.app;
        // Advertised only when on.
        let d: Value = reqwest::get(app.url(routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
        let grants = d["grant_types_supported"].as_array().unwrap();
        assert!(grants.contains(&"password".into()) && grants.contains(&REALM_GRANT.into()), "[{backend}] {d}");

        // Audience and scope as the code flow: unknown scopes dropped, offline_access a
        // refresh token, openid an ID token.
        let form = password_form(&t.first, EMAIL, PASSWORD);
        let (s, v) = token(
            app,
            &plus(form.clone(), &[("audience", API), ("scope", "openid profile offline_access read:things delete:all")]),
        )
        .await;
        assert_eq!(s, 200, "[{backend}] {v}");
        assert_eq!(v["scope"], "offline_access openid profile read:things");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 86_400);
        let (_, at) = jwt_parts(v["access_token"].as_str().unwrap());
        assert_eq!((at["sub"].as_str(), at["gty"].as_str()), (Some(app.user_id.as_str()), Some("password")));
        assert!(has_audience(&at, API), "[{backend}] {at}");
        assert_eq!(at["client_id"], t.first.0.as_str());
        let (_, id) = jwt_parts(v["id_token"].as_str().unwrap());
        assert_eq!((id["sub"].as_str(), id["aud"].as_str()), (Some(app.user_id.as_str()), Some(t.first.0.as_str())));
        assert_eq!(id["name"], "Alice Example");
        assert!(id.get("nonce").is_none());
        // The refresh token works with the refresh grant.
        let rt = v["refresh_token"].as_str().expect("refresh token");
        let (s, r) = token(
            app,
            &[("grant_type", "refresh_token"), ("client_id", &t.first.0), ("client_secret", &t.first.1), ("refresh_token", rt)],
        )
        .await;
        assert_eq!(s, 200, "[{backend}] refresh: {r}");
        assert!(has_audience(&jwt_parts(r["access_token"].as_str().unwrap()).1, API));

        // Without openid or offline_access: the access token only. Without a target: a
        // token for /userinfo (no aud), as the code flow gives.
        let (s, v) = token(app, &plus(form.clone(), &[("scope", "openid email")])).await;
        assert_eq!(s, 200, "[{backend}] {v}");
        assert!(v.get("refresh_token").is_none());
        assert!(!has_audience(&jwt_parts(v["access_token"].as_str().unwrap()).1, API));
        let ui = reqwest::Client::new()
            .get(app.url(routes::USERINFO))
            .bearer_auth(v["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(ui.status(), 200, "[{backend}] userinfo");
        let ui: Value = ui.json().await.unwrap();
        assert_eq!(ui["email"], EMAIL);
        // Auth0: without a target the tenant's default audience applies.
        app.state.deployment.registry.set_default_audience(Some(API)).await.unwrap();
        let (s, v) = token(app, &plus(form.clone(), &[("scope", "read:things")])).await;
        assert_eq!((s, v["scope"].as_str()), (200, Some("read:things")), "[{backend}] {v}");
        assert!(has_audience(&jwt_parts(v["access_token"].as_str().unwrap()).1, API));
        app.state.deployment.registry.set_default_audience(None).await.unwrap();

        // The username works as the login page's does; a public first-party client needs
        // no secret (Auth0 allows the grant to native apps).
        let (s, v) =
            token(app, &[("grant_type", "password"), ("client_id", &t.native), ("username", USERNAME), ("password", PASSWORD)])
                .await;
        assert_eq!(s, 200, "[{backend}] native: {v}");

        // password-realm: the realm names the database connection.
        let realm = |r: Option<&'static str>| {
            let mut f = password_form(&t.first, EMAIL, PASSWORD);
            f[0].1 = REALM_GRANT;
            if let Some(r) = r {
                f.push(("realm", r));
            }
            f
        };
        let (s, v) = token(app, &plus(realm(Some(REALM)), &[("scope", "openid")])).await;
        assert_eq!(s, 200, "[{backend}] realm: {v}");
        assert!(v["id_token"].is_string());
        let (s, v) = token(app, &realm(None)).await;
        assert_eq!((s, answer(&v)), (400, (Some("invalid_request"), Some("Missing required parameter: realm"))));
        let (s, v) = token(app, &realm(Some("google-oauth2"))).await;
        assert_eq!(s, 400, "[{backend}] {v}");
        assert_eq!(
            answer(&v),
            (
                Some("invalid_request"),
                Some("realm 'google-oauth2' is not a connection of this tenant (the database connection is 'Username-Password-Authentication')")
            )
        );
        let (s, v) = token(
            app,
            &[("grant_type", "password"), ("client_id", &t.first.0), ("client_secret", &t.first.1), ("username", EMAIL)],
        )
        .await;
        assert_eq!((s, answer(&v)), (400, (Some("invalid_request"), Some("Missing required parameter: password"))));
    }
}

#[tokio::test]
async fn password_grant_refusals_have_auth0s_answers() {
    for backend in backends() {
        let t = start(backend).await;
        let app = &t.app;
        // A client without the grant, and a third-party client with it.
        let (s, v) = token(app, &password_form(&t.plain, EMAIL, PASSWORD)).await;
        assert_eq!(
            (s, answer(&v)),
            (403, (Some("unauthorized_client"), Some("Grant type 'password' not allowed for the client."))),
            "[{backend}]"
        );
        let mut realm = password_form(&t.plain, EMAIL, PASSWORD);
        realm[0].1 = REALM_GRANT;
        let (s, v) = token(app, &plus(realm, &[("realm", REALM)])).await;
        assert_eq!(
            (s, answer(&v)),
            (
                403,
                (
                    Some("unauthorized_client"),
                    Some("Grant type 'http://auth0.com/oauth/grant-type/password-realm' not allowed for the client.")
                )
            )
        );
        let (s, v) = token(app, &password_form(&t.third, EMAIL, PASSWORD)).await;
        assert_eq!(
            (s, answer(&v)),
            (403, (Some("unauthorized_client"), Some("Grant type 'password' not allowed for third-party clients.")))
        );
        // A wrong secret is a client authentication failure, before any password check.
        let (s, v) = token(app, &password_form(&(t.first.0.clone(), "wrong".into()), EMAIL, PASSWORD)).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "[{backend}] {v}");

        // Wrong password, unknown user and blocked user: one answer (no account enumeration).
        let wrong = (403, (Some("invalid_grant"), Some("Wrong email or password.")));
        let (s, v) = token(app, &password_form(&t.first, EMAIL, "not the password")).await;
        assert_eq!((s, answer(&v)), wrong, "[{backend}] wrong password");
        let (s, v) = token(app, &password_form(&t.first, "nobody@example.com", PASSWORD)).await;
        assert_eq!((s, answer(&v)), wrong, "[{backend}] unknown user");
        let r = &app.state.deployment.registry;
        let bob = r
            .create_user(UserPatch { email: Some("bob@example.com".into()), ..Default::default() }, Some(PASSWORD))
            .await
            .unwrap();
        r.set_blocked(&bob.user_id, true).await.unwrap();
        let (s, v) = token(app, &password_form(&t.first, "bob@example.com", PASSWORD)).await;
        assert_eq!((s, answer(&v)), wrong, "[{backend}] blocked user");
        // Unsupported when the deployment has not enabled the grants.
        let off = WebApp::start(backend).await;
        let (s, v) = token(&off, &password_form(&t.first, EMAIL, PASSWORD)).await;
        assert_eq!((s, answer(&v)), (400, (Some("unsupported_grant_type"), Some("grant type 'password' is not enabled"))));
        let d: Value = reqwest::get(off.url(routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
        assert!(!d["grant_types_supported"].as_array().unwrap().contains(&"password".into()), "[{backend}] {d}");
    }
}

#[tokio::test]
async fn password_grant_shares_the_login_pages_brute_force_counters() {
    for backend in backends() {
        let t = start(backend).await;
        let app = &t.app;
        // max_failures = 3 per (user, IP): two failures at the token endpoint and one on
        // the login page use up the allowance of both.
        for _ in 0..2 {
            let (s, v) = token(app, &password_form(&t.first, EMAIL, "guess")).await;
            assert_eq!((s, v["error"].as_str()), (403, Some("invalid_grant")), "[{backend}] {v}");
        }
        let browser = Browser::new();
        let (txn, csrf) = browser.open_login(&app.web_authorize(&[])).await;
        let page = browser.submit_login(app, &txn, &csrf, EMAIL, "guess").await;
        assert_eq!(page.status(), 429, "[{backend}] the third failure blocks the pair on the login page");
        // Now even the right password is refused at the token endpoint, with Auth0's answer.
        let (s, v) = token(app, &password_form(&t.first, EMAIL, PASSWORD)).await;
        assert_eq!(s, 429, "[{backend}] {v}");
        assert_eq!(
            answer(&v),
            (
                Some("too_many_attempts"),
                Some("Your account has been blocked after multiple consecutive login attempts. Try again later.")
            )
        );
        // Another user from the same address is not blocked by alice's failures.
        let (s, v) = token(app, &password_form(&t.first, "nobody@example.com", PASSWORD)).await;
        assert_eq!((s, v["error"].as_str()), (403, Some("invalid_grant")), "[{backend}] {v}");
        // The block ends with its window (the injected clock, no sleeping).
        app.clock.advance(901);
        let (s, v) = token(app, &password_form(&t.first, EMAIL, PASSWORD)).await;
        assert_eq!(s, 200, "[{backend}] after the block: {v}");
        assert!(app.audit_count("login_blocked").await >= 1, "[{backend}]");
    }
}
