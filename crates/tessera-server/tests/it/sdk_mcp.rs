//! An MCP client end to end (issue 21): `tests/sdk/node/mcp.mjs` runs the official
//! TypeScript MCP SDK (`@modelcontextprotocol/sdk`, pinned in tests/sdk/package.json) as the
//! client with its OAuth provider, against a small MCP server made with the same SDK that
//! verifies Tessera's access tokens with the JWKS and publishes RFC 9728 metadata. Against
//! a live `tessera serve` with dynamic registration open, the SDK discovers Tessera,
//! registers (RFC 7591), sends `resource` (RFC 8707) and PKCE, the user signs in and
//! consents on the hosted pages, the tool is called, and the SDK refreshes when the server
//! refuses its token.

use std::time::Duration;

use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{run, sdk_available, Runtime};

const EMAIL: &str = "mcp-user@example.com";
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn mcp_sdk_client_registers_signs_in_calls_a_tool_and_refreshes() {
    if !sdk_available(Runtime::Node) {
        return;
    }
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::default().env("TESSERA_REGISTRATION_MODE", "open")).await;
    // The MCP server's port, chosen now so that its URL can be the API's identifier.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let cli = live.cli();
    cli.run(&[
        "apis",
        "create",
        "--identifier",
        &resource,
        "--name",
        "MCP server",
        "--scope",
        "tools:call=Call the tools",
        "--allow-offline-access",
        "true",
        "--json",
    ])
    .json();
    cli.run(&["users", "create", "--email", EMAIL, "--email-verified", "true", "--password", PASSWORD, "--json"]).json();
    // The server's registry cache sees the CLI's changes within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let port_text = port.to_string();
    let out = run(
        Runtime::Node,
        &live,
        "node/mcp.mjs",
        &[("MCP_PORT", &port_text), ("USER_EMAIL", EMAIL), ("USER_PASSWORD", PASSWORD)],
    )
    .await;
    assert!(out.get("error").is_none(), "{out}\n--- server log\n{}", live.log());
    // Registered by RFC 7591 as a public native client.
    let client_id = out["registered"]["client_id"].as_str().expect("registered client_id");
    assert!(out["registered"].get("client_secret").is_none(), "{out}");
    // The authorization request: PKCE S256, the resource indicator, the scope of the
    // resource's metadata.
    let a = &out["authorize"];
    assert_eq!((a["client_id"].as_str(), a["code_challenge_method"].as_str()), (Some(client_id), Some("S256")), "{out}");
    assert_eq!(a["resource"], resource.as_str(), "{out}");
    assert_eq!(a["scope"], "tools:call offline_access", "{out}");
    assert_eq!(out["iss"], live.issuer(), "RFC 9207 iss in the authorization response");
    assert_eq!(out["consent_names_client"], true, "consent asked for a dynamic client, naming it");
    assert!(out["first_tokens"]["refresh_token"].as_str().is_some(), "{out}");
    assert_eq!(out["tools"], serde_json::json!(["whoami"]));
    let who = &out["whoami"];
    assert!(who["sub"].as_str().is_some_and(|s| s.starts_with("auth0|")), "{out}");
    assert_eq!((who["client_id"].as_str(), who["scope"].as_str()), (Some(client_id), Some("offline_access tools:call")), "{out}");
    assert_eq!(out["whoami_after_refresh"]["sub"], who["sub"]);
    assert_eq!((out["refreshed"].as_bool(), out["refresh_rotated"].as_bool()), (Some(true), Some(true)), "{out}");
    // Every MCP request carried a verified token: initialize, the initialized notification,
    // tools/list and tools/call, then (after the refresh) initialize, initialized, tools/call.
    assert_eq!(out["tokens_seen"], 7, "{out}");
}
