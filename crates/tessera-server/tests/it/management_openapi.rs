//! The Management API's OpenAPI 3.1 document (issue 18), `GET /api/v2/openapi.json`.
//!
//! - It and the router describe the same operations: every documented (method, path) is
//!   served by a handler (without a token it answers the handler's 401, not the router's
//!   404 or 405), every other method on a documented path is 405, and the router is built
//!   only from `routes!` lists (each handler registered at its annotation's path and
//!   method), so nothing is served that the document does not name.
//! - It is valid OpenAPI 3.1 (openapi-spec-validator), and schemathesis, driving every
//!   operation with generated requests against a live `tessera serve` with a token holding
//!   every Management API scope, finds no 5xx and no answer whose status code, content type
//!   or body the document contradicts.

use reqwest::Method;
use serde_json::Value;
use tessera_core::registry::management_audience;

use crate::support::{backends, TempDir, TestApp};
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{run, sdk_available, Runtime};

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

/// `path` with each `{parameter}` filled in.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e + 1);
        out.push_str("probe_0123456789");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn the_document_and_the_router_name_the_same_operations() {
    let app = TestApp::spawn().await;
    // Public, as Auth0's: no token.
    let resp = app.http.get(app.url("/api/v2/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0", "{doc}");
    assert_eq!(doc["servers"][0]["url"], "/api/v2");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let paths = doc["paths"].as_object().expect("paths");
    let mut operation_ids = std::collections::HashSet::new();
    let mut documented = 0;
    for (path, item) in paths {
        for method in METHODS {
            let op = &item[method.as_str().to_ascii_lowercase()];
            let resp = app.http.request(method.clone(), app.url(&format!("/api/v2{}", concrete(path)))).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if !op.is_object() {
                assert_eq!(status, 405, "{method} {path} is served but not documented: {body}");
                continue;
            }
            documented += 1;
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(operation_ids.insert(id.to_string()), "operationId {id} twice");
            assert!(
                op["responses"].as_object().is_some_and(|r| r.keys().any(|k| k.starts_with('2'))),
                "{method} {path} documents no success"
            );
            let public = op["security"] == serde_json::json!([{}]);
            match path.as_str() {
                "/openapi.json" => assert_eq!(status, 200, "{body}"),
                // The export download takes its signed link instead of a token.
                "/jobs/{id}/download" => assert_eq!((status, body["errorCode"].as_str()), (404, Some("inexistent_job"))),
                _ => {
                    assert!(!public, "{method} {path} takes a token but documents none");
                    assert_eq!(status, 401, "{method} {path} is documented but not served by its handler: {body}");
                    assert_eq!(body["errorCode"], "invalid_token", "{method} {path}: {body}");
                    for code in ["400", "401", "403", "429"] {
                        assert!(op["responses"][code].is_object(), "{method} {path} does not document {code}");
                    }
                    let scopes = op["security"][0]["bearer"].as_array().map_or(0, Vec::len);
                    assert!(scopes > 0, "{method} {path} names no scope");
                }
            }
        }
    }
    assert!(documented >= 55, "only {documented} operations documented");

    // Router → document: the router is the `routes!` lists and nothing else; a handler added
    // with a plain `.route(...)` would be served without being documented.
    let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/management"))];
    let mut sources = vec![];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push(path);
            }
        }
    }
    assert!(sources.len() > 10, "{sources:?}");
    for file in sources {
        let text = std::fs::read_to_string(&file).unwrap();
        for banned in [".route(", ".route_service(", ".nest(", ".merge(", "routing::get", "routing::post", "routing::delete"] {
            assert!(!text.contains(banned), "{} registers a route outside routes!: {banned}", file.display());
        }
    }
    app.stop().await;
}

/// A live server with the rate limit off (schemathesis sends faster than 50 requests a
/// second, and 429s would only hide what it could find) and a token with every scope.
async fn live_with_token(backend: crate::support::Backend, dir: &TempDir) -> (LiveServer, String) {
    let config = dir.join("tessera.toml");
    std::fs::write(&config, "[management]\nrate_limit = 0\n").unwrap();
    let live = LiveServer::start_with(backend, &LiveOptions::default().arg("--config").arg(config.to_str().unwrap())).await;
    let issuer = live.issuer();
    let boot = live.cli().run(&["--json", "admin", "bootstrap", "--issuer", &issuer]).json();
    let (id, secret) = (boot["client_id"].as_str().unwrap().to_string(), boot["client_secret"].as_str().unwrap().to_string());
    // The server's registry cache polls for changes made by the CLI every second.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let audience = management_audience(&issuer);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
        ("audience", audience.as_str()),
    ];
    let v: Value = live.http().post(live.url("/oauth/token")).form(&form).send().await.unwrap().json().await.unwrap();
    let token = v["access_token"].as_str().unwrap_or_else(|| panic!("no management token: {v}")).to_string();
    (live, token)
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_nothing_the_document_contradicts() {
    if !sdk_available(Runtime::Python) {
        return;
    }
    for backend in backends() {
        let dir = TempDir::new("openapi");
        let (live, token) = live_with_token(backend, &dir).await;
        // Key rotation and revocation run last, on their own: schemathesis reuses values it
        // saw in answers, so it revokes the very key (listed by GET /keys/signing) that signed
        // the run's token, and every later request would be refused with 401 "signed by an
        // unknown key", which is right, and would leave the other operations untested.
        let last = "post_signing_keys_rotate,put_signing_key_revoke";
        for (filter, ops, examples) in [("EXCLUDE_OPERATION_IDS", 50, "20"), ("INCLUDE_OPERATION_IDS", 2, "5")] {
            let env = [("TOKEN", token.as_str()), ("MAX_EXAMPLES", examples), (filter, last)];
            let out = run(Runtime::Python, &live, "python/schemathesis_run.py", &env).await;
            let report = out["report"].as_str().unwrap_or_default();
            assert_eq!(out["openapi"], "3.1.0", "[{backend}] {out}");
            assert_eq!(out["exit"], 0, "[{backend}] schemathesis found problems:\n{report}\n--- server log\n{}", live.log());
            // Every selected operation was exercised with the token accepted.
            let tested = report.lines().find(|l| l.contains("Operations:") && l.contains("selected")).unwrap_or_default();
            eprintln!("[{backend}] schemathesis: {}", tested.trim());
            let counts: Vec<usize> = tested.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
            assert!(counts.first().is_some_and(|n| *n >= ops), "[{backend}] too few operations tested:\n{report}");
            // The token was accepted throughout the first pass: no operation answered only 401
            // (the last pass may revoke the token's own key).
            if filter == "EXCLUDE_OPERATION_IDS" {
                assert!(!report.contains("Authentication failed"), "[{backend}] the token stopped working:\n{report}");
            }
        }
    }
}
