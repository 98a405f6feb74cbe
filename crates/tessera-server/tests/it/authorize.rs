//! /authorize: every check with a bad input gives its exact error and is shown or
//! redirected as RFC 6749 §4.1.2.1 says; no crafted redirect URI is ever redirected to;
//! the response modes; the exact security headers of every HTML page.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tessera_core::model::ClientPatch;
use tessera_core::routes;

use crate::support_web::*;

#[derive(Debug, Clone, Copy)]
enum Want {
    /// An HTML error page (400) with this code, and no Location.
    Page(&'static str),
    /// A redirect to the callback with `error=<code>`.
    Redirect(&'static str),
}

type Params = Vec<(&'static str, String)>;

fn base(app: &WebApp) -> Params {
    vec![
        ("client_id", app.web.id.clone()),
        ("redirect_uri", CALLBACK.into()),
        ("response_type", "code".into()),
        ("scope", "openid profile".into()),
        ("state", "st".into()),
    ]
}

fn with(mut p: Params, k: &'static str, v: &str) -> Params {
    p.retain(|(pk, _)| *pk != k);
    p.push((k, v.into()));
    p
}

fn without(mut p: Params, k: &str) -> Params {
    p.retain(|(pk, _)| *pk != k);
    p
}

fn plus(mut p: Params, k: &'static str, v: &str) -> Params {
    p.push((k, v.into()));
    p
}

fn cases(app: &WebApp) -> Vec<(&'static str, Params, Want)> {
    let b = || base(app);
    let native = || with(with(b(), "client_id", &app.native.id), "redirect_uri", NATIVE_CALLBACK);
    let pkce = |p: Params| with(with(p, "code_challenge", CHALLENGE), "code_challenge_method", "S256");
    vec![
        ("no client_id", without(b(), "client_id"), Want::Page("invalid_request")),
        ("unknown client", with(b(), "client_id", "nope"), Want::Page("invalid_client")),
        ("client_id repeated", plus(b(), "client_id", &app.web.id), Want::Page("invalid_request")),
        ("unregistered redirect_uri", with(b(), "redirect_uri", "https://evil.example/cb"), Want::Page("invalid_request")),
        ("redirect_uri repeated", plus(b(), "redirect_uri", CALLBACK), Want::Page("invalid_request")),
        ("redirect_uri omitted, two registered", without(b(), "redirect_uri"), Want::Page("invalid_request")),
        ("no response_type", without(b(), "response_type"), Want::Redirect("invalid_request")),
        ("client without the code grant", with(b(), "client_id", &app.cc_only.id), Want::Redirect("unauthorized_client")),
        ("response_mode fragment", with(b(), "response_mode", "fragment"), Want::Redirect("invalid_request")),
        ("scope with a quote", with(b(), "scope", "openid \"x"), Want::Redirect("invalid_scope")),
        ("scope repeated", plus(b(), "scope", "email"), Want::Redirect("invalid_request")),
        ("unknown audience", with(b(), "audience", "https://unknown.example"), Want::Redirect("access_denied")),
        ("unknown resource", with(b(), "resource", "https://unknown.example"), Want::Redirect("invalid_target")),
        ("relative resource", with(b(), "resource", "api"), Want::Redirect("invalid_target")),
        ("resource with fragment", with(b(), "resource", "https://api.web.example#x"), Want::Redirect("invalid_target")),
        (
            "audience and resource differ",
            with(with(b(), "audience", API), "resource", "https://other.example"),
            Want::Redirect("invalid_target"),
        ),
        ("two resources", plus(with(b(), "resource", API), "resource", API), Want::Redirect("invalid_target")),
        ("public client without PKCE", native(), Want::Redirect("invalid_request")),
        ("PKCE plain", with(pkce(native()), "code_challenge_method", "plain"), Want::Redirect("invalid_request")),
        ("PKCE method missing", without(pkce(native()), "code_challenge_method"), Want::Redirect("invalid_request")),
        ("PKCE method unknown", with(pkce(native()), "code_challenge_method", "S512"), Want::Redirect("invalid_request")),
        ("PKCE method without challenge", without(pkce(b()), "code_challenge"), Want::Redirect("invalid_request")),
        ("challenge too short", with(pkce(native()), "code_challenge", &CHALLENGE[..42]), Want::Redirect("invalid_request")),
        (
            "challenge too long",
            with(pkce(native()), "code_challenge", &format!("{CHALLENGE}A")),
            Want::Redirect("invalid_request"),
        ),
        (
            "challenge charset",
            with(pkce(native()), "code_challenge", &format!("{}+", &CHALLENGE[..42])),
            Want::Redirect("invalid_request"),
        ),
        ("prompt none with login", with(b(), "prompt", "none login"), Want::Redirect("invalid_request")),
        ("prompt unknown", with(b(), "prompt", "sideways"), Want::Redirect("invalid_request")),
        ("max_age negative", with(b(), "max_age", "-1"), Want::Redirect("invalid_request")),
        ("max_age not a number", with(b(), "max_age", "soon"), Want::Redirect("invalid_request")),
        ("dpop_jkt malformed", with(b(), "dpop_jkt", "short"), Want::Redirect("invalid_request")),
        ("id_token_hint not a JWT", with(b(), "id_token_hint", "not.a.token"), Want::Redirect("invalid_request")),
        ("id_token_hint forged", with(b(), "id_token_hint", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), Want::Redirect("invalid_request")),
        (
            "id_token_hint bad, client unknown",
            with(with(b(), "id_token_hint", "not.a.token"), "client_id", "nope"),
            Want::Page("invalid_client"),
        ),
        ("request object", with(b(), "request", "eyJhbGciOiJub25lIn0.e30."), Want::Redirect("invalid_request")),
        // Not a request_uri of ours (RFC 9126 §4): nothing says where a response may go.
        ("request_uri", with(b(), "request_uri", "https://evil.example/r"), Want::Page("invalid_request_uri")),
        ("nonce repeated", plus(plus(b(), "nonce", "a"), "nonce", "b"), Want::Redirect("invalid_request")),
        ("prompt none without a session", with(b(), "prompt", "none"), Want::Redirect("login_required")),
    ]
}

async fn check(app: &WebApp, name: &str, resp: reqwest::Response, want: Want, state: Option<&str>, redirect_uri: &str) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.expect("body");
    let ctx = format!("[{}] {name}: {status} {headers:?} {body}", app.backend);
    match want {
        Want::Page(code) => {
            assert_eq!(status, 400, "{ctx}");
            assert!(headers.get("location").is_none(), "{ctx}");
            assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"), "{ctx}");
            assert!(body.contains(&format!("<code>{code}</code>")), "{ctx}");
        }
        Want::Redirect(code) => {
            assert!(status == 302 || status == 303, "{ctx}");
            let to = headers["location"].to_str().unwrap();
            assert!(to.starts_with(&format!("{redirect_uri}?")), "{ctx}");
            let q = query_of(to);
            assert_eq!(q.get("error").map(String::as_str), Some(code), "{ctx}");
            assert!(q.contains_key("error_description"), "{ctx}");
            assert_eq!(q.get("state").map(String::as_str), state, "{ctx}");
            assert_eq!(q.get("iss"), Some(&app.issuer), "{ctx}");
        }
    }
}

#[tokio::test]
async fn every_check_gives_its_exact_error_and_is_redirected_only_when_allowed() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let http = Browser::new().http;
        for (name, params, want) in cases(&app) {
            let state_repeated = params.iter().filter(|(k, _)| *k == "state").count() > 1;
            let state = if state_repeated { None } else { Some("st") };
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let redirect_uri = pairs.iter().find(|(k, _)| *k == "redirect_uri").map_or(CALLBACK, |(_, v)| *v);
            let get = http.get(app.authorize_url(&pairs)).send().await.unwrap();
            check(&app, &format!("GET {name}"), get, want, state, redirect_uri).await;
            // The same request as a form POST (OIDC Core §3.1.2.1).
            let post = http.post(app.url(routes::AUTHORIZE)).form(&pairs).send().await.unwrap();
            check(&app, &format!("POST {name}"), post, want, state, redirect_uri).await;
        }
        // Auth0's wording for an unknown audience.
        let r = http.get(app.web_authorize(&[("audience", "https://unknown.example")])).send().await.unwrap();
        let q = query_of(&location(&r));
        assert_eq!(q["error_description"], "Service not enabled within domain: https://unknown.example");
    }
}

/// Clients and APIs come from the registry's cache; a change made through the registry
/// reaches /authorize at once (the cache is cleared with the write).
#[tokio::test]
async fn registry_changes_reach_authorize_at_once() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let http = Browser::new().http;
        let registry = &app.state.deployment.registry;
        let to_login = |r: &reqwest::Response| r.status() == 302 && location(r).contains(routes::LOGIN);
        // Both served (and now cached).
        let r = http.get(app.web_authorize(&[("audience", API)])).send().await.unwrap();
        assert!(to_login(&r), "[{backend}] {r:?}");

        // The callback is unregistered: the same request is refused on a page.
        let patch = ClientPatch { callbacks: Some(vec![CALLBACK_2.into()]), ..Default::default() };
        registry.update_client(&app.web.id, patch).await.unwrap();
        let r = http.get(app.web_authorize(&[])).send().await.unwrap();
        check(&app, "callback removed", r, Want::Page("invalid_request"), Some("st-1"), CALLBACK).await;
        let r = http.get(app.web_authorize(&[("redirect_uri", CALLBACK_2)])).send().await.unwrap();
        assert!(to_login(&r), "[{backend}] the new callback is served: {r:?}");

        // The API is deleted: asking for it is refused.
        registry.delete_api(API).await.unwrap();
        let r = http.get(app.web_authorize(&[("redirect_uri", CALLBACK_2), ("audience", API)])).send().await.unwrap();
        check(&app, "API deleted", r, Want::Redirect("access_denied"), Some("st-1"), CALLBACK_2).await;
    }
}

#[tokio::test]
async fn accepted_parameters_do_not_break_the_flow() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        let extra = [
            ("ui_locales", "fr-CA en"),
            ("display", "popup"),
            ("acr_values", "urn:mace:incommon:iap:silver"),
            ("claims_locales", "de"),
            ("login_hint", "alice@example.com"),
            ("unknown_param", "ignored"),
            ("prompt", "select_account"),
        ];
        let r = b.get(&app.web_authorize(&extra)).await;
        assert_eq!(r.status(), 302, "[{backend}]");
        let page = b.get(&location(&r)).await.text().await.unwrap();
        assert_eq!(field(&page, "username").as_deref(), Some("alice@example.com"), "login_hint pre-fills the form");
    }
}

/// The open-redirect table: crafted variants of the registered URIs must never be
/// redirected to, even when the rest of the request is also wrong.
#[tokio::test]
async fn no_crafted_redirect_uri_is_ever_redirected_to() {
    let crafted = [
        "https://evil.example/callback",
        "https://app.example.com/callback?x=1",
        "https://app.example.com/callback?",
        "https://app.example.com/Callback",
        "https://APP.example.com/callback",
        "HTTPS://app.example.com/callback",
        "https://app.example.com/callback/",
        "https://app.example.com/callback/../callback",
        "https://app.example.com/x/../callback",
        "https://app.example.com/%2e%2e/callback",
        "https://app.example.com/callback/%2e%2e",
        "https://app.example.com/callback%2F..%2F",
        "https://app.example.com/callback#frag",
        "https://app.example.com:443/callback",
        "https://user@app.example.com/callback",
        "https://app.example.com@evil.example/callback",
        "https://app.example.com.evil.example/callback",
        "http://app.example.com/callback",
        "javascript:alert(document.domain)//https://app.example.com/callback",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/callback",
        "/callback",
        "http://localhost.evil/native",
        "http://127.0.0.1.evil.example/native",
        "http://127.0.0.1:8080@evil.example/native",
        "http://127.0.0.1/native/../evil",
        "http://[::1]/native",
        "https://127.0.0.1/native",
    ];
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let http = Browser::new().http;
        for uri in crafted {
            for client in [&app.web.id, &app.native.id] {
                for response_type in ["code", "token"] {
                    let params =
                        [("client_id", client.as_str()), ("redirect_uri", uri), ("response_type", response_type), ("state", "s")];
                    let r = http.get(app.authorize_url(&params)).send().await.unwrap();
                    let status = r.status();
                    assert!(r.headers().get("location").is_none(), "[{backend}] {uri} was redirected to");
                    assert_eq!(status, 400, "[{backend}] {uri}");
                    let body = r.text().await.unwrap();
                    assert!(!body.contains("<form") && !body.contains("refresh"), "[{backend}] {uri}: {body}");
                }
            }
        }
        // The loopback port exception (RFC 8252 §7.3) is the only latitude.
        let ok = [
            ("client_id", app.native.id.as_str()),
            ("redirect_uri", "http://127.0.0.1:54321/native"),
            ("response_type", "code"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        let r = http.get(app.authorize_url(&ok)).send().await.unwrap();
        assert_eq!(r.status(), 302);
        assert!(location(&r).contains(routes::LOGIN));
        // ... and only for native apps (RFC 9700 §2.1): a web app's loopback callback is
        // matched exactly, port included.
        let callbacks = Some(vec![CALLBACK.to_string(), NATIVE_CALLBACK.to_string()]);
        app.state.deployment.registry.update_client(&app.web.id, ClientPatch { callbacks, ..Default::default() }).await.unwrap();
        for (uri, status) in [("http://127.0.0.1:54321/native", 400), (NATIVE_CALLBACK, 302)] {
            let params = [("client_id", app.web.id.as_str()), ("redirect_uri", uri), ("response_type", "code"), ("state", "s")];
            let r = http.get(app.authorize_url(&params)).send().await.unwrap();
            assert_eq!(r.status(), status, "[{backend}] web app, {uri}");
            assert_eq!(r.headers().get("location").is_some(), status == 302, "[{backend}] web app, {uri}");
        }
    }
}

#[tokio::test]
async fn form_post_delivers_codes_and_errors_as_an_auto_submitted_form() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        // An error before any login, in form_post mode.
        let r =
            b.get(&app.web_authorize(&[("response_type", "token"), ("response_mode", "form_post"), ("state", "a&b\"c")])).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!("action=\"{CALLBACK}\"")));
        assert_eq!(field(&html, "error").as_deref(), Some("unsupported_response_type"));
        assert_eq!(field(&html, "state").as_deref(), Some("a&b\"c"));
        assert_eq!(field(&html, "iss"), Some(app.issuer.clone()));
        // A code after login.
        let (txn, csrf) = b.open_login(&app.web_authorize(&[("response_mode", "form_post")])).await;
        let r = b.submit_login(&app, &txn, &csrf, USERNAME, PASSWORD).await;
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("form-action 'self' https://app.example.com;"), "{csp}");
        let html = r.text().await.unwrap();
        let code = field(&html, "code").expect("code field");
        assert_eq!(field(&html, "state").as_deref(), Some("st-1"));
        assert_eq!(field(&html, "iss"), Some(app.issuer.clone()));
        assert!(html.contains("<button type=\"submit\">Continue</button>"), "usable without JavaScript");
        // The script that submits it is allowed by its hash and nothing else is.
        let script = between(&html, "<script>", "</script>");
        assert!(csp.contains(&format!("script-src 'sha256-{}'", sha256_b64(script))), "{csp}");
        let hash = app.state.deployment.keyring.hash_handle(&code);
        assert!(app.store().get_code(&hash).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn codes_are_appended_to_a_registered_query_and_omitted_redirect_uri_is_recorded_as_none() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        // The third-party client has exactly one callback, with a query: redirect_uri may be omitted.
        let url =
            app.authorize_url(&[("client_id", &app.third.id), ("response_type", "code"), ("scope", "openid"), ("state", "x")]);
        let r = b.login(&app, &url).await;
        let consent = b.get(&location(&r)).await.text().await.unwrap();
        let r = b
            .post_form(
                &app.url(routes::CONSENT),
                &[("txn", &field(&consent, "txn").unwrap()), ("csrf", &field(&consent, "csrf").unwrap()), ("decision", "allow")],
            )
            .await;
        let to = location(&r);
        assert!(to.starts_with(&format!("{THIRD_CALLBACK}&code=")), "{to}");
        let q = query_of(&to);
        assert_eq!(q["tenant"], "a");
        let code = app.store().get_code(&app.state.deployment.keyring.hash_handle(&q["code"])).await.unwrap().unwrap();
        assert_eq!(code.redirect_uri, None);
        assert_eq!(code.client_id, app.third.id);
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let a = s.find(start).expect("start") + start.len();
    let b = s[a..].find(end).expect("end") + a;
    &s[a..b]
}

fn sha256_b64(s: &str) -> String {
    STANDARD.encode(tessera_core::crypto::sha256(s.as_bytes()))
}

/// Every HTML page carries exactly these headers, and its CSP allows exactly its own
/// inline style (by hash) and the client's origin as a form target where needed.
#[tokio::test]
async fn html_pages_carry_the_exact_security_headers() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        let error_page = b
            .http
            .get(app.authorize_url(&[("client_id", "nope")]))
            .header("Origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        let login_redirect = b.http.get(app.web_authorize(&[])).header("Origin", "https://evil.example").send().await.unwrap();
        let login_page = b.get(&location(&login_redirect)).await;
        let third = app.authorize_url(&[("client_id", &app.third.id), ("response_type", "code"), ("scope", "openid")]);
        let consent_redirect = b.login(&app, &third).await;
        let consent_page = b.get(&location(&consent_redirect)).await;
        let logout_page = b.get(&app.url(routes::V2_LOGOUT)).await;
        let pages = [
            ("error", error_page, ""),
            ("login", login_page, " https://app.example.com"),
            ("consent", consent_page, " https://third.example.net"),
            ("logged out", logout_page, ""),
        ];
        for (name, r, form_target) in pages {
            let h = r.headers().clone();
            let html = r.text().await.unwrap();
            let style = between(&html, "<style>", "</style>");
            let csp = format!(
                "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'{form_target}; style-src 'sha256-{}'",
                sha256_b64(style)
            );
            let ctx = format!("[{backend}] {name} page");
            assert_eq!(h["content-security-policy"], csp.as_str(), "{ctx}");
            assert_eq!(h["x-frame-options"], "DENY", "{ctx}");
            assert_eq!(h["referrer-policy"], "no-referrer", "{ctx}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{ctx}");
            assert_eq!(h["cache-control"], "no-store", "{ctx}");
            assert_eq!(h["content-type"], "text/html; charset=utf-8", "{ctx}");
            assert!(h.get("access-control-allow-origin").is_none(), "{ctx}: no CORS");
            for tag in ["<link", "<img", "<script src", "<iframe", "@import"] {
                assert!(!html.contains(tag), "{ctx}: no external resources ({tag})");
            }
        }
        // The redirect from /authorize: no CORS, not cacheable.
        assert!(login_redirect.headers().get("access-control-allow-origin").is_none());
        assert_eq!(login_redirect.headers()["cache-control"], "no-store");
    }
}
