//! Logout: Auth0's /v2/logout and OIDC RP-initiated /oidc/logout end the server-side
//! session and redirect only to a registered logout URL.

use tessera_core::model::SigningAlg;
use tessera_core::routes;
use tessera_core::scope::Scope;
use tessera_core::tokens::claims::{sign_id_token, IdTokenSpec};

use crate::support_web::*;

/// Logs `b` in; returns the session's `sid`.
async fn logged_in(app: &WebApp, b: &Browser) -> String {
    let r = b.login(app, &app.web_authorize(&[])).await;
    let q = query_of(&location(&r));
    let code = app.store().get_code(&app.state.deployment.keyring.hash_handle(&q["code"])).await.unwrap().unwrap();
    code.sid.expect("sid")
}

async fn silent_error(app: &WebApp, b: &Browser) -> Option<String> {
    let r = b.get(&app.web_authorize(&[("prompt", "none")])).await;
    query_of(&location(&r)).get("error").cloned()
}

fn id_token(app: &WebApp, user: &tessera_core::model::User, client_id: &str, sid: Option<&str>, lifetime: i64) -> String {
    let key = app.state.keys.get().signer(SigningAlg::RS256).unwrap();
    let scope = Scope::parse("openid").unwrap();
    let now = app.state.now();
    sign_id_token(
        &key,
        &IdTokenSpec {
            issuer: &app.issuer,
            user,
            client_id,
            scope: &scope,
            now,
            lifetime,
            auth_time: now,
            nonce: None,
            sid,
            access_token: None,
        },
    )
}

fn url(app: &WebApp, path: &str, params: &[(&str, &str)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    app.url(&format!("{path}?{q}"))
}

#[tokio::test]
async fn auth0_v2_logout_ends_the_session_and_returns_only_to_allowed_urls() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        let sid = logged_in(&app, &b).await;
        assert_eq!(silent_error(&app, &b).await, None);

        // Not allowed: an error page, no redirect, the session untouched.
        for bad in ["https://evil.example/", "https://app.example.com/logged-out?x=1", "https://app.example.com/callback"] {
            let r = b.get(&url(&app, routes::V2_LOGOUT, &[("client_id", &app.web.id), ("returnTo", bad)])).await;
            assert_eq!(r.status(), 400, "[{backend}] {bad}");
            assert!(r.headers().get("location").is_none());
        }
        let r = b.get(&url(&app, routes::V2_LOGOUT, &[("returnTo", LOGOUT_URL)])).await;
        assert_eq!(r.status(), 400, "returnTo without client_id");
        assert_eq!(silent_error(&app, &b).await, None, "still logged in");

        let r = b.get(&url(&app, routes::V2_LOGOUT, &[("client_id", &app.web.id), ("returnTo", LOGOUT_URL)])).await;
        assert_eq!(r.status(), 302);
        assert_eq!(location(&r), LOGOUT_URL);
        assert!(set_cookies(&r).iter().any(|c| c.starts_with("tessera_session=;") && c.contains("Max-Age=0")));
        assert_eq!(silent_error(&app, &b).await.as_deref(), Some("login_required"), "[{backend}]");
        assert_eq!(app.audit_count("logout").await, 1);
        let _ = sid;

        // Without returnTo: the client's first allowed logout URL; without anything: a page.
        let r = b.get(&url(&app, routes::V2_LOGOUT, &[("client_id", &app.web.id)])).await;
        assert_eq!(location(&r), LOGOUT_URL);
        let r = b.get(&app.url(routes::V2_LOGOUT)).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("You are logged out"));
    }
}

#[tokio::test]
async fn rp_initiated_logout_checks_the_hint_client_and_uri() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let user = app.store().get_user(&app.user_id).await.unwrap().unwrap();
        let b = Browser::new();
        let sid = logged_in(&app, &b).await;
        let hint = id_token(&app, &user, &app.web.id, Some(&sid), 60);
        let logout = |params: &[(&str, &str)]| url(&app, routes::OIDC_LOGOUT, params);

        let bad: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("unregistered uri", vec![("client_id", &app.web.id), ("post_logout_redirect_uri", "https://evil.example/")]),
            ("uri without a client", vec![("post_logout_redirect_uri", LOGOUT_URL)]),
            (
                "client is not the hint's audience",
                vec![("id_token_hint", &hint), ("client_id", &app.third.id), ("post_logout_redirect_uri", LOGOUT_URL)],
            ),
            ("forged hint", vec![("id_token_hint", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), ("post_logout_redirect_uri", LOGOUT_URL)]),
            ("repeated parameter", vec![("client_id", &app.web.id), ("client_id", &app.web.id)]),
            ("unknown client", vec![("client_id", "nope"), ("post_logout_redirect_uri", LOGOUT_URL)]),
        ];
        for (name, params) in bad {
            let r = b.get(&logout(&params)).await;
            assert_eq!(r.status(), 400, "[{backend}] {name}");
            assert!(r.headers().get("location").is_none(), "[{backend}] {name}");
        }
        assert_eq!(silent_error(&app, &b).await, None, "still logged in");

        // An expired hint is still a valid hint (RP-Initiated Logout §4). The hint's sid ends
        // the session even from another browser (the RP's back channel has no cookie).
        app.clock.advance(120);
        let r = Browser::new()
            .get(&logout(&[("id_token_hint", &hint), ("post_logout_redirect_uri", LOGOUT_URL), ("state", "s 1")]))
            .await;
        assert_eq!(r.status(), 302);
        assert_eq!(location(&r), format!("{LOGOUT_URL}?state=s+1"));
        assert_eq!(silent_error(&app, &b).await.as_deref(), Some("login_required"), "[{backend}]");

        // POST form, client_id only, no URI: the logged-out page; the cookie session ends.
        let b2 = Browser::new();
        logged_in(&app, &b2).await;
        let r = b2.post_form(&app.url(routes::OIDC_LOGOUT), &[("client_id", &app.web.id)]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(silent_error(&app, &b2).await.as_deref(), Some("login_required"), "[{backend}]");
    }
}
