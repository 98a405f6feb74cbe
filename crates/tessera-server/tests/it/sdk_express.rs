//! Auth0's express SDKs against a live `tessera serve` over TLS (issue 17), each in a real
//! express app on a loopback port: express-openid-connect with its defaults (an ID token by
//! form_post, which needs the client's `implicit` grant) and with the code flow, logging in
//! through the hosted login page and out again; express-oauth2-jwt-bearer accepting a
//! Tessera access token for its API and answering 401 to every other token.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{run, sdk_available, Runtime};
use crate::tls::m2m_client;

const EMAIL: &str = "alice@example.com";
const PASSWORD: &str = "correct horse battery";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn login_and_out(mode: &str) -> Value {
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls()).await;
    let port = free_port();
    let cli = live.cli();
    let callback = format!("http://127.0.0.1:{port}/callback");
    let c = cli
        .run(&[
            "clients",
            "create",
            "--name",
            "Express App",
            "--app-type",
            "regular_web",
            "--auth-method",
            "client_secret_basic",
            "--grant-type",
            "authorization_code,implicit",
            "--callback",
            &callback,
            "--json",
        ])
        .json();
    cli.run_with_stdin(&["users", "create", "--email", EMAIL, "--name", "Alice", "--password-stdin", "--json"], Some(PASSWORD))
        .ok();
    // Let the server's registry cache see the CLI's changes (polled every second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let port = port.to_string();
    let env = [
        ("CLIENT_ID", c["client_id"].as_str().unwrap()),
        ("CLIENT_SECRET", c["client_secret"].as_str().unwrap()),
        ("APP_PORT", port.as_str()),
        ("MODE", mode),
        ("EMAIL", EMAIL),
        ("PASSWORD", PASSWORD),
    ];
    let out = run(Runtime::Node, &live, "node/express_openid_connect.mjs", &env).await;
    assert_eq!(out["before"], json!({"authenticated": false, "user": null}), "{out}");
    assert_eq!(out["after"]["authenticated"], true, "{out}");
    assert_eq!(out["after"]["user"]["email"], EMAIL, "{out}");
    assert_eq!(out["after"]["user"]["name"], "Alice", "{out}");
    assert!(out["after"]["user"]["sub"].as_str().is_some_and(|s| s.starts_with("auth0|")), "{out}");
    assert_eq!(out["callback_status"], 302, "{out}");
    assert_eq!(out["logout_status"], 302, "{out}");
    assert_eq!(out["logged_out"], json!({"authenticated": false, "user": null}), "{out}");
    out
}

#[tokio::test]
async fn express_openid_connect_with_its_defaults() {
    if !sdk_available(Runtime::Node) {
        return;
    }
    let out = login_and_out("implicit").await;
    assert_eq!(out["authorize"]["response_type"], "id_token", "{out}");
    assert_eq!(out["authorize"]["response_mode"], "form_post", "{out}");
    assert_eq!(out["delivered"], json!(["id_token", "iss", "state"]), "only an ID token: {out}");
}

#[tokio::test]
async fn express_openid_connect_with_the_code_flow() {
    if !sdk_available(Runtime::Node) {
        return;
    }
    let out = login_and_out("code").await;
    assert_eq!(out["authorize"]["response_type"], "code", "{out}");
    assert_eq!(out["delivered"], json!(["code", "iss", "state"]), "{out}");
}

#[tokio::test]
async fn express_oauth2_jwt_bearer_protects_an_api() {
    if !sdk_available(Runtime::Node) {
        return;
    }
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls()).await;
    let (id, secret) = m2m_client(&live, "https://api.express.test");
    let cli = live.cli();
    cli.run(&["apis", "create", "--identifier", "https://other.express.test", "--scope", "read:things=Read", "--json"]).json();
    cli.run(&["grants", "create", "--client-id", &id, "--audience", "https://other.express.test", "--scope", "read:things"]).ok();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let env = [
        ("CLIENT_ID", id.as_str()),
        ("CLIENT_SECRET", secret.as_str()),
        ("AUDIENCE", "https://api.express.test"),
        ("OTHER_AUDIENCE", "https://other.express.test"),
    ];
    let out = run(Runtime::Node, &live, "node/express_jwt_bearer.mjs", &env).await;
    assert_eq!(
        out["accepted"],
        json!({"status": 200, "body": {"sub": format!("{id}@clients"), "scope": "read:things"}}),
        "{out}"
    );
    for refused in ["wrong_audience", "bad_signature", "garbage"] {
        assert_eq!(out[refused]["status"], 401, "{refused}: {out}");
        assert_eq!(out[refused]["body"]["code"], "invalid_token", "{refused}: {out}");
    }
    assert_eq!(out["missing"]["status"], 401, "{out}");
}
