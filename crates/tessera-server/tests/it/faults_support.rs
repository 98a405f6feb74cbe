//! Helpers shared by the fault tests (`faults_*.rs`, issue 19): a machine-to-machine client
//! seeded through the CLI, token requests and the checks a load balancer's clients would make
//! against several live nodes.
#![allow(dead_code)] // shared by several fault modules; not all use all of them

use base64::Engine as _;
use serde_json::Value;

use crate::support::Cli;
use crate::support_live::{LiveOptions, LiveServer};

pub const API: &str = "https://api.faults.example";

/// The one issuer every node of a deployment shares (behind a load balancer, a token from
/// any node names the same issuer). Plain http is allowed for a loopback host.
pub const ISSUER: &str = "http://localhost/";

/// How the fault tests start a node: with the shared [`ISSUER`].
pub fn node_options() -> LiveOptions {
    LiveOptions::default().arg("--issuer").arg(ISSUER)
}

/// A confidential machine-to-machine client with a client grant for [`API`].
#[derive(Debug, Clone)]
pub struct M2m {
    pub id: String,
    pub secret: String,
}

/// Creates [`API`], an M2M client and its grant through the CLI.
pub fn seed_m2m(cli: &Cli<'_>) -> M2m {
    cli.run(&["apis", "create", "--identifier", API, "--scope", "read:x=Read", "--json"]).ok();
    let c = cli.run(&["clients", "create", "--name", "M2M", "--app-type", "non_interactive", "--json"]).json();
    let m2m = M2m { id: c["client_id"].as_str().unwrap().into(), secret: c["client_secret"].as_str().unwrap().into() };
    cli.run(&["grants", "create", "--client-id", &m2m.id, "--audience", API, "--json"]).ok();
    m2m
}

/// Creates, through the CLI, [`API`] with offline access, a confidential web client with
/// rotating refresh tokens and the given reuse `leeway` (seconds) and the user
/// `dave@example.com` with `password`: the client's (id, secret).
pub fn seed_rotating_web(cli: &Cli<'_>, callback: &str, leeway: &str, password: &str) -> (String, String) {
    cli.run(&["apis", "create", "--identifier", API, "--scope", "read:x", "--allow-offline-access", "true", "--json"]).ok();
    let created = cli
        .run(&[
            "clients",
            "create",
            "--name",
            "Web",
            "--callback",
            callback,
            "--grant-type",
            "authorization_code,refresh_token",
            "--rotation-type",
            "rotating",
            "--leeway",
            leeway,
            "--json",
        ])
        .json();
    cli.run_with_stdin(&["users", "create", "--email", "dave@example.com", "--password-stdin", "--json"], Some(password)).ok();
    (created["client_id"].as_str().unwrap().into(), created["client_secret"].as_str().unwrap().into())
}

/// A plain HTTP client with a short timeout, so a hang fails the test instead of stalling it.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build().expect("reqwest client")
}

/// `client_credentials` for [`API`] at `node`: status and JSON body.
pub async fn token(http: &reqwest::Client, node: &LiveServer, m2m: &M2m) -> (u16, Value) {
    let r = http
        .post(node.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials"), ("audience", API), ("client_id", &m2m.id), ("client_secret", &m2m.secret)])
        .send()
        .await
        .expect("token request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An access token from `node` (asserting 200).
pub async fn access_token(http: &reqwest::Client, node: &LiveServer, m2m: &M2m) -> String {
    let (status, body) = token(http, node, m2m).await;
    assert_eq!(status, 200, "token at :{}: {body}", node.port);
    body["access_token"].as_str().expect("access_token").to_string()
}

/// The `kid` in a JWS header.
pub fn kid_of(jwt: &str) -> String {
    let header = jwt.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).expect("base64url header");
    let v: Value = serde_json::from_slice(&bytes).expect("JSON header");
    v["kid"].as_str().expect("kid").to_string()
}

/// The `kid`s `node` publishes.
pub async fn jwks_kids(http: &reqwest::Client, node: &LiveServer) -> Vec<String> {
    let v: Value = http.get(node.url("/.well-known/jwks.json")).send().await.expect("jwks").json().await.expect("jwks JSON");
    v["keys"].as_array().expect("keys").iter().map(|k| k["kid"].as_str().expect("kid").to_string()).collect()
}

/// Whether `node` says the access token is active (RFC 7662), asked by the client it was
/// issued to.
pub async fn active_at(http: &reqwest::Client, node: &LiveServer, m2m: &M2m, token: &str) -> bool {
    let r = http
        .post(node.url("/oauth/introspect"))
        .form(&[("token", token), ("client_id", &m2m.id), ("client_secret", &m2m.secret)])
        .send()
        .await
        .expect("introspect");
    assert_eq!(r.status(), 200, "introspection at :{}", node.port);
    r.json::<Value>().await.expect("introspection JSON")["active"] == true
}

/// A browser (cookie jar, no redirects) with a login page open: its (txn, csrf).
pub async fn open_login(
    node: &LiveServer,
    client_id: &str,
    callback: &str,
    extra: &[(&str, &str)],
) -> (reqwest::Client, String, String) {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let mut params = vec![
        ("client_id", client_id),
        ("redirect_uri", callback),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s"),
        ("nonce", "n"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        params.push((k, v));
    }
    let authorize = url::Url::parse_with_params(&node.url("/authorize"), &params).unwrap();
    let r = browser.get(authorize).send().await.unwrap();
    assert_eq!(r.status(), 302, "to the login page");
    // The Location names the shared issuer; the browser stays on this node.
    let to = url::Url::parse(&crate::support_web::location(&r)).unwrap();
    let page = browser.get(node.url(&format!("{}?{}", to.path(), to.query().unwrap_or("")))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    (browser, crate::support_web::field(&html, "txn").unwrap(), crate::support_web::field(&html, "csrf").unwrap())
}
