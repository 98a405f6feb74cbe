//! `response_mode=web_message` (issue 17: auth0-spa-js's `getTokenSilently` without refresh
//! tokens runs `/authorize?prompt=none&response_mode=web_message` in a hidden iframe): the
//! page that posts the response to the client's verified web origin, framable by exactly
//! that origin; the refusals (an origin not in `web_origins`, a foreign `web_message_uri`)
//! as unframeable error pages that post nothing; discovery advertising it. The browser side
//! (the message really arriving in auth0-spa-js) is in `spa_js.rs`.

use serde_json::Value;
use tessera_core::model::{AppType, ClientPatch};
use tessera_core::routes;

use crate::support_web::*;

const SPA_ORIGIN: &str = "https://spa.example.com";
const SPA_CALLBACK: &str = "https://spa.example.com/callback";
/// RFC 7636 appendix B: the verifier of [`CHALLENGE`].
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

async fn spa(app: &WebApp, name: &str, web_origins: &[&str]) -> String {
    let c = app
        .state
        .deployment
        .registry
        .create_client(ClientPatch {
            name: Some(name.into()),
            app_type: Some(AppType::Spa),
            callbacks: Some(vec![SPA_CALLBACK.into()]),
            web_origins: Some(web_origins.iter().map(|o| o.to_string()).collect()),
            ..Default::default()
        })
        .await
        .expect("spa client");
    c.client.client_id
}

fn silent(app: &WebApp, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut p = vec![
        ("client_id", client_id),
        ("redirect_uri", SPA_CALLBACK),
        ("response_type", "code"),
        ("response_mode", "web_message"),
        ("prompt", "none"),
        ("scope", "openid profile email"),
        ("state", "s-42"),
        ("nonce", "n-42"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        // auth0-spa-js adds its SDK name and version; unknown parameters are ignored.
        ("auth0Client", "eyJuYW1lIjoiYXV0aDAtc3BhLWpzIn0="),
    ];
    p.extend_from_slice(extra);
    app.authorize_url(&p)
}

/// The value of the HTML attribute `name` (unescaped).
fn attr(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("{name}=\""))? + name.len() + 2;
    let end = html[at..].find('"')?;
    Some(
        html[at..at + end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

/// The (status, CSP, X-Frame-Options, body) of a GET.
async fn get(b: &Browser, url: &str) -> (u16, String, Option<String>, String) {
    let r = b.get(url).await;
    let (status, csp, xfo) =
        (r.status().as_u16(), header(&r, "content-security-policy").unwrap_or_default(), header(&r, "x-frame-options"));
    (status, csp, xfo, r.text().await.unwrap())
}

#[tokio::test]
async fn web_message_posts_the_response_to_the_registered_web_origin_only() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let allowed = spa(&app, "SPA", &[SPA_ORIGIN, "http://localhost:3000"]).await;
        let b = Browser::new();

        // No session: the error goes back by message, as auth0-spa-js expects (login_required).
        let (status, csp, xfo, html) = get(&b, &silent(&app, &allowed, &[])).await;
        assert_eq!(status, 200, "[{backend}] {html}");
        assert!(csp.contains(&format!("frame-ancestors {SPA_ORIGIN};")), "[{backend}] framable by the origin only: {csp}");
        assert!(csp.contains("script-src 'sha256-"), "[{backend}] {csp}");
        assert_eq!(xfo, None, "[{backend}] no X-Frame-Options on the one framable page");
        assert_eq!(attr(&html, "data-origin").as_deref(), Some(SPA_ORIGIN), "[{backend}]");
        let response: Value = serde_json::from_str(&attr(&html, "data-response").unwrap()).unwrap();
        assert_eq!(response["error"], "login_required", "[{backend}] {response}");
        assert_eq!(response["state"], "s-42", "[{backend}] {response}");
        assert_eq!(response["iss"], app.issuer.as_str(), "[{backend}] {response}");
        assert!(response.get("code").is_none(), "[{backend}] {response}");

        // With a session: a code, which the SPA redeems with its PKCE verifier.
        assert_eq!(b.login(&app, &app.web_authorize(&[])).await.status(), 303, "[{backend}] log in");
        let (status, _, _, html) = get(&b, &silent(&app, &allowed, &[])).await;
        assert_eq!(status, 200, "[{backend}] {html}");
        let response: Value = serde_json::from_str(&attr(&html, "data-response").unwrap()).unwrap();
        assert_eq!(response["state"], "s-42", "[{backend}] {response}");
        let code = response["code"].as_str().unwrap_or_else(|| panic!("[{backend}] no code: {response}"));
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", allowed.as_str()),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", SPA_CALLBACK),
        ];
        let token = b.post_form(&app.url(routes::TOKEN), &form).await;
        assert_eq!(token.status(), 200, "[{backend}] the posted code is a real one");
        let token: Value = token.json().await.unwrap();
        assert!(token["id_token"].is_string(), "[{backend}] {token}");

        // web_message_uri may name another registered web origin; the message goes there.
        let (status, csp, _, html) = get(&b, &silent(&app, &allowed, &[("web_message_uri", "http://localhost:3000/app")])).await;
        assert_eq!(status, 200, "[{backend}] {html}");
        assert!(csp.contains("frame-ancestors http://localhost:3000;"), "[{backend}] {csp}");
        assert_eq!(attr(&html, "data-origin").as_deref(), Some("http://localhost:3000"), "[{backend}]");

        // Refusals: an error page, unframeable, with nothing to post.
        let unlisted = spa(&app, "SPA without web origins", &[]).await;
        for (url, says) in [
            (silent(&app, &unlisted, &[]), "https://spa.example.com is not an allowed web origin of this application"),
            (
                silent(&app, &allowed, &[("web_message_uri", "https://evil.example.net/x")]),
                "https://evil.example.net is not an allowed web origin of this application",
            ),
        ] {
            let (status, csp, xfo, html) = get(&b, &url).await;
            assert_eq!(status, 400, "[{backend}] {url}: {html}");
            assert!(html.contains("invalid_request") && html.contains(says), "[{backend}] {html}");
            assert!(!html.contains("data-response") && !html.contains("postMessage"), "[{backend}] nothing is posted: {html}");
            assert!(csp.contains("frame-ancestors 'none';"), "[{backend}] {csp}");
            assert_eq!(xfo.as_deref(), Some("DENY"), "[{backend}]");
        }

        // Every other page stays unframeable: the login page a web_message login goes to.
        let fresh = Browser::new();
        let interactive = silent(&app, &allowed, &[]).replace("prompt=none", "prompt=login");
        let r = fresh.get(&interactive).await;
        assert_eq!(r.status(), 302, "[{backend}] interactive web_message goes to the login page");
        let login = fresh.get(&location(&r)).await;
        assert_eq!(header(&login, "x-frame-options").as_deref(), Some("DENY"), "[{backend}]");
        assert!(header(&login, "content-security-policy").unwrap().contains("frame-ancestors 'none';"), "[{backend}]");
        // After the login (a popup, as loginWithPopup): the code by message to the same origin.
        let (txn, csrf) = fresh.open_login(&interactive).await;
        let r = fresh.submit_login(&app, &txn, &csrf, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 200, "[{backend}] the login answers with the web_message page");
        assert!(
            header(&r, "content-security-policy").unwrap().contains(&format!("frame-ancestors {SPA_ORIGIN};")),
            "[{backend}]"
        );
        let html = r.text().await.unwrap();
        assert_eq!(attr(&html, "data-origin").as_deref(), Some(SPA_ORIGIN), "[{backend}]");
        let response: Value = serde_json::from_str(&attr(&html, "data-response").unwrap()).unwrap();
        assert!(response["code"].is_string() && response["state"] == "s-42", "[{backend}] {response}");

        // Discovery advertises the mode.
        let d: Value = b.get(&app.url(routes::OPENID_CONFIGURATION)).await.json().await.unwrap();
        assert_eq!(
            d["response_modes_supported"],
            serde_json::json!(["query", "fragment", "form_post", "web_message"]),
            "[{backend}]"
        );
    }
}

#[tokio::test]
async fn web_origins_are_validated_and_shown_in_auth0_shape() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let r = &app.state.deployment.registry;
        for (bad, says) in [
            ("https://spa.example.com/", "must be an origin: scheme://host[:port], without path"),
            ("http://spa.example.com", "must use https"),
            ("https://*.example.com", "wildcard"),
        ] {
            let e = r
                .create_client(ClientPatch {
                    name: Some("Bad".into()),
                    web_origins: Some(vec![bad.into()]),
                    ..Default::default()
                })
                .await
                .expect_err(bad);
            assert!(e.description().contains(says), "[{backend}] {bad}: {}", e.description());
            let e = r
                .create_client(ClientPatch {
                    name: Some("Bad".into()),
                    allowed_origins: Some(vec![bad.into()]),
                    ..Default::default()
                })
                .await
                .expect_err(bad);
            assert!(e.description().starts_with("allowed origin"), "[{backend}] {bad}: {}", e.description());
        }
        let id = spa(&app, "SPA", &[SPA_ORIGIN]).await;
        let c = r
            .update_client(
                &id,
                ClientPatch { allowed_origins: Some(vec!["https://login.example.com".into()]), ..Default::default() },
            )
            .await
            .unwrap();
        let json = c.client.auth0_json();
        assert_eq!(json["web_origins"], serde_json::json!([SPA_ORIGIN]), "[{backend}] {json}");
        assert_eq!(json["allowed_origins"], serde_json::json!(["https://login.example.com"]), "[{backend}] {json}");
    }
}

#[tokio::test]
async fn web_and_allowed_origins_are_set_with_the_cli() {
    for backend in backends() {
        let data = crate::support::TestData::new(backend);
        let cli = crate::support::Cli::new(&data);
        let created = cli
            .run(&[
                "clients",
                "create",
                "--name",
                "SPA",
                "--app-type",
                "spa",
                "--callback",
                SPA_CALLBACK,
                "--web-origin",
                SPA_ORIGIN,
                "--web-origin",
                "http://localhost:3000",
                "--allowed-origin",
                "https://login.example.com",
                "--json",
            ])
            .json();
        assert_eq!(created["web_origins"], serde_json::json!([SPA_ORIGIN, "http://localhost:3000"]), "[{backend}] {created}");
        assert_eq!(created["allowed_origins"], serde_json::json!(["https://login.example.com"]), "[{backend}] {created}");
        let id = created["client_id"].as_str().unwrap();
        let updated = cli.run(&["clients", "update", id, "--web-origin", "https://other.example.com", "--json"]).json();
        assert_eq!(updated["web_origins"], serde_json::json!(["https://other.example.com"]), "[{backend}] replaced");
        assert_eq!(updated["allowed_origins"], serde_json::json!(["https://login.example.com"]), "[{backend}] kept");
        let shown = cli.run(&["clients", "show", id]).ok().to_string();
        assert!(shown.contains("web origins:   https://other.example.com\n"), "[{backend}] {shown}");
        assert!(shown.contains("cors origins:  https://login.example.com\n"), "[{backend}] {shown}");
        let err = cli.run(&["clients", "update", id, "--web-origin", "https://other.example.com/app"]).err().to_string();
        assert!(err.contains("web origin 'https://other.example.com/app' must be an origin"), "[{backend}] {err}");
    }
}

#[tokio::test]
async fn web_and_allowed_origins_are_set_through_the_management_api() {
    for backend in backends() {
        let app = crate::support::TestApp::spawn_with(backend).await;
        let b = app.state.deployment.registry.bootstrap_management_client(&app.issuer).await.unwrap();
        let audience = tessera_core::registry::management_audience(&app.issuer);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", b.client_id.as_str()),
            ("client_secret", b.client_secret.as_deref().unwrap()),
            ("audience", audience.as_str()),
        ];
        let t: Value = app.http.post(app.url(routes::TOKEN)).form(&form).send().await.unwrap().json().await.unwrap();
        let token = t["access_token"].as_str().unwrap_or_else(|| panic!("[{backend}] {t}")).to_string();
        let call = |method: reqwest::Method, path: String, body: Value| {
            let req = app.http.request(method, app.url(&format!("/api/v2{path}"))).bearer_auth(&token).json(&body);
            async move {
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let body = serde_json::json!({
            "name": "SPA", "app_type": "spa", "callbacks": [SPA_CALLBACK],
            "web_origins": [SPA_ORIGIN], "allowed_origins": ["https://login.example.com"],
        });
        let (s, c) = call(reqwest::Method::POST, "/clients".into(), body).await;
        assert_eq!(s, 201, "[{backend}] {c}");
        assert_eq!(c["web_origins"], serde_json::json!([SPA_ORIGIN]), "[{backend}] {c}");
        assert_eq!(c["allowed_origins"], serde_json::json!(["https://login.example.com"]), "[{backend}] {c}");
        let id = c["client_id"].as_str().unwrap().to_string();
        let (s, c) = call(reqwest::Method::PATCH, format!("/clients/{id}"), serde_json::json!({"web_origins": []})).await;
        assert_eq!((s, &c["web_origins"]), (200, &serde_json::json!([])), "[{backend}] {c}");
        let (s, c) = call(reqwest::Method::GET, format!("/clients/{id}"), Value::Null).await;
        assert_eq!((s, &c["allowed_origins"]), (200, &serde_json::json!(["https://login.example.com"])), "[{backend}] {c}");
        let (s, e) = call(
            reqwest::Method::PATCH,
            format!("/clients/{id}"),
            serde_json::json!({"allowed_origins": ["https://x.example.com/p"]}),
        )
        .await;
        assert_eq!(s, 400, "[{backend}] {e}");
        assert!(e["message"].as_str().unwrap_or_default().contains("allowed origin"), "[{backend}] {e}");
    }
}
