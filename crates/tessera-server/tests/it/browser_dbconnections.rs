//! Issue 17 in headless Chromium against a live `tessera serve` over TLS: a page on a
//! second loopback origin (`http://localhost:PORT`, another site) calls
//! `/dbconnections/signup`, `/dbconnections/change_password` and `/passwordless/start` with
//! `fetch` (JSON bodies, so the browser sends a CORS preflight first); the answers are
//! readable because the client lists that origin in `allowed_origins`, and a page on an
//! origin no client lists is blocked by the browser. Then the hosted sign-up screen
//! (`/authorize?screen_hint=signup`) is filled in and submitted like a person would.
//! Without chromedriver the test says so and passes, unless `TESSERA_REQUIRE_BROWSER=1`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::browser::{find_chromedriver, Driver};
use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_smtp::SmtpSink;

const GRANT: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

/// Calls the three endpoints from the page; each result is the status and body, or the
/// browser's refusal (a CORS failure is a `TypeError` in `fetch`).
const CALLS: &str = r#"
const cfg = arguments[0], done = arguments[arguments.length - 1];
const call = (path, body) => fetch(cfg.issuer + path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
  .then(async r => ({status: r.status, body: await r.text()}), e => ({blocked: e.name}));
(async () => {
  const connection = "Username-Password-Authentication";
  const signup = await call("dbconnections/signup", {client_id: cfg.clientId, email: cfg.email, password: "long enough pw", connection});
  const change = await call("dbconnections/change_password", {client_id: cfg.clientId, email: cfg.email, connection});
  const start = await call("passwordless/start", {client_id: cfg.clientId, connection: "email", email: cfg.otpEmail, send: "code"});
  return {signup, change, start};
})().then(done, e => done({failed: String(e)}));
"#;

/// A static page server: any path answers a blank HTML page.
async fn page_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind page server");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = "<!DOCTYPE html><html><head><title>App</title></head><body>App</body></html>";
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            });
        }
    });
    port
}

async fn wait_for_url(driver: &Driver, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = driver.cmd(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_string();
        if url.starts_with(prefix) {
            return url;
        }
        assert!(Instant::now() < deadline, "the browser never reached {prefix}; it is at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registered_origin_calls_the_endpoints_and_the_signup_screen_works_in_a_browser() {
    let Some(chromedriver) = find_chromedriver() else {
        assert!(std::env::var("TESSERA_REQUIRE_BROWSER").as_deref() != Ok("1"), "TESSERA_REQUIRE_BROWSER=1 but no chromedriver");
        eprintln!("NOTICE: chromedriver not found; skipping (install chromium and chromium-driver)");
        return;
    };
    let sink = SmtpSink::start().await;
    let port = sink.port.to_string();
    let options = LiveOptions::tls()
        .env("TESSERA_SMTP_HOST", "127.0.0.1")
        .env("TESSERA_SMTP_PORT", &port)
        .env("TESSERA_SMTP_SECURITY", "none");
    let live = LiveServer::start_with(Backend::Sqlite, &options).await;
    let (app, other) = (format!("http://localhost:{}", page_server().await), format!("http://localhost:{}", page_server().await));
    let callback = format!("{app}/callback");
    let client = live
        .cli()
        .run(&[
            "clients",
            "create",
            "--name",
            "SPA",
            "--app-type",
            "spa",
            "--auth-method",
            "none",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            GRANT,
            "--callback",
            &callback,
            "--allowed-origin",
            &app,
            "--json",
        ])
        .json();
    let client_id = client["client_id"].as_str().expect("client_id").to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cfg = |email: &str, otp: &str| json!({"issuer": live.issuer(), "clientId": client_id, "email": email, "otpEmail": otp});

    let driver = Driver::start_with(&chromedriver, &["--ignore-certificate-errors"], None).await;
    driver.cmd(reqwest::Method::POST, "/timeouts", Some(json!({"implicit": 20000, "script": 60000}))).await;
    driver.goto(&format!("{app}/")).await;
    let out = driver
        .cmd(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": CALLS, "args": [cfg("web@example.com", "otp@example.com")]})),
        )
        .await;
    assert_eq!(out["signup"]["status"], 200, "{out}\n{}", live.log());
    let body: Value = serde_json::from_str(out["signup"]["body"].as_str().unwrap()).unwrap();
    assert_eq!((&body["email"], &body["email_verified"]), (&json!("web@example.com"), &json!(false)), "{out}");
    assert_eq!(out["change"], json!({"status": 200, "body": "We've just sent you an email to reset your password."}));
    assert_eq!(out["start"]["status"], 200, "{out}");
    sink.wait_for("otp@example.com", "verification code").await;
    sink.wait_for("web@example.com", "/u/reset-password").await;

    // An origin no client registered: the browser blocks every call (nothing readable).
    driver.goto(&format!("{other}/")).await;
    let out = driver
        .cmd(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": CALLS, "args": [cfg("web2@example.com", "otp2@example.com")]})),
        )
        .await;
    let blocked = json!({"blocked": "TypeError"});
    assert_eq!(out, json!({"signup": blocked, "change": blocked, "start": blocked}), "{out}");

    // The hosted sign-up screen, filled in by hand.
    let authorize = format!(
        "{}authorize?client_id={client_id}&redirect_uri={}&response_type=code&scope=openid&state=s1&screen_hint=signup\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        live.issuer(),
        url::form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>()
    );
    driver.goto(&authorize).await;
    wait_for_url(&driver, &live.url("/u/signup")).await;
    driver.type_into("input[name=email]", "screen@example.com").await;
    driver.type_into("input[name=password]", "a long enough password").await;
    driver.click("button[type=submit]").await;
    let at = wait_for_url(&driver, &format!("{callback}?code=")).await;
    assert!(at.contains("state=s1"), "{at}");
    sink.wait_for("screen@example.com", "/u/email-verification").await;
    driver.quit().await;
}
