//! /authorize with SSO sessions and consent: the stored code matches the token endpoint's
//! contract; `prompt=none`, `prompt=login`, `max_age` (0 included) and `id_token_hint`;
//! idle and absolute session lifetimes; consent asked, remembered per scope, denied.

use tessera_core::model::{SigningAlg, UserPatch};
use tessera_core::routes;
use tessera_core::scope::Scope;
use tessera_core::tokens::claims::{sign_access_token, sign_id_token, AccessTokenSpec, IdTokenSpec};

use crate::support_web::*;

/// The session cookie's value from a login response.
fn session_cookie(r: &reqwest::Response) -> String {
    let c = set_cookies(r).into_iter().find(|c| c.starts_with("tessera_session=")).expect("session cookie");
    c["tessera_session=".len()..].split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn the_code_is_stored_as_the_token_endpoint_expects() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        let url = app.web_authorize(&[
            ("audience", API),
            ("scope", "openid profile email offline_access read:things undefined:scope"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("dpop_jkt", jkt),
        ]);
        let t0 = app.state.now();
        let r = b.login(&app, &url).await;
        assert_eq!(r.status(), 303);
        let cookie = session_cookie(&r);
        let sc = set_cookies(&r).into_iter().find(|c| c.starts_with("tessera_session=")).unwrap();
        assert!(sc.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=604800"), "{sc}");
        let to = location(&r);
        assert!(to.starts_with(&format!("{CALLBACK}?code=")), "{to}");
        let q = query_of(&to);
        assert_eq!((q["state"].as_str(), &q["iss"]), ("st-1", &app.issuer));
        let keyring = &app.state.deployment.keyring;
        let session = app.store().get_session(&keyring.hash_handle(&cookie)).await.unwrap().expect("session");
        let code = app.store().get_code(&keyring.hash_handle(&q["code"])).await.unwrap().expect("code row");
        // The issue time, then 256 random bits (crypto::ordered_handle).
        let (time, random) = q["code"].split_once('.').expect("time.random");
        assert!(time.len() == 12 && time.bytes().all(|b| b.is_ascii_hexdigit()), "{time}");
        assert_eq!(random.len(), 43, "256-bit code");
        assert_eq!(code.client_id, app.web.id);
        assert_eq!(code.user_id, app.user_id);
        assert_eq!(code.redirect_uri.as_deref(), Some(CALLBACK));
        assert_eq!(code.scope, "email offline_access openid profile read:things");
        assert_eq!(code.audience.as_deref(), Some(API));
        assert_eq!(code.nonce.as_deref(), Some("n-1"));
        assert_eq!(code.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(code.code_challenge_method.as_deref(), Some("S256"));
        assert_eq!(code.dpop_jkt.as_deref(), Some(jkt));
        assert_eq!((code.auth_time, session.auth_time), (t0, t0));
        assert_eq!(code.sid.as_deref(), Some(session.sid.as_str()));
        assert_eq!((code.created_at, code.expires_at), (t0, t0 + 60));
        assert_eq!((code.consumed_at, code.family_id), (None, None));
        assert_eq!(session.user_id, app.user_id);
    }
}

#[tokio::test]
async fn prompt_none_prompt_login_and_max_age() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        let t0 = app.state.now();
        let first = b.login(&app, &app.web_authorize(&[])).await;
        let old_cookie = session_cookie(&first);
        let keyring = &app.state.deployment.keyring;
        let code_of = |r: &reqwest::Response| query_of(&location(r)).get("code").cloned();
        app.clock.advance(100);

        // With a session, prompt=none answers at once; auth_time is the login's.
        let r = b.get(&app.web_authorize(&[("prompt", "none")])).await;
        assert_eq!(r.status(), 302);
        let code = app.store().get_code(&keyring.hash_handle(&code_of(&r).expect("code"))).await.unwrap().unwrap();
        assert_eq!(code.auth_time, t0);
        // max_age within the session's age: a code; beyond it: log in again, or login_required.
        let r = b.get(&app.web_authorize(&[("max_age", "1000")])).await;
        assert!(code_of(&r).is_some(), "max_age 1000 after 100 s");
        let r = b.get(&app.web_authorize(&[("max_age", "60")])).await;
        assert!(location(&r).contains(routes::LOGIN), "max_age 60 after 100 s forces a login");
        let r = b.get(&app.web_authorize(&[("max_age", "60"), ("prompt", "none")])).await;
        assert_eq!(query_of(&location(&r))["error"], "login_required");
        // A fresh browser has no session.
        let r = Browser::new().get(&app.web_authorize(&[("prompt", "none")])).await;
        assert_eq!(query_of(&location(&r))["error"], "login_required");

        // prompt=login re-authenticates: new session id, new auth_time, old session ended.
        let r = b.login(&app, &app.web_authorize(&[("prompt", "login")])).await;
        let new_cookie = session_cookie(&r);
        assert_ne!(new_cookie, old_cookie);
        let code = app.store().get_code(&keyring.hash_handle(&code_of(&r).expect("code"))).await.unwrap().unwrap();
        assert_eq!(code.auth_time, t0 + 100);
        let old = app.store().get_session(&keyring.hash_handle(&old_cookie)).await.unwrap().unwrap();
        let new = app.store().get_session(&keyring.hash_handle(&new_cookie)).await.unwrap().unwrap();
        assert!(old.ended_at.is_some(), "the previous session ends at a new login");
        assert_ne!(old.sid, new.sid);
        assert_eq!(code.sid.as_deref(), Some(new.sid.as_str()));
    }
}

/// The exact error `prompt=none` gets without a usable session (OIDC Core §3.1.2.6), sent to
/// the callback with `state` and `iss` (RFC 9207).
fn assert_login_required(app: &WebApp, r: &reqwest::Response, ctx: &str) {
    assert_eq!(r.status(), 302, "[{}] {ctx}", app.backend);
    let to = location(r);
    assert!(to.starts_with(&format!("{CALLBACK}?")), "[{}] {ctx}: {to}", app.backend);
    let want = [("error", "login_required"), ("error_description", "the user must log in"), ("state", "st-1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("iss".to_string(), app.issuer.clone())])
        .collect();
    assert_eq!(query_of(&to), want, "[{}] {ctx}", app.backend);
}

/// OIDC Core §3.1.2.1 (errata set 2): max_age=0 is equivalent to prompt=login, even in
/// the very second of the last login.
#[tokio::test]
async fn max_age_zero_always_demands_a_fresh_login() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        let keyring = &app.state.deployment.keyring;
        let t0 = app.state.now();
        let first = b.login(&app, &app.web_authorize(&[])).await;
        assert!(query_of(&location(&first)).contains_key("code"), "[{backend}]");

        // The clock has not moved since the login: the session is 0 s old.
        let r = b.get(&app.web_authorize(&[("max_age", "0")])).await;
        assert_eq!(r.status(), 302, "[{backend}]");
        assert!(location(&r).contains(&format!("{}?txn=", routes::LOGIN)), "[{backend}] max_age=0 shows the login page");
        let r = b.get(&app.web_authorize(&[("max_age", "0"), ("prompt", "none")])).await;
        assert_login_required(&app, &r, "prompt=none max_age=0");

        // Logging in answers the request (no loop back to the login page) with a new auth_time.
        app.clock.advance(5);
        let r = b.login(&app, &app.web_authorize(&[("max_age", "0")])).await;
        assert_eq!(r.status(), 303, "[{backend}]");
        let code = query_of(&location(&r))["code"].clone();
        let code = app.store().get_code(&keyring.hash_handle(&code)).await.unwrap().expect("code");
        assert_eq!(code.auth_time, t0 + 5, "[{backend}] the fresh login's time");
        let r = b.get(&app.web_authorize(&[("max_age", "0"), ("prompt", "none")])).await;
        assert_login_required(&app, &r, "again right after that login");

        // Seconds are whole: a session exactly max_age old may be older, so it must log in.
        app.clock.advance(100);
        let r = b.get(&app.web_authorize(&[("max_age", "100"), ("prompt", "none")])).await;
        assert_login_required(&app, &r, "max_age=100 after 100 s");
        let r = b.get(&app.web_authorize(&[("max_age", "101"), ("prompt", "none")])).await;
        assert!(query_of(&location(&r)).contains_key("code"), "[{backend}] max_age=101 after 100 s");
    }
}

/// An ID token for `user` from `issuer`, signed with the server's current RS256 key, valid
/// for 60 s.
fn id_token_for(app: &WebApp, issuer: &str, user: &tessera_core::model::User) -> String {
    let key = app.state.keys.get().signer(SigningAlg::RS256).unwrap();
    let scope = Scope::parse("openid").unwrap();
    let now = app.state.now();
    let spec = IdTokenSpec {
        issuer,
        user,
        client_id: &app.web.id,
        scope: &scope,
        now,
        lifetime: 60,
        auth_time: now,
        nonce: None,
        sid: None,
        access_token: None,
    };
    sign_id_token(&key, &spec)
}

/// OIDC Core §3.1.2.1 `id_token_hint`: the session answers only for the user the hint names.
#[tokio::test]
async fn id_token_hint_must_name_the_sessions_user() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let registry = &app.state.deployment.registry;
        let bob_patch = UserPatch { email: Some("bob@example.com".into()), email_verified: Some(true), ..Default::default() };
        let bob = registry.create_user(bob_patch, Some("bob's horse battery")).await.unwrap();
        let alice = app.store().get_user(&app.user_id).await.unwrap().unwrap();
        let (alice_hint, bob_hint) = (id_token_for(&app, &app.issuer, &alice), id_token_for(&app, &app.issuer, &bob));
        let keyring = &app.state.deployment.keyring;
        let user_of = async |r: &reqwest::Response| {
            let code = query_of(&location(r)).get("code").cloned().unwrap_or_else(|| panic!("no code: {}", location(r)));
            app.store().get_code(&keyring.hash_handle(&code)).await.unwrap().expect("code").user_id
        };
        let b = Browser::new();
        b.login(&app, &app.web_authorize(&[])).await;

        // Alice's session and a hint naming Alice: a code, even after the hint expired.
        app.clock.advance(120);
        let r = b.get(&app.web_authorize(&[("prompt", "none"), ("id_token_hint", &alice_hint)])).await;
        assert_eq!(user_of(&r).await, app.user_id, "[{backend}] an expired hint is still a hint");

        // A hint naming Bob: prompt=none cannot answer for Alice ...
        let r = b.get(&app.web_authorize(&[("prompt", "none"), ("id_token_hint", &bob_hint)])).await;
        assert_login_required(&app, &r, "Bob's hint, Alice's session");
        // ... and otherwise the session is not used: Bob logs in, and the code is his.
        let url = app.web_authorize(&[("id_token_hint", &bob_hint)]);
        let (txn, csrf) = b.open_login(&url).await;
        let r = b.submit_login(&app, &txn, &csrf, "bob@example.com", "bob's horse battery").await;
        assert_eq!(user_of(&r).await, bob.user_id, "[{backend}]");
        // Now the session is Bob's: Alice's hint is the one that cannot be answered silently.
        let r = b.get(&app.web_authorize(&[("prompt", "none"), ("id_token_hint", &alice_hint)])).await;
        assert_login_required(&app, &r, "Alice's hint, Bob's session");

        // Not an ID token from this issuer: invalid_request, to the callback.
        let scope = Scope::parse("openid").unwrap();
        let key = app.state.keys.get().signer(SigningAlg::RS256).unwrap();
        let access_token = sign_access_token(
            &key,
            &AccessTokenSpec {
                issuer: &app.issuer,
                subject: &bob.user_id,
                client_id: &app.web.id,
                audience: None,
                scope: &scope,
                now: app.state.now(),
                lifetime: 60,
                auth_time: None,
                gty: None,
                jkt: None,
            },
        )
        .token;
        let other_issuer = id_token_for(&app, "https://elsewhere.example/", &bob);
        let mut tampered = bob_hint.clone();
        tampered.insert(tampered.len() - 2, 'A');
        for (name, hint) in [("access token", access_token), ("another issuer", other_issuer), ("bad signature", tampered)] {
            let r = b.get(&app.web_authorize(&[("prompt", "none"), ("id_token_hint", &hint)])).await;
            assert_eq!(r.status(), 302, "[{backend}] {name}");
            let q = query_of(&location(&r));
            assert!(location(&r).starts_with(&format!("{CALLBACK}?")), "[{backend}] {name}");
            assert_eq!(q["error"], "invalid_request", "[{backend}] {name}");
            assert_eq!(q["error_description"], "id_token_hint is not an ID token issued here", "[{backend}] {name}");
            assert_eq!((q["state"].as_str(), &q["iss"]), ("st-1", &app.issuer), "[{backend}] {name}");
        }
    }
}

#[tokio::test]
async fn sessions_end_after_their_idle_and_absolute_lifetimes() {
    for backend in backends() {
        let app = WebApp::start_with(backend, |c| {
            c.sessions.idle_lifetime = 3600;
            c.sessions.absolute_lifetime = 7200;
        })
        .await;
        let silent = app.web_authorize(&[("prompt", "none")]);
        let error_of = |r: &reqwest::Response| query_of(&location(r)).get("error").cloned();

        let b = Browser::new();
        b.login(&app, &app.web_authorize(&[])).await;
        app.clock.advance(3000);
        assert_eq!(error_of(&b.get(&silent).await), None, "used within the idle lifetime");
        app.clock.advance(3000);
        assert_eq!(error_of(&b.get(&silent).await), None, "each use slides the idle expiry");
        app.clock.advance(1300);
        assert_eq!(error_of(&b.get(&silent).await).as_deref(), Some("login_required"), "past the absolute lifetime");

        let idle = Browser::new();
        idle.login(&app, &app.web_authorize(&[])).await;
        app.clock.advance(3601);
        assert_eq!(error_of(&idle.get(&silent).await).as_deref(), Some("login_required"), "idle too long");

        // Blocking the user ends their sessions' usefulness at once.
        let blocked = Browser::new();
        blocked.login(&app, &app.web_authorize(&[])).await;
        assert_eq!(error_of(&blocked.get(&silent).await), None);
        app.state.deployment.registry.set_blocked(&app.user_id, true).await.unwrap();
        assert_eq!(error_of(&blocked.get(&silent).await).as_deref(), Some("login_required"), "blocked user");
    }
}

async fn consent_form(b: &Browser, app: &WebApp, r: &reqwest::Response) -> (String, String, String) {
    let to = location(r);
    assert!(to.contains(routes::CONSENT), "expected the consent page, got {to}");
    let html = b.get(&to).await.text().await.unwrap();
    let _ = app;
    (field(&html, "txn").unwrap(), field(&html, "csrf").unwrap(), html)
}

#[tokio::test]
async fn consent_is_asked_remembered_per_scope_and_denial_is_access_denied() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        let url = |extra: &[(&str, &str)]| {
            let mut p = vec![
                ("client_id", app.third.id.as_str()),
                ("response_type", "code"),
                ("scope", "openid profile read:things"),
                ("audience", API),
                ("state", "c1"),
            ];
            for (k, v) in extra {
                p.retain(|(pk, _)| pk != k);
                p.push((k, v));
            }
            app.authorize_url(&p)
        };
        let decide = async |txn: &str, csrf: &str, decision: &str| {
            b.post_form(&app.url(routes::CONSENT), &[("txn", txn), ("csrf", csrf), ("decision", decision)]).await
        };

        // Third-party: login leads to the consent page, which names the client, API and scopes.
        let r = b.login(&app, &url(&[])).await;
        let (txn, csrf, html) = consent_form(&b, &app, &r).await;
        assert!(html.contains("Partner &lt;App&gt;"), "client name escaped: {html}");
        assert!(html.contains("Things API") && html.contains("Read your things (read:things)"), "{html}");
        let denied = decide(&txn, &csrf, "deny").await;
        assert_eq!(denied.status(), 303);
        let q = query_of(&location(&denied));
        assert_eq!((q["error"].as_str(), q["state"].as_str(), &q["iss"]), ("access_denied", "c1", &app.issuer));
        assert_eq!(q["tenant"], "a");
        let again = decide(&txn, &csrf, "allow").await;
        assert_eq!(again.status(), 400, "a decided transaction cannot be decided again");

        // Not remembered after a denial; allowing is.
        let r = b.get(&url(&[])).await;
        let (txn, csrf, _) = consent_form(&b, &app, &r).await;
        let allowed = decide(&txn, &csrf, "allow").await;
        assert!(query_of(&location(&allowed)).contains_key("code"));
        let c = app.store().get_consent(&app.user_id, &app.third.id, API).await.unwrap().expect("remembered");
        assert_eq!(c.scope, "openid profile read:things");
        let r = b.get(&url(&[("prompt", "none")])).await;
        assert!(query_of(&location(&r)).contains_key("code"), "remembered consent: no question");
        let r = b.get(&url(&[("scope", "openid read:things")])).await;
        assert!(query_of(&location(&r)).contains_key("code"), "a subset is covered");

        // A new scope asks again; prompt=none cannot; prompt=consent always asks.
        let more = [("scope", "openid profile email read:things")];
        let r = b.get(&url(&more)).await;
        consent_form(&b, &app, &r).await;
        let r = b.get(&url(&[more[0], ("prompt", "none")])).await;
        assert_eq!(query_of(&location(&r))["error"], "consent_required");
        let r = b.get(&url(&[("prompt", "consent")])).await;
        let (txn, csrf, _) = consent_form(&b, &app, &r).await;
        // The consent form is bound to this browser's transaction and CSRF token.
        let other = Browser::new();
        let r = other.post_form(&app.url(routes::CONSENT), &[("txn", &txn), ("csrf", &csrf), ("decision", "allow")]).await;
        assert_eq!(r.status(), 400, "another browser cannot answer");
        let r = decide(&txn, "wrong", "allow").await;
        assert_eq!(r.status(), 400, "wrong CSRF token");
        let r = decide(&txn, &csrf, "maybe").await;
        assert_eq!(r.status(), 400);
        let r = decide(&txn, &csrf, "allow").await;
        assert!(query_of(&location(&r)).contains_key("code"));
    }
}
