//! `@auth0/auth0-spa-js` (issue 17), unchanged and with its defaults, in headless Chromium
//! against a live `tessera serve` over TLS: a page on a second loopback origin (another
//! site: `http://localhost:PORT` against `https://127.0.0.1:PORT`) loads the SDK's browser
//! bundle from `tests/sdk/node_modules` and does what its README shows —
//! `createAuth0Client({domain, clientId, authorizationParams: {redirect_uri, audience}})`,
//! `loginWithRedirect` (the user fills in the hosted login page), `handleRedirectCallback`,
//! `getUser`, `getTokenSilently` with `useRefreshTokens: true` (the refresh grant, from a
//! Web Worker, with its `Auth0-Client` header through CORS) and without (the hidden iframe:
//! `prompt=none&response_mode=web_message`, the cross-site `SameSite=None` session cookie),
//! `logout`. A client whose `web_origins` do not list the page's origin gets no message.
//!
//! Chromium is told to accept the test CA's certificate (`--ignore-certificate-errors`) and,
//! for the main run, to allow third-party cookies as Chrome does by default; a second run
//! with this Chromium's default (third-party cookies blocked) shows the iframe answering
//! `login_required` while refresh tokens still work.
//! Without chromedriver or the npm package the test says so and passes, unless
//! `TESSERA_REQUIRE_BROWSER=1` / `TESSERA_REQUIRE_SDKS=1` (`.ci/run`), where it fails.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::browser::{find_chromedriver, Driver};
use crate::support::backends;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::sdk_dir;

const AUDIENCE: &str = "https://api.spa.test";
const EMAIL: &str = "spa-user@example.com";
const PASSWORD: &str = "a long enough password 17";

/// The app's page: the SDK's UMD bundle (global `auth0`) and nothing else; the test drives
/// it through WebDriver's execute commands.
const PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>SPA</title>\
    <script src=\"/auth0-spa-js.production.js\"></script></head><body><p>SPA</p></body></html>";

/// Starts the login: the SDK redirects to /authorize.
const LOGIN: &str = r#"
const cfg = arguments[0];
auth0.createAuth0Client({domain: cfg.domain, clientId: cfg.clientId, useRefreshTokens: true,
    authorizationParams: {redirect_uri: cfg.redirectUri, audience: cfg.audience}})
  .then(c => c.loginWithRedirect())
  .catch(e => { document.title = "failed: " + (e.error || e.message); });
return true;
"#;

/// On the callback: finish the login, read the user, get tokens from the cache, with the
/// refresh token and with the iframe; then try the iframe for a client whose web origins do
/// not include this page's.
const AFTER_CALLBACK: &str = r#"
const cfg = arguments[0], done = arguments[arguments.length - 1];
const opts = (extra) => Object.assign({domain: cfg.domain, clientId: cfg.clientId,
    authorizationParams: {redirect_uri: cfg.redirectUri, audience: cfg.audience}}, extra);
const fail = (step) => (e) => { throw {step, error: e.error || e.name, description: e.error_description || e.message}; };
(async () => {
  const rt = await auth0.createAuth0Client(opts({useRefreshTokens: true}));
  await rt.handleRedirectCallback().catch(fail("handleRedirectCallback"));
  const user = await rt.getUser();
  const cached = await rt.getTokenSilently({detailedResponse: true}).catch(fail("cached token"));
  const refreshed = await rt.getTokenSilently({cacheMode: "off", detailedResponse: true}).catch(fail("refresh token"));
  // Without refresh tokens: createAuth0Client's checkSession already runs the iframe once.
  const frame = await auth0.createAuth0Client(opts({})).catch(fail("checkSession"));
  const silent = await frame.getTokenSilently({cacheMode: "off", detailedResponse: true, timeoutInSeconds: 30}).catch(fail("iframe"));
  const frameUser = await frame.getUser();
  const other = new auth0.Auth0Client(Object.assign(opts({}), {clientId: cfg.otherClientId}));
  const refused = await other.getTokenSilently({cacheMode: "off", timeoutInSeconds: 3})
    .then(t => ({token: t}), e => ({error: e.error, description: e.error_description}));
  return {user, cached: cached.access_token, refreshed: refreshed.access_token, refreshedScope: refreshed.scope,
          silent: silent.access_token, frameUser, refused};
})().then(v => done({ok: v}), e => done({failed: e}));
"#;

const LOGOUT: &str = r#"
const cfg = arguments[0];
new auth0.Auth0Client({domain: cfg.domain, clientId: cfg.clientId, authorizationParams: {redirect_uri: cfg.redirectUri}})
  .logout({logoutParams: {returnTo: cfg.appOrigin + "/logged-out"}});
return true;
"#;

/// After logout the iframe finds no session.
const AFTER_LOGOUT: &str = r#"
const cfg = arguments[0], done = arguments[arguments.length - 1];
new auth0.Auth0Client({domain: cfg.domain, clientId: cfg.clientId, authorizationParams: {redirect_uri: cfg.redirectUri, audience: cfg.audience}})
  .getTokenSilently({cacheMode: "off", timeoutInSeconds: 30})
  .then(t => done({token: t}), e => done({refused: {error: e.error, description: e.error_description}}));
"#;

fn bundle() -> PathBuf {
    sdk_dir().join("node_modules/@auth0/auth0-spa-js/dist/auth0-spa-js.production.js")
}

/// Whether chromedriver and the SDK bundle are here (or a failure when they are required).
fn available() -> Option<PathBuf> {
    let required = |var: &str| std::env::var(var).is_ok_and(|v| v == "1");
    let Some(chromedriver) = find_chromedriver() else {
        assert!(!required("TESSERA_REQUIRE_BROWSER"), "TESSERA_REQUIRE_BROWSER=1 but chromedriver is not installed");
        eprintln!("NOTICE: chromedriver not found; skipping the auth0-spa-js test (install chromium and chromium-driver)");
        return None;
    };
    if !bundle().is_file() {
        assert!(!required("TESSERA_REQUIRE_SDKS"), "TESSERA_REQUIRE_SDKS=1 but {} is missing (npm ci)", bundle().display());
        eprintln!(
            "NOTICE: @auth0/auth0-spa-js is not installed; skipping (npm install --prefix crates/tessera-server/tests/sdk)"
        );
        return None;
    }
    Some(chromedriver)
}

/// The app's origin: a tiny static server with the page (any path) and the SDK bundle.
async fn app_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind app server");
    let port = listener.local_addr().expect("addr").port();
    let js = std::sync::Arc::new(std::fs::read(bundle()).expect("read the auth0-spa-js bundle"));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let js = js.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let target = String::from_utf8_lossy(&head).split(' ').nth(1).unwrap_or("/").to_string();
                let (ctype, body): (&str, &[u8]) = if target.starts_with("/auth0-spa-js.production.js") {
                    ("application/javascript", &js)
                } else {
                    ("text/html; charset=utf-8", PAGE.as_bytes())
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body).await;
            });
        }
    });
    port
}

async fn execute(driver: &Driver, script: &str, cfg: &Value) -> Value {
    driver.cmd(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": [cfg]}))).await
}

async fn execute_async(driver: &Driver, script: &str, cfg: &Value) -> Value {
    driver.cmd(reqwest::Method::POST, "/execute/async", Some(json!({"script": script, "args": [cfg]}))).await
}

/// Waits until the browser is at a URL starting with `prefix`.
async fn wait_for_url(driver: &Driver, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = driver.cmd(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_string();
        if url.starts_with(prefix) {
            return url;
        }
        if Instant::now() > deadline {
            let title = driver.cmd(reqwest::Method::GET, "/title", None).await;
            panic!("the browser never reached {prefix}; it is at {url} ({title})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Chromium profile preferences that allow third-party cookies (Chrome's own default).
fn allow_third_party_cookies() -> Value {
    json!({"profile.cookie_controls_mode": 0, "profile.block_third_party_cookies": false})
}

/// Opens the app, starts `loginWithRedirect`, fills in the hosted login page and waits for
/// the callback.
async fn sign_in(driver: &Driver, live: &LiveServer, cfg: &Value, callback: &str) {
    driver.cmd(reqwest::Method::POST, "/timeouts", Some(json!({"implicit": 20000, "script": 120000}))).await;
    driver.goto(&format!("{}/", cfg["appOrigin"].as_str().unwrap_or_default())).await;
    execute(driver, LOGIN, cfg).await;
    wait_for_url(driver, &live.url("/u/login")).await;
    driver.type_into("input[name=username]", EMAIL).await;
    driver.type_into("input[name=password]", PASSWORD).await;
    driver.click("button[type=submit]").await;
    wait_for_url(driver, &format!("{callback}?code=")).await;
}

/// The claims of a JWT (its signature is checked by the server's /userinfo below).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap_or_else(|| panic!("not a JWT: {jwt}"));
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload")).expect("JSON claims")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auth0_spa_js_logs_in_gets_tokens_silently_and_logs_out() {
    let Some(chromedriver) = available() else { return };
    for backend in backends() {
        let live = LiveServer::start_with(backend, &LiveOptions::tls()).await;
        let app_port = app_server().await;
        let app = format!("http://localhost:{app_port}");
        let callback = format!("{app}/callback");
        let cli = live.cli();
        cli.run(&["apis", "create", "--identifier", AUDIENCE, "--name", "SPA API", "--allow-offline-access", "true", "--json"])
            .json();
        let user = cli
            .run_with_stdin(&["users", "create", "--email", EMAIL, "--password-stdin", "--json"], Some(&format!("{PASSWORD}\n")))
            .json();
        let user_id = user["user_id"].as_str().expect("user_id").to_string();
        let spa = |name: &str, web_origin: &str| {
            let args = [
                "clients",
                "create",
                "--name",
                name,
                "--app-type",
                "spa",
                "--callback",
                &callback,
                "--logout-url",
                &format!("{app}/logged-out"),
                "--web-origin",
                web_origin,
                "--json",
            ];
            let c = cli.run(&args).json();
            assert_eq!(c["web_origins"], json!([web_origin]), "{c}");
            c["client_id"].as_str().expect("client_id").to_string()
        };
        let client_id = spa("SPA", &app);
        let other_id = spa("SPA elsewhere", "https://elsewhere.example.com");
        // Let the server's registry cache see the CLI's changes (polled every second).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let cfg = json!({
            "domain": live.domain(), "clientId": client_id, "otherClientId": other_id,
            "redirectUri": callback, "audience": AUDIENCE, "appOrigin": app,
        });

        // Third-party cookies allowed, as in Chrome's default settings: the iframe works.
        let driver = Driver::start_with(&chromedriver, &["--ignore-certificate-errors"], Some(allow_third_party_cookies())).await;
        sign_in(&driver, &live, &cfg, &callback).await;
        let out = execute_async(&driver, AFTER_CALLBACK, &cfg).await;
        let ok = out.get("ok").unwrap_or_else(|| panic!("[{backend}] auth0-spa-js failed: {out}\n{}", live.log()));
        assert_eq!(ok["user"]["email"], EMAIL, "[{backend}] getUser: {ok}");
        assert_eq!(ok["user"]["sub"], user_id.as_str(), "[{backend}] getUser: {ok}");
        assert_eq!(ok["frameUser"]["email"], EMAIL, "[{backend}] getUser after the iframe: {ok}");
        let (cached, refreshed, silent) =
            (ok["cached"].as_str().unwrap(), ok["refreshed"].as_str().unwrap(), ok["silent"].as_str().unwrap());
        assert_ne!(cached, refreshed, "[{backend}] cacheMode off got a new token with the refresh token");
        assert_ne!(refreshed, silent, "[{backend}] and another one through the iframe");
        for (how, token, scope) in
            [("refresh token", refreshed, "openid profile email offline_access"), ("iframe", silent, "openid profile email")]
        {
            let c = claims(token);
            assert_eq!(c["iss"], live.issuer(), "[{backend}] {how}: {c}");
            assert_eq!(c["sub"], user_id.as_str(), "[{backend}] {how}: {c}");
            assert_eq!(c["client_id"], client_id.as_str(), "[{backend}] {how}: {c}");
            let aud: Vec<&str> = match &c["aud"] {
                Value::String(s) => vec![s.as_str()],
                v => v.as_array().expect("aud").iter().filter_map(Value::as_str).collect(),
            };
            assert_eq!(aud.first(), Some(&AUDIENCE), "[{backend}] {how}: {c}");
            let mut got: Vec<&str> = c["scope"].as_str().unwrap_or_default().split(' ').collect();
            let mut want: Vec<&str> = scope.split(' ').collect();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "[{backend}] {how}: {c}");
            // The server itself accepts it.
            let info: Value =
                live.http().get(live.url("/userinfo")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            assert_eq!(info["email"], EMAIL, "[{backend}] {how}: /userinfo {info}");
        }
        // The origin is not among the other client's web origins: no message, so the SDK times out...
        assert_eq!(ok["refused"], json!({"error": "timeout", "description": "Timeout"}), "[{backend}] {ok}");
        // ...because that iframe got an error page (unframeable) instead of a message.
        let refused_url = format!(
            "{}?client_id={other_id}&redirect_uri={}&response_type=code&response_mode=web_message&prompt=none&state=s&nonce=n&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            live.url("/authorize"),
            url::form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>()
        );
        let r = live.http().get(&refused_url).send().await.unwrap();
        assert_eq!(r.status(), 400, "[{backend}]");
        assert_eq!(r.headers()["x-frame-options"], "DENY", "[{backend}]");
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!("{app} is not an allowed web origin of this application")), "[{backend}] {page}");

        // logout ends the Tessera session: the iframe then answers login_required.
        execute(&driver, LOGOUT, &cfg).await;
        wait_for_url(&driver, &format!("{app}/logged-out")).await;
        let after = execute_async(&driver, AFTER_LOGOUT, &cfg).await;
        assert_eq!(after["refused"]["error"], "login_required", "[{backend}] after logout: {after}");
        driver.quit().await;

        // This Chromium's default blocks third-party cookies (as Safari and Firefox do): the
        // session cookie does not reach the iframe, which answers login_required, while the
        // refresh token (useRefreshTokens: true) works. What the README says.
        let driver = Driver::start_with(&chromedriver, &["--ignore-certificate-errors"], None).await;
        sign_in(&driver, &live, &cfg, &callback).await;
        let out = execute_async(&driver, AFTER_CALLBACK, &cfg).await;
        let want = json!({"failed": {"step": "iframe", "error": "login_required", "description": "the user must log in"}});
        assert_eq!(out, want, "[{backend}] refresh tokens work, the iframe does not, without third-party cookies");
        driver.quit().await;
    }
}
