//! Auth0's official SDKs against a live `tessera serve` over TLS (issue 17): the Node
//! `auth0` package's AuthenticationClient and auth0-python's GetToken, each getting a
//! client_credentials token for an API exactly as their READMEs show, and each seeing a
//! refusal in the shape it parses.

use std::time::Duration;

use serde_json::Value;

use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{run, sdk_available, Runtime};
use crate::tls::m2m_client;

const AUDIENCE: &str = "https://api.sdk.test";

fn assert_token(out: &Value) {
    assert_eq!(out["token"]["token_type"], "Bearer", "{out}");
    assert_eq!(out["token"]["expires_in"], 86400, "{out}");
    assert_eq!(out["token"]["scope"], "read:things", "{out}");
    assert!(out["token"]["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3), "{out}");
}

async fn server() -> (LiveServer, String, String) {
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls()).await;
    let (id, secret) = m2m_client(&live, AUDIENCE);
    // Let the server's registry cache see the CLI's changes (polled every second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (live, id, secret)
}

/// Runs one SDK's client_credentials script against a fresh server and checks its token
/// and the refusal it parsed.
async fn check(rt: Runtime, script: &str) {
    if !sdk_available(rt) {
        return;
    }
    let (live, id, secret) = server().await;
    let out = run(rt, &live, script, &[("CLIENT_ID", &id), ("CLIENT_SECRET", &secret), ("AUDIENCE", AUDIENCE)]).await;
    assert_token(&out);
    assert_eq!(out["refused"]["status"], 403, "{out}");
    assert_eq!(out["refused"]["error"], "access_denied", "{out}");
}

#[tokio::test]
async fn node_auth0_authentication_client() {
    check(Runtime::Node, "node/client_credentials.mjs").await;
}

#[tokio::test]
async fn auth0_python_get_token() {
    check(Runtime::Python, "python/client_credentials.py").await;
}
