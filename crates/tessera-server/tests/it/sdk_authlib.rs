//! Authlib's `PrivateKeyJWT` client authentication against a live `tessera serve` over TLS
//! (issue 17): Authlib signs client assertions that live 3600 s, which the default
//! `[client_assertions] max_lifetime` accepts; a deployment that sets a lower maximum refuses
//! them with `invalid_client` and an `error_description` naming the check.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Backend, TempDir};
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{run, sdk_available, Runtime};

const AUDIENCE: &str = "https://api.authlib.test";
const SCRIPT: &str = "python/private_key_jwt.py";

/// Starts a server with `env`, registers a private_key_jwt M2M client whose key Authlib's
/// script made, and runs Authlib's client_credentials request.
async fn authlib_token(env: &[(&str, &str)]) -> Value {
    let mut opts = LiveOptions::tls();
    for (k, v) in env {
        opts = opts.env(k, v);
    }
    let live = LiveServer::start_with(Backend::Sqlite, &opts).await;
    let dir = TempDir::new("authlib");
    let key_file = dir.join("client.pem");
    let key_path = key_file.to_str().unwrap();
    let jwks = run(Runtime::Python, &live, SCRIPT, &[("MODE", "keygen"), ("KEY_FILE", key_path)]).await;
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let cli = live.cli();
    cli.run(&["apis", "create", "--identifier", AUDIENCE, "--scope", "read:things=Read things", "--json"]).json();
    let client = cli
        .run(&[
            "clients",
            "create",
            "--name",
            "Authlib M2M",
            "--app-type",
            "non_interactive",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            jwks_file.to_str().unwrap(),
            "--json",
        ])
        .json();
    let id = client["client_id"].as_str().expect("client_id").to_string();
    cli.run(&["grants", "create", "--client-id", &id, "--audience", AUDIENCE, "--scope", "read:things"]).ok();
    // The server's registry cache sees the CLI's changes within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    run(Runtime::Python, &live, SCRIPT, &[("MODE", "token"), ("KEY_FILE", key_path), ("CLIENT_ID", &id), ("AUDIENCE", AUDIENCE)])
        .await
}

#[tokio::test]
async fn authlib_private_key_jwt_gets_a_token_with_its_3600_s_assertion() {
    if !sdk_available(Runtime::Python) {
        return;
    }
    let out = authlib_token(&[]).await;
    assert_eq!(out["token"]["token_type"], "Bearer", "{out}");
    assert_eq!(out["token"]["scope"], "read:things", "{out}");
    assert!(out["token"]["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3), "{out}");
}

#[tokio::test]
async fn a_lower_max_lifetime_refuses_authlib_and_says_why() {
    if !sdk_available(Runtime::Python) {
        return;
    }
    let out = authlib_token(&[("TESSERA_ASSERTION_MAX_LIFETIME", "600")]).await;
    assert_eq!(out["error"], "invalid_client", "{out}");
    assert_eq!(out["description"], "client_assertion lifetime 3600 s exceeds the maximum 600 s", "{out}");
}
