//! Auth0's official Management API clients against a live `tessera serve` over TLS (issue
//! 18): the Node `auth0` package's `ManagementClient` and auth0-python's `ManagementClient`,
//! with credentials from `tessera admin bootstrap`, run a scripted session (create an API, a
//! client, a grant and a user; list with totals; rotate a client secret; rotate the signing
//! key; parse a 404). The test then checks the effects from outside.

use serde_json::{json, Value};

use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{run, sdk_available, Runtime};

async fn session(rt: Runtime, script: &str, email: &str) {
    if !sdk_available(rt) {
        return;
    }
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls()).await;
    let issuer = live.issuer();
    let boot = live.cli().run(&["--json", "admin", "bootstrap", "--issuer", &issuer]).json();
    let (id, secret) = (boot["client_id"].as_str().unwrap().to_string(), boot["client_secret"].as_str().unwrap().to_string());
    let again = live.cli().run(&["--json", "admin", "bootstrap", "--issuer", &issuer]).json();
    assert_eq!(
        (again["client_id"].as_str(), again["client_secret"].clone()),
        (Some(id.as_str()), Value::Null),
        "idempotent: {again}"
    );
    // The server's registry cache polls for changes made by the CLI every second.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let out = run(rt, &live, script, &[("CLIENT_ID", &id), ("CLIENT_SECRET", &secret)]).await;
    assert_eq!(out["grant_scope"], json!(["read:things"]), "{out}");
    assert_eq!(out["emails"], json!([email]), "{out}");
    assert_eq!(out["grants"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(out["refused"]["status"], 404, "{out}");
    assert_eq!(out["refused"]["body"]["errorCode"], "inexistent_client", "{out}");
    let rotated = out["rotated_kid"].as_str().unwrap().to_string();
    assert_ne!(out["current_before"][0].as_str(), Some(rotated.as_str()), "{out}");
    assert!(out["current_after"].as_array().unwrap().iter().any(|k| *k == rotated), "{out}");

    // From outside: the rotated secret is the one that works, for the API the grant names,
    // and the new token is signed with the key the SDK rotated to.
    let http = live.http();
    let client_id = out["client_id"].as_str().unwrap();
    let api = out["api"].as_str().unwrap();
    for (secret, want) in [(out["first_secret"].as_str().unwrap(), 401), (out["rotated_secret"].as_str().unwrap(), 200)] {
        let form = [("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret), ("audience", api)];
        let resp = http.post(live.url("/oauth/token")).form(&form).send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, want, "{body}");
        if want == 200 {
            let (_, claims) = crate::oauth_fixture::jwt_parts(body["access_token"].as_str().unwrap());
            assert_eq!(claims["scope"], "read:things");
            // The promoted key signs once it has been published for SIGNING_LEAD seconds
            // (every node has it by then); bounded wait for that.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            loop {
                let body: Value = http.post(live.url("/oauth/token")).form(&form).send().await.unwrap().json().await.unwrap();
                let (header, _) = crate::oauth_fixture::jwt_parts(body["access_token"].as_str().unwrap());
                if header["kid"] == json!(rotated) {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "never signed with the rotated key {rotated}: {header}");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
    }
    let users = live.cli().run(&["--json", "users", "list"]).json();
    assert!(users.as_array().unwrap().iter().any(|u| u["email"] == email), "{users}");
}

#[tokio::test]
async fn node_management_client_session() {
    session(Runtime::Node, "node/management.mjs", "node@example.com").await;
}

#[tokio::test]
async fn auth0_python_management_client_session() {
    session(Runtime::Python, "python/management.py", "py@example.com").await;
}
