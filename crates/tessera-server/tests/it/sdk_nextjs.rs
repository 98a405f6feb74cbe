//! Auth0's Next.js SDK, `@auth0/nextjs-auth0`, against a live `tessera serve` over TLS
//! (issue 17): the README's quickstart app (`tests/sdk/nextjs`: `lib/auth0.js`, `proxy.js`,
//! the home page, and a route calling `getAccessToken()`) under `next dev` on a loopback
//! port, with `AUTH0_DOMAIN` pointed at Tessera. The test is the browser: /auth/login →
//! Tessera's /authorize → the hosted login page → /auth/callback (the SDK redeems the code
//! and validates the ID token) → the session; /auth/profile; access tokens, refreshed on
//! demand; /auth/logout (the SDK revokes its refresh token) → Tessera's RP-initiated logout →
//! back at the app, logged out of both. A second app asks for an API `audience` and its
//! client's refresh tokens rotate, so each refresh must reach the SDK's session cookie.
//!
//! This SDK refuses an IP address or `localhost` as the domain, and drops a port, unless the
//! app sets its documented `allowInsecureRequests` (for local providers, outside production:
//! hence `next dev`), so Tessera's issuer here is `https://localhost:PORT/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tessera_core::routes;

use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{node_packages_available, sdk_dir};
use crate::support_web::{field, location, query_of, set_cookies};

const EMAIL: &str = "alice@example.com";
const PASSWORD: &str = "correct horse battery";
const API: &str = "https://api.nextjs.test";

/// How long `next dev` may take to start and compile the first page (a cold Turbopack
/// compile on a shared 2-core machine takes 20–40 s).
const NEXT_READY_TIMEOUT: Duration = Duration::from_secs(150);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `next dev` running the app in `tests/sdk/nextjs`, in a process group of its own (Next
/// forks its server) that is killed, and its build directory removed, on drop.
struct NextApp {
    base: String,
    child: std::process::Child,
    dist_dir: PathBuf,
    log_file: PathBuf,
}

impl NextApp {
    fn app_dir() -> PathBuf {
        sdk_dir().join("nextjs")
    }

    /// Starts `next dev` on `port` with the quickstart's environment, Tessera as the domain.
    fn spawn(port: u16, live: &LiveServer, client: &Client, audience: Option<&str>) -> Self {
        use std::os::unix::process::CommandExt;
        let base = format!("http://127.0.0.1:{port}");
        // Next requires its distDir inside the app; .gitignore covers `.next*`.
        let dist = format!(".next-test-{port}");
        let log_file = live.data.dir.join("next.log");
        let log = std::fs::File::create(&log_file).expect("create next log");
        let mut cmd = std::process::Command::new("node");
        cmd.arg(sdk_dir().join("node_modules/next/dist/bin/next"))
            .args(["dev", "--hostname", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(Self::app_dir())
            .env("AUTH0_DOMAIN", format!("https://{}", live.domain()))
            .env("AUTH0_CLIENT_ID", &client.id)
            .env("AUTH0_CLIENT_SECRET", &client.secret)
            .env("AUTH0_SECRET", tessera_core::crypto::random_hex::<32>())
            .env("APP_BASE_URL", &base)
            .env("TESSERA_NEXT_DIST_DIR", &dist)
            .env("NEXT_TELEMETRY_DISABLED", "1")
            .env_remove("NODE_ENV")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0);
        if let Some(ca) = live.ca_file() {
            cmd.env("NODE_EXTRA_CA_CERTS", ca);
        }
        if let Some(a) = audience {
            cmd.env("API_AUDIENCE", a);
        }
        let child = cmd.spawn().expect("spawn next dev");
        Self { base, child, dist_dir: Self::app_dir().join(dist), log_file }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// Polls the home page until it renders (the first request compiles it).
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + NEXT_READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll next dev") {
                panic!("next dev exited ({status}):\n{}", self.log());
            }
            if let Ok(r) = http.get(self.url("/")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "next dev did not serve / within {NEXT_READY_TIMEOUT:?}:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for NextApp {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this child leads (process_group(0) above).
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dist_dir);
        // Next also leaves an empty `cache/` beside the app; remove_dir only takes it empty.
        let _ = std::fs::remove_dir(Self::app_dir().join("cache"));
    }
}

struct Client {
    id: String,
    secret: String,
}

/// Tessera, the app, its client, a user, and a browser (cookies, no redirects followed,
/// trusting the test CA) for both.
struct Setup {
    live: LiveServer,
    app: NextApp,
    client: Client,
    user_id: String,
    browser: reqwest::Client,
    /// A Management API client (`tessera admin bootstrap`), to look at the user's sessions
    /// and refresh tokens from outside.
    management: Client,
}

impl Setup {
    /// With `audience`: an API of that identifier allowing offline access, and a client whose
    /// refresh tokens rotate.
    async fn start(audience: Option<&str>) -> Self {
        let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls().issuer_host("localhost")).await;
        let cli = live.cli();
        if let Some(a) = audience {
            cli.run(&[
                "apis",
                "create",
                "--identifier",
                a,
                "--scope",
                "read:things=Read things",
                "--allow-offline-access",
                "--json",
            ])
            .json();
        }
        // The quickstart's registration: callback {APP_BASE_URL}/auth/callback, logout URL
        // {APP_BASE_URL}.
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let callback = format!("{base}/auth/callback");
        let mut args = vec![
            "clients",
            "create",
            "--name",
            "Next.js App",
            "--app-type",
            "regular_web",
            "--callback",
            &callback,
            "--logout-url",
            &base,
            "--json",
        ];
        if audience.is_some() {
            args.extend(["--rotation-type", "rotating"]);
        }
        let c = cli.run(&args).json();
        let client = Client { id: c["client_id"].as_str().unwrap().into(), secret: c["client_secret"].as_str().unwrap().into() };
        let user = cli
            .run_with_stdin(
                &["users", "create", "--email", EMAIL, "--name", "Alice", "--password-stdin", "--json"],
                Some(PASSWORD),
            )
            .json();
        let boot = cli.run(&["--json", "admin", "bootstrap", "--issuer", &live.issuer()]).json();
        let management =
            Client { id: boot["client_id"].as_str().unwrap().into(), secret: boot["client_secret"].as_str().unwrap().into() };
        // The server's registry cache polls for the CLI's changes every second; the app's
        // first compile below takes far longer than that.
        let mut app = NextApp::spawn(port, &live, &client, audience);
        let browser = live.http();
        app.wait_ready(&browser).await;
        let user_id = user["user_id"].as_str().expect("user_id").to_string();
        Self { live, app, client, user_id, browser, management }
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.browser.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}\n{}", self.logs()))
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(&self.app.url(path)).await;
        let status = r.status().as_u16();
        let body = r.text().await.expect("body");
        (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}\n{}", self.logs())))
    }

    async fn status(&self, path: &str) -> u16 {
        self.get(&self.app.url(path)).await.status().as_u16()
    }

    fn logs(&self) -> String {
        format!("--- next dev\n{}\n--- tessera serve\n{}", self.app.log(), self.live.log())
    }

    /// GET /auth/login: the SDK's redirect to Tessera's /authorize; returns its URL.
    async fn start_login(&self) -> String {
        let r = self.get(&self.app.url("/auth/login")).await;
        assert_eq!(r.status(), 307, "/auth/login\n{}", self.logs());
        let to = location(&r);
        assert!(to.starts_with(&format!("{}authorize?", self.live.issuer())), "{to}");
        to
    }

    /// The whole login through the hosted page; returns the /authorize query the SDK sent.
    async fn log_in(&self) -> BTreeMap<String, String> {
        let authorize_url = self.start_login().await;
        let q = query_of(&authorize_url);
        assert_eq!(q["client_id"], self.client.id, "{q:?}");
        assert_eq!(q["redirect_uri"], self.app.url("/auth/callback"), "{q:?}");
        assert_eq!(q["response_type"], "code", "{q:?}");
        assert_eq!(q["code_challenge_method"], "S256", "{q:?}");
        assert_eq!(q["code_challenge"].len(), 43, "a base64url SHA-256: {q:?}");
        assert!(q["scope"].split(' ').any(|s| s == "openid"), "{q:?}");
        assert!(!q["state"].is_empty(), "{q:?}");

        let authorize = self.get(&authorize_url).await;
        assert_eq!(authorize.status(), 302, "/authorize\n{}", self.logs());
        let login_page = resolve(&authorize_url, &location(&authorize));
        assert!(login_page.starts_with(&format!("{}u/login?", self.live.issuer())), "{login_page}");
        let page = self.get(&login_page).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("login page");
        let (txn, csrf) = (field(&html, "txn").expect("txn"), field(&html, "csrf").expect("csrf"));
        let form = [("txn", txn.as_str()), ("csrf", csrf.as_str()), ("username", EMAIL), ("password", PASSWORD)];
        let submitted = self.browser.post(resolve(&login_page, routes::LOGIN)).form(&form).send().await.expect("POST login");
        assert_eq!(submitted.status(), 303, "login\n{}", self.logs());
        let callback = location(&submitted);
        assert!(callback.starts_with(&self.app.url("/auth/callback?")), "{callback}");
        let cq = query_of(&callback);
        assert_eq!(cq["state"], q["state"], "{cq:?}");
        assert_eq!(cq["iss"], self.live.issuer(), "RFC 9207: {cq:?}");

        // The SDK redeems the code at /oauth/token, validates the ID token, sets its session.
        let done = self.get(&callback).await;
        assert_eq!(done.status(), 307, "/auth/callback\n{}", self.logs());
        assert_eq!(resolve(&callback, &location(&done)), self.app.url("/"), "signInReturnToPath");
        assert!(set_cookies(&done).iter().any(|c| c.starts_with("__session")), "{:?}", set_cookies(&done));
        q
    }

    /// GET /token (`auth0.getAccessToken()`, `?refresh=1` forcing a refresh).
    async fn access_token(&self, refresh: bool) -> Value {
        let (status, body) = self.get_json(if refresh { "/token?refresh=1" } else { "/token" }).await;
        assert_eq!(status, 200, "{body}\n{}", self.logs());
        body
    }

    /// `GET /api/v2/users/{user}/{what}` (`sessions`, `refresh-tokens`): the list in it.
    async fn users_own(&self, what: &str) -> Vec<Value> {
        let audience = format!("{}api/v2/", self.live.issuer());
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", &self.management.id),
            ("client_secret", &self.management.secret),
            ("audience", &audience),
        ];
        let tok: Value = self.browser.post(self.live.url(routes::TOKEN)).form(&form).send().await.unwrap().json().await.unwrap();
        let token = tok["access_token"].as_str().unwrap_or_else(|| panic!("management token: {tok}"));
        let url = self.live.url(&format!("/api/v2/users/{}/{what}", self.user_id.replace('|', "%7C")));
        let r = self.browser.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{what}");
        let v: Value = r.json().await.unwrap();
        let key = if what == "sessions" { "sessions" } else { "tokens" };
        v[key].as_array().unwrap_or_else(|| panic!("{what}: {v}")).clone()
    }

    /// Tessera's /userinfo with an access token the app holds.
    async fn userinfo(&self, token: &str) -> (u16, Value) {
        let r = self.browser.get(self.live.url(routes::USERINFO)).bearer_auth(token).send().await.expect("userinfo");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// The claims of a JWT, unverified (the SDK and Tessera verify it; the test reads it).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap_or_else(|| panic!("not a JWT: {jwt}"));
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}

/// A Location resolved against the URL it came from.
fn resolve(from: &str, to: &str) -> String {
    url::Url::parse(from).expect("URL").join(to).expect("Location").to_string()
}

#[tokio::test]
async fn nextjs_auth0_quickstart_logs_in_refreshes_and_logs_out() {
    if !node_packages_available(&["@auth0/nextjs-auth0", "next", "react", "react-dom"]) {
        return;
    }
    let s = Setup::start(None).await;
    let home = s.get(&s.app.url("/")).await.text().await.expect("home");
    assert!(home.contains("href=\"/auth/login\""), "logged out: {home}");
    assert_eq!(s.status("/auth/profile").await, 401, "no session yet");

    let q = s.log_in().await;
    assert_eq!(q["scope"], "openid profile email offline_access", "the SDK's default scope");

    let home = s.get(&s.app.url("/")).await.text().await.expect("home");
    assert!(home.contains("<h1>Welcome, Alice!</h1>"), "{home}");
    assert!(home.contains(&format!("<p id=\"email\">{EMAIL}</p>")), "{home}");
    let (status, profile) = s.get_json("/auth/profile").await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["sub"], s.user_id, "{profile}");
    assert_eq!(profile["email"], EMAIL, "{profile}");
    assert_eq!(profile["name"], "Alice", "{profile}");

    // getAccessToken(): the token from the code exchange, good at /userinfo, reused while
    // unexpired; forced refreshes redeem the refresh token (the client's default: not
    // rotating) for new ones.
    let first = s.access_token(false).await;
    let token = first["token"].as_str().expect("token").to_string();
    let (status, info) = s.userinfo(&token).await;
    assert_eq!((status, info["sub"].as_str()), (200, Some(s.user_id.as_str())), "{info}");
    assert_eq!(s.access_token(false).await["token"], token, "an unexpired token is reused");
    let mut seen = vec![token];
    for _ in 0..2 {
        let t = s.access_token(true).await["token"].as_str().expect("token").to_string();
        assert!(!seen.contains(&t), "a refresh gives a new access token");
        let (status, info) = s.userinfo(&t).await;
        assert_eq!((status, info["email"].as_str()), (200, Some(EMAIL)), "{info}");
        seen.push(t);
    }

    // Before logout, Tessera's session makes another /authorize go straight back to the app.
    let again = s.get(&s.start_login().await).await;
    assert_eq!(again.status(), 302);
    assert!(location(&again).starts_with(&s.app.url("/auth/callback?")), "SSO: {}", location(&again));

    // One Tessera session; one refresh token (not rotating: one family), bound to it.
    let sessions = s.users_own("sessions").await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let sid = sessions[0]["id"].clone();
    let families = s.users_own("refresh-tokens").await;
    assert_eq!(families.len(), 1, "{families:?}");
    assert_eq!((&families[0]["client_id"], &families[0]["session_id"]), (&json!(s.client.id), &sid), "{families:?}");

    // /auth/logout → Tessera's RP-initiated logout (discovery advertises end_session_endpoint).
    // Before redirecting, the SDK revokes its refresh token at /oauth/revoke (RFC 7009).
    let logout = s.get(&s.app.url("/auth/logout")).await;
    assert_eq!(logout.status(), 307, "/auth/logout\n{}", s.logs());
    let end_session = location(&logout);
    assert!(end_session.starts_with(&format!("{}oidc/logout?", s.live.issuer())), "{end_session}");
    let lq = query_of(&end_session);
    assert_eq!(lq["client_id"], s.client.id, "{lq:?}");
    assert_eq!(lq["post_logout_redirect_uri"], s.app.url(""), "{lq:?}");
    let hint = claims(&lq["id_token_hint"]);
    assert_eq!((&hint["sub"], &hint["aud"]), (&json!(s.user_id), &json!(s.client.id)), "{hint}");
    assert_eq!((&hint["sid"], &json!(lq["logout_hint"])), (&sid, &sid), "logout_hint is the ID token's sid: {lq:?}");
    assert_eq!(s.users_own("refresh-tokens").await, Vec::<Value>::new(), "revoked by the SDK");
    assert_eq!(s.users_own("sessions").await.len(), 1, "Tessera's session ends at /oidc/logout");
    let back = s.get(&end_session).await;
    assert_eq!(back.status(), 302, "/oidc/logout\n{}", s.logs());
    assert_eq!(location(&back), s.app.url(""), "back at the app, at the registered logout URL");
    assert_eq!(s.users_own("sessions").await, Vec::<Value>::new(), "Tessera's session ended");
    let home = s.get(&s.app.url("/")).await.text().await.expect("home");
    assert!(home.contains("href=\"/auth/login\""), "logged out of the app: {home}");
    assert_eq!(s.status("/auth/profile").await, 401, "no session after logout");
    // ... and of Tessera: /authorize asks for the login page again.
    let again = s.get(&s.start_login().await).await;
    assert_eq!(again.status(), 302);
    assert!(location(&again).contains("/u/login?"), "logged out of Tessera: {}", location(&again));
}

#[tokio::test]
async fn nextjs_auth0_gets_and_refreshes_an_access_token_for_an_api() {
    if !node_packages_available(&["@auth0/nextjs-auth0", "next", "react", "react-dom"]) {
        return;
    }
    let s = Setup::start(Some(API)).await;
    let q = s.log_in().await;
    assert_eq!(q["audience"], API, "{q:?}");
    assert_eq!(q["scope"], "openid profile email offline_access read:things", "{q:?}");

    // The token from the code exchange, then two forced refreshes: the client's refresh
    // tokens rotate (reuse of a spent one revokes the family), so the second refresh works
    // only if the SDK saved the rotated refresh token from the first in its session.
    let mut seen = Vec::new();
    for refresh in [false, true, true] {
        let at = s.access_token(refresh).await;
        let token = at["token"].as_str().expect("token").to_string();
        let c = claims(&token);
        assert_eq!(c["iss"], s.live.issuer(), "{c}");
        assert_eq!(c["sub"], s.user_id, "{c}");
        assert_eq!(c["aud"][0], API, "{c}");
        assert!(c["scope"].as_str().is_some_and(|sc| sc.split(' ').any(|x| x == "read:things")), "{c}");
        assert!(at["scope"].as_str().is_some_and(|sc| sc.split(' ').any(|x| x == "read:things")), "{at}");
        assert!(!seen.contains(&token), "refresh {refresh}: a new token");
        seen.push(token);
    }
}
