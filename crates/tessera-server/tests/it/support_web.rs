//! A running Tessera for the browser-flow tests (/authorize, login, consent, /userinfo,
//! logout): a [`TestApp`] (fresh database per test on each backend, manual clock) with a
//! registry holding an API, a user and one client per kind. [`Browser`] is a
//! reqwest client with a cookie jar that does not follow redirects, so every hop is seen.

use std::collections::BTreeMap;

use tessera_core::clock::ManualClock;
use tessera_core::model::{ApiScope, AppType, ClientPatch, ResourceServerPatch, TokenEndpointAuthMethod, UserPatch};
use tessera_core::routes;
use tessera_server::app::AppState;
use tessera_server::config::Config;

use crate::support::TestApp;
pub use crate::support::{backends, Backend};

pub const API: &str = "https://api.web.example";
pub const PASSWORD: &str = "correct horse battery";
pub const EMAIL: &str = "alice@example.com";
pub const USERNAME: &str = "alice";
pub const CALLBACK: &str = "https://app.example.com/callback";
pub const CALLBACK_2: &str = "https://app.example.com/other";
pub const THIRD_CALLBACK: &str = "https://third.example.net/cb?tenant=a";
pub const NATIVE_CALLBACK: &str = "http://127.0.0.1/native";
pub const LOGOUT_URL: &str = "https://app.example.com/logged-out";

#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
}

pub struct WebApp {
    pub backend: Backend,
    pub state: AppState,
    pub issuer: String,
    /// Where the server actually listens (the issuer may be a configured https name).
    pub base: String,
    pub clock: ManualClock,
    pub user_id: String,
    /// First-party confidential web app: two callbacks, a logout URL.
    pub web: TestClient,
    /// Third-party confidential app (consent), one callback with a query component.
    pub third: TestClient,
    /// Public native app (PKCE required), loopback callback.
    pub native: TestClient,
    /// Confidential app with a callback but without the authorization_code grant.
    pub cc_only: TestClient,
    /// The running server (stopped, and its database dropped, with this value).
    _server: TestApp,
}

impl WebApp {
    pub async fn start(backend: Backend) -> WebApp {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> WebApp {
        let app = TestApp::spawn_configured(backend, tweak).await;
        let state = app.state.clone();
        let issuer = app.issuer.clone();
        let base = format!("http://{}/", app.addr);
        let clock = app.clock.clone();
        let r = &state.deployment.registry;
        r.create_api(ResourceServerPatch {
            identifier: Some(API.into()),
            name: Some("Things API".into()),
            scopes: Some(vec![
                ApiScope { value: "read:things".into(), description: "Read your things".into() },
                ApiScope { value: "write:things".into(), description: "Change your things".into() },
            ]),
            allow_offline_access: Some(true),
            ..Default::default()
        })
        .await
        .expect("api");
        let user = r
            .create_user(
                UserPatch {
                    email: Some(EMAIL.into()),
                    email_verified: Some(true),
                    username: Some(USERNAME.into()),
                    name: Some("Alice Example".into()),
                    given_name: Some("Alice".into()),
                    ..Default::default()
                },
                Some(PASSWORD),
            )
            .await
            .expect("user");
        let client = |name: &str, app: AppType, grants: &[&str], callbacks: &[&str], first_party: bool| ClientPatch {
            name: Some(name.into()),
            app_type: Some(app),
            token_endpoint_auth_method: Some(if matches!(app, AppType::Native | AppType::Spa) {
                TokenEndpointAuthMethod::None
            } else {
                TokenEndpointAuthMethod::ClientSecretPost
            }),
            grant_types: Some(grants.iter().map(|g| g.to_string()).collect()),
            callbacks: Some(callbacks.iter().map(|c| c.to_string()).collect()),
            allowed_logout_urls: Some(vec![LOGOUT_URL.into()]),
            is_first_party: Some(first_party),
            ..Default::default()
        };
        let code_and_refresh = &["authorization_code", "refresh_token"];
        let web = make(r, client("Web App", AppType::RegularWeb, code_and_refresh, &[CALLBACK, CALLBACK_2], true)).await;
        let third = make(r, client("Partner <App>", AppType::RegularWeb, code_and_refresh, &[THIRD_CALLBACK], false)).await;
        let native = make(r, client("Native App", AppType::Native, code_and_refresh, &[NATIVE_CALLBACK], true)).await;
        let cc_only = make(r, client("Backend", AppType::RegularWeb, &["client_credentials"], &[CALLBACK], true)).await;
        WebApp { backend, state, issuer, base, clock, user_id: user.user_id, web, third, native, cc_only, _server: app }
    }

    /// An absolute URL on the running server for a route path (with any query).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base.trim_end_matches('/'), path_and_query)
    }

    /// `/authorize?` + the parameters, percent-encoded.
    pub fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        self.url(&format!("{}?{}", routes::AUTHORIZE, ser.finish()))
    }

    /// The usual parameters for the first-party web client, plus `extra`.
    pub fn web_authorize(&self, extra: &[(&str, &str)]) -> String {
        let mut p = vec![
            ("client_id", self.web.id.as_str()),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("state", "st-1"),
            ("nonce", "n-1"),
        ];
        for (k, v) in extra {
            p.retain(|(pk, _)| pk != k);
            p.push((k, v));
        }
        self.authorize_url(&p)
    }

    /// The database URL of the running deployment (for a second connection).
    pub fn database_url(&self) -> String {
        self._server.data.database_url()
    }

    pub fn store(&self) -> &dyn tessera_core::store::Store {
        self.state.deployment.store.as_ref()
    }

    pub async fn audit_count(&self, kind: &str) -> usize {
        self.store().list_audit(10_000).await.expect("audit").iter().filter(|e| e.kind == kind).count()
    }
}

async fn make(r: &tessera_core::registry::Registry, p: ClientPatch) -> TestClient {
    let c = r.create_client(p).await.expect("client");
    TestClient { id: c.client.client_id }
}

/// A browser without JavaScript: a cookie jar, no automatic redirects.
pub struct Browser {
    pub http: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self { http }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.expect("GET")
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(url).form(form).send().await.expect("POST")
    }

    /// Opens the login page `/authorize` redirected to; returns its (txn, csrf).
    pub async fn open_login(&self, authorize_url: &str) -> (String, String) {
        let r = self.get(authorize_url).await;
        assert_eq!(r.status(), 302, "expected a redirect to the login page from {authorize_url}");
        let to = location(&r);
        assert!(to.contains(routes::LOGIN), "expected the login page, got {to}");
        let page = self.get(&to).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("login html");
        (field(&html, "txn").expect("txn field"), field(&html, "csrf").expect("csrf field"))
    }

    /// Posts the login form and returns the response (303 on success or wrong password).
    pub async fn submit_login(&self, app: &WebApp, txn: &str, csrf: &str, username: &str, password: &str) -> reqwest::Response {
        let form = [("txn", txn), ("csrf", csrf), ("username", username), ("password", password)];
        self.post_form(&app.url(routes::LOGIN), &form).await
    }

    /// /authorize → login → the response after the login POST.
    pub async fn login(&self, app: &WebApp, authorize_url: &str) -> reqwest::Response {
        let (txn, csrf) = self.open_login(authorize_url).await;
        self.submit_login(app, &txn, &csrf, EMAIL, PASSWORD).await
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location header (status {})", r.status()))
        .to_str()
        .expect("ascii Location")
        .to_string()
}

/// The decoded query parameters of a URL.
pub fn query_of(url: &str) -> BTreeMap<String, String> {
    let u = url::Url::parse(url).unwrap_or_else(|e| panic!("{url} is not a URL: {e}"));
    u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The value of the form field `name` in a page (hidden inputs).
pub fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + "value=\"".len();
    let end = rest[v..].find('"')?;
    Some(
        rest[v..v + end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">"),
    )
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers().get_all("set-cookie").iter().map(|v| v.to_str().expect("ascii").to_string()).collect()
}

/// A valid S256 code challenge (RFC 7636 appendix B).
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
