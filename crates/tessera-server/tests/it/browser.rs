//! The full authorization code flow in a real headless Chromium (driven by chromedriver
//! over plain WebDriver HTTP calls): the openidconnect crate discovers Tessera and builds
//! the authorization URL, the browser fills in the real login page, the code arrives at a
//! local callback listener, and openidconnect exchanges it, verifies the ID token and
//! calls /userinfo. Then `prompt=none` rides the session cookie, and `form_post` proves the
//! CSP-hashed auto-submit script runs.
//!
//! Without chromedriver the test prints a notice and passes, unless
//! `TESSERA_REQUIRE_BROWSER=1` (set by `.ci/run`), where it fails.

use std::collections::BTreeMap;
use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl,
    Scope,
};
use serde_json::{json, Value};
use tessera_core::model::{AppType, ClientPatch, TokenEndpointAuthMethod};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::support::TempDir;
use crate::support_web::*;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub fn find_chromedriver() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("chromedriver"))
        .chain([std::path::PathBuf::from("/usr/lib/chromium/chromedriver")])
        .find(|p| p.is_file())
}

pub struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    child: tokio::process::Child,
    _profile: TempDir,
}

impl Driver {
    pub async fn start(binary: &std::path::Path) -> Driver {
        Self::start_with(binary, &[], None).await
    }

    /// A session whose Chromium gets `extra_args` as well (e.g. `--ignore-certificate-errors`)
    /// and the profile preferences `prefs`.
    pub async fn start_with(binary: &std::path::Path, extra_args: &[&str], prefs: Option<Value>) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = TempDir::new("chromium");
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(extra_args.iter().map(|a| a.to_string()));
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut options = json!({ "args": args });
        if let Some(prefs) = prefs {
            options["prefs"] = prefs;
        }
        if std::path::Path::new("/usr/bin/chromium").is_file() {
            options["binary"] = "/usr/bin/chromium".into();
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.expect("new session").json().await.unwrap();
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {r}")).to_string();
        Driver { http, base, session, child, _profile: profile }
    }

    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.expect("WebDriver call").json().await.expect("WebDriver JSON");
        assert!(v["value"].get("error").is_none(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn element(&self, css: &str) -> String {
        let v = self.cmd(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        match v[ELEMENT].as_str() {
            Some(id) => id.to_string(),
            None => {
                let url = self.cmd(reqwest::Method::GET, "/url", None).await;
                let source = self.cmd(reqwest::Method::GET, "/source", None).await;
                panic!("no element {css}: {v} at {url}: {source}")
            }
        }
    }

    /// The HTML of the page the browser shows.
    pub async fn page_source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_string()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/value"), Some(json!({ "text": text }))).await;
    }

    pub async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/click"), Some(json!({}))).await;
    }

    pub async fn quit(mut self) {
        let _ = self.cmd(reqwest::Method::DELETE, "", None).await;
        let _ = self.child.kill().await;
    }
}

/// One request received by the callback listener.
#[derive(Debug)]
pub struct Hit {
    pub method: String,
    pub target: String,
    pub body: String,
}

/// A tiny HTTP server standing in for the client application's callback.
pub async fn callback_listener() -> (u16, mpsc::UnboundedReceiver<Hit>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let Ok(n) = sock.read(&mut chunk).await else { break };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let mut first = head.lines().next().unwrap_or("").split(' ');
                let hit = Hit {
                    method: first.next().unwrap_or("").to_string(),
                    target: first.next().unwrap_or("").to_string(),
                    body: String::from_utf8_lossy(&buf[head_end..]).to_string(),
                };
                let page = "<!DOCTYPE html><title>callback</title><p>ok</p>";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = tx.send(hit);
            });
        }
    });
    (port, rx)
}

/// The next request to `/cb` (skipping e.g. /favicon.ico).
pub async fn next_callback(rx: &mut mpsc::UnboundedReceiver<Hit>) -> Hit {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let hit = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the browser never reached the callback")
            .expect("listener");
        if hit.target.starts_with("/cb") {
            return hit;
        }
    }
}

pub fn params(encoded: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(encoded.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn code_flow_in_a_real_browser_with_an_independent_oidc_client() {
    let Some(chromedriver) = find_chromedriver() else {
        if std::env::var("TESSERA_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("TESSERA_REQUIRE_BROWSER=1 but chromedriver is not installed (apt-get install chromium chromium-driver)");
        }
        eprintln!("NOTICE: chromedriver not found; skipping the browser test (install chromium and chromium-driver)");
        return;
    };
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let (port, mut hits) = callback_listener().await;
        let callback = format!("http://127.0.0.1:{port}/cb");
        let created = app
            .state
            .deployment
            .registry
            .create_client(ClientPatch {
                name: Some("Browser Test App".into()),
                app_type: Some(AppType::RegularWeb),
                token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretBasic),
                grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
                callbacks: Some(vec![callback.clone()]),
                ..Default::default()
            })
            .await
            .unwrap();

        // The relying party: openidconnect, configured by discovery.
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let issuer = IssuerUrl::new(app.issuer.clone()).unwrap();
        let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.expect("discovery");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(created.client.client_id.clone()),
            created.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(callback.clone()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();

        // The user, in a real browser, on the real login page.
        let driver = Driver::start(&chromedriver).await;
        driver.goto(auth_url.as_str()).await;
        driver.type_into("input[name=username]", EMAIL).await;
        driver.type_into("input[name=password]", PASSWORD).await;
        driver.click("button[type=submit]").await;
        let hit = next_callback(&mut hits).await;
        assert_eq!(hit.method, "GET", "[{backend}]");
        let q = params(hit.target.split_once('?').map(|(_, q)| q).unwrap_or(""));
        assert_eq!(q.get("state"), Some(csrf.secret()), "[{backend}] state echoed");
        assert_eq!(q.get("iss"), Some(&app.issuer), "[{backend}] RFC 9207 iss");
        let code = q.get("code").expect("code").clone();

        // The code exchanged by the independent client; ID token and /userinfo verified by it.
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .expect("token endpoint")
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("[{backend}] code exchange: {e:?}"));
        let id_token = tokens.extra_fields().id_token().expect("id_token");
        let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("valid ID token");
        assert_eq!(claims.subject().as_str(), app.user_id);
        assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
        let info: CoreUserInfoClaims = client
            .user_info(tokens.access_token().clone(), None)
            .expect("userinfo endpoint")
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("[{backend}] userinfo: {e:?}"));
        assert_eq!(info.subject().as_str(), app.user_id);
        assert_eq!(info.email().map(|e| e.as_str()), Some(EMAIL));

        // SSO: the session cookie (SameSite=Lax) carries prompt=none straight to a code.
        let (silent, _, _) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_prompt(openidconnect::core::CoreAuthPrompt::None)
            .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
            .url();
        driver.goto(silent.as_str()).await;
        let hit = next_callback(&mut hits).await;
        assert!(params(hit.target.split_once('?').unwrap().1).contains_key("code"), "[{backend}] prompt=none: {hit:?}");

        // form_post: the CSP-hashed script submits the form to the client's origin.
        let mut post_url = silent.clone();
        post_url.query_pairs_mut().append_pair("response_mode", "form_post");
        driver.goto(post_url.as_str()).await;
        let hit = next_callback(&mut hits).await;
        assert_eq!(hit.method, "POST", "[{backend}] form_post auto-submitted: {hit:?}");
        let form = params(&hit.body);
        assert!(form.contains_key("code") && form.get("iss") == Some(&app.issuer), "[{backend}] {form:?}");
        driver.quit().await;
    }
}

/// The chromedriver to use, or `None` (the test is skipped) unless TESSERA_REQUIRE_BROWSER=1.
pub fn chromedriver() -> Option<std::path::PathBuf> {
    let found = find_chromedriver();
    if found.is_none() {
        assert!(
            std::env::var("TESSERA_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "TESSERA_REQUIRE_BROWSER=1 but chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        eprintln!("NOTICE: chromedriver not found; skipping the browser test");
    }
    found
}

/// Waits (bounded) until the page the browser shows contains `needle`: a click returns
/// before the next page has loaded.
pub async fn wait_for_text(driver: &Driver, needle: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if driver.page_source().await.contains(needle) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
