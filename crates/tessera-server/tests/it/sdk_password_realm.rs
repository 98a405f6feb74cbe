//! The password-realm grant from Auth0's SDKs against a live `tessera serve` over TLS
//! (issue 17): the Node `auth0` AuthenticationClient's `oauth.passwordGrant` and
//! auth0-python's `GetToken.login`, each with a realm, each getting the tokens and seeing
//! every refusal (wrong password, blocked user, client without the grant) as it parses it.

use std::time::Duration;

use serde_json::Value;

use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{run, sdk_available, Runtime};

const AUDIENCE: &str = "https://api.ropc.test";
const EMAIL: &str = "alice@example.com";
const BLOCKED: &str = "bob@example.com";
const PASSWORD: &str = "correct horse battery";
const REALM_GRANT: &str = "http://auth0.com/oauth/grant-type/password-realm";

struct Setup {
    live: LiveServer,
    client: (String, String),
    other: (String, String),
}

async fn server() -> Setup {
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls().env("TESSERA_PASSWORD_GRANT", "true")).await;
    let cli = live.cli();
    cli.run(&[
        "apis",
        "create",
        "--identifier",
        AUDIENCE,
        "--scope",
        "read:things=Read things",
        "--allow-offline-access",
        "true",
        "--json",
    ])
    .json();
    let grants = format!("{REALM_GRANT},refresh_token");
    let pair = |v: Value| (v["client_id"].as_str().unwrap().to_string(), v["client_secret"].as_str().unwrap().to_string());
    let client = pair(
        cli.run(&["clients", "create", "--name", "Mobile", "--app-type", "regular_web", "--grant-type", &grants, "--json"])
            .json(),
    );
    let other = pair(cli.run(&["clients", "create", "--name", "Web", "--app-type", "regular_web", "--json"]).json());
    for email in [EMAIL, BLOCKED] {
        cli.run_with_stdin(&["users", "create", "--email", email, "--password-stdin", "--json"], Some(PASSWORD)).ok();
    }
    cli.run(&["users", "block", BLOCKED, "--json"]).ok();
    // Let the server's registry cache see the CLI's changes (polled every second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Setup { live, client, other }
}

async fn check(rt: Runtime, script: &str) {
    if !sdk_available(rt) {
        return;
    }
    let s = server().await;
    let env = [
        ("CLIENT_ID", s.client.0.as_str()),
        ("CLIENT_SECRET", s.client.1.as_str()),
        ("OTHER_ID", s.other.0.as_str()),
        ("OTHER_SECRET", s.other.1.as_str()),
        ("AUDIENCE", AUDIENCE),
        ("EMAIL", EMAIL),
        ("BLOCKED_EMAIL", BLOCKED),
        ("PASSWORD", PASSWORD),
    ];
    let out = run(rt, &s.live, script, &env).await;
    let t = &out["token"];
    assert_eq!(t["token_type"], "Bearer", "{out}");
    assert_eq!(t["scope"], "email offline_access openid profile read:things", "{out}");
    for k in ["access_token", "id_token", "refresh_token"] {
        assert!(t[k].as_str().is_some_and(|v| !v.is_empty()), "{k}: {out}");
    }
    let r = &out["refused"];
    let wrong = serde_json::json!({"status": 403, "error": "invalid_grant", "description": "Wrong email or password."});
    assert_eq!(r["wrong_password"], wrong, "{out}");
    assert_eq!(r["blocked_user"], wrong, "{out}");
    assert_eq!(
        r["client_without_grant"],
        serde_json::json!({"status": 403, "error": "unauthorized_client",
            "description": format!("Grant type '{REALM_GRANT}' not allowed for the client.")}),
        "{out}"
    );
}

#[tokio::test]
async fn node_auth0_password_grant_with_realm() {
    check(Runtime::Node, "node/password_realm.mjs").await;
}

#[tokio::test]
async fn auth0_python_get_token_login() {
    check(Runtime::Python, "python/password_realm.py").await;
}
