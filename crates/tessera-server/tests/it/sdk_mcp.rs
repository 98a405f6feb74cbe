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
    let port = mcp_port();
    let out = drive(&live, port, None).await;
    // Registered by RFC 7591 as a public native client.
    let client_id = out["registered"]["client_id"].as_str().expect("registered client_id");
    assert!(out["registered"].get("client_secret").is_none(), "{out}");
    check(&live, &out, client_id, port);
}

/// The same client identified by a client ID metadata document (issue 21): the SDK sees
/// `client_id_metadata_document_supported`, sends its document's URL as `client_id` without
/// registering (registration is off), and Tessera fetches the document from a test https
/// server (its CA trusted through `fetch.ca_file`, loopback allowed for the test).
#[tokio::test]
async fn mcp_sdk_client_with_a_client_id_metadata_document() {
    if !sdk_available(Runtime::Node) {
        return;
    }
    let docs = crate::support_docs::DocServer::start().await;
    let port = mcp_port();
    let dir = crate::support::TempDir::new("mcp-cimd");
    let config = dir.join("tessera.toml");
    let toml = format!(
        "[client_metadata_documents]\nenabled = true\naudiences = [\"http://127.0.0.1:{port}/mcp\"]\n\
         scopes = [\"tools:call\", \"offline_access\"]\n[fetch]\nca_file = {:?}\nallow_private_addresses = true\n",
        docs.ca_file.display().to_string()
    );
    std::fs::write(&config, toml).unwrap();
    let live =
        LiveServer::start_with(Backend::Sqlite, &LiveOptions::default().arg("--config").arg(config.to_str().unwrap())).await;
    let url = docs.url("/mcp/client.json");
    let doc = serde_json::json!({
        "client_id": url,
        "client_name": "MCP SDK test client",
        "redirect_uris": ["http://127.0.0.1:9/mcp-callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    docs.put("/mcp/client.json", crate::support_docs::Doc::json(&doc, "max-age=3600"));
    let out = drive(&live, port, Some(&url)).await;
    assert_eq!(out["registered"]["client_id"], url.as_str(), "the document's URL is the client_id: {out}");
    check(&live, &out, &url, port);
    assert_eq!(docs.hits("/mcp/client.json"), 1, "fetched once, then cached");
}

/// A free port for the MCP server, chosen first so that its URL can be the API's identifier.
fn mcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Creates the API and the user, then runs the SDK script.
async fn drive(live: &LiveServer, port: u16, metadata_url: Option<&str>) -> serde_json::Value {
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
    let mut env = vec![("MCP_PORT", port_text.as_str()), ("USER_EMAIL", EMAIL), ("USER_PASSWORD", PASSWORD)];
    if let Some(u) = metadata_url {
        env.push(("CLIENT_METADATA_URL", u));
    }
    let out = run(Runtime::Node, live, "node/mcp.mjs", &env).await;
    assert!(out.get("error").is_none(), "{out}\n--- server log\n{}", live.log());
    out
}

/// What both ways of identifying the client must show.
fn check(live: &LiveServer, out: &serde_json::Value, client_id: &str, port: u16) {
    let resource = format!("http://127.0.0.1:{port}/mcp");
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
