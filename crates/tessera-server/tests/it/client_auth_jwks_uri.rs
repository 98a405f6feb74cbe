//! `private_key_jwt` with the client's keys at a `jwks_uri` (RFC 7591 §2, RFC 7523 §2.2),
//! end to end: a client registered through the `tessera` CLI with `--jwks-uri` naming an
//! https JWK Set on a test server (its own CA, trusted through `[fetch] ca_file`)
//! authenticates at the token endpoint with a signed assertion; a key outside the set is
//! refused; after the client rotates its keys the new key works (an unknown `kid`
//! refetches the set, at most every 30 s: the injected clock moves, nothing sleeps); and
//! the SSRF-safe fetcher refuses a private address unless the fetch policy allows one.

use serde_json::{json, Value};
use tessera_core::routes;

use crate::grant_jwt_bearer::IdpKey;
use crate::support::{backends, Backend, Cli, TestApp};
use crate::support_docs::{Doc, DocServer};

const API: &str = "https://api.keys.example";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn start(backend: Backend, docs: &DocServer, allow_private: bool) -> TestApp {
    let ca = docs.ca_file.display().to_string();
    TestApp::spawn_configured(backend, move |c| {
        c.fetch.ca_file = ca;
        c.fetch.allow_private_addresses = allow_private;
    })
    .await
}

/// Registers the API, the client (through the CLI) and its grant; returns the client_id.
fn register(app: &TestApp, jwks_uri: &str) -> String {
    let cli = Cli::new(&app.data);
    cli.run(&["apis", "create", "--identifier", API, "--scope", "read:things"]).ok();
    let created = cli
        .run(&[
            "clients",
            "create",
            "--name",
            "Keyed service",
            "--app-type",
            "non_interactive",
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            jwks_uri,
            "--json",
        ])
        .json();
    assert_eq!(created["jwks_uri"], jwks_uri, "{created}");
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert!(created.get("client_secret").is_none() && created.get("jwks").is_none(), "{created}");
    let id = created["client_id"].as_str().unwrap().to_string();
    let shown = cli.run(&["clients", "show", &id]).ok().to_string();
    assert!(shown.contains(&format!("keys:          {jwks_uri}")), "{shown}");
    cli.run(&["grants", "create", "--client-id", &id, "--audience", API]).ok();
    id
}

/// client_credentials with an assertion `key` signs for `client_id`.
async fn token(app: &TestApp, client_id: &str, key: &IdpKey, jti: &str) -> (u16, Value) {
    let now = app.state.now();
    let claims = json!({"iss": client_id, "sub": client_id, "aud": app.url(routes::TOKEN),
        "iat": now, "exp": now + 60, "jti": jti});
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("audience", API),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", &key.sign(&claims)),
    ];
    let resp = app.http.post(app.url(routes::TOKEN)).form(&form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

fn refused(r: &(u16, Value)) -> bool {
    r.0 == 401 && r.1["error"] == "invalid_client"
}

#[tokio::test]
async fn a_cli_registered_client_authenticates_with_a_key_from_its_jwks_uri_and_can_rotate() {
    for backend in backends() {
        let docs = DocServer::start().await;
        let (k1, k2, stranger) = (IdpKey::new("k1"), IdpKey::new("k2"), IdpKey::new("k-stranger"));
        docs.put("/jwks", Doc::json(&json!({"keys": [k1.jwk()]}), "max-age=3600"));
        let app = start(backend, &docs, true).await;
        let id = register(&app, &docs.url("/jwks"));

        let (s, v) = token(&app, &id, &k1, "a1").await;
        assert_eq!(s, 200, "[{backend}] {v}");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(docs.hits("/jwks"), 1, "[{backend}] fetched when the client first authenticates");
        let (s, v) = token(&app, &id, &k1, "a2").await;
        assert_eq!(s, 200, "[{backend}] {v}");
        assert_eq!(docs.hits("/jwks"), 1, "[{backend}] then cached");

        // A key that is not in the set: by its own kid, and claiming the set's kid.
        let r = token(&app, &id, &stranger, "b1").await;
        assert!(refused(&r), "[{backend}] {r:?}");
        let impostor = IdpKey::new("k1");
        let r = token(&app, &id, &impostor, "b2").await;
        assert!(refused(&r), "[{backend}] a kid from the set does not make another key its own: {r:?}");
        assert_eq!(docs.hits("/jwks"), 1, "[{backend}] an unknown kid within 30 s of the fetch does not refetch");

        // The client rotates: its set now holds k2 only.
        docs.put("/jwks", Doc::json(&json!({"keys": [k2.jwk()]}), "max-age=3600"));
        let r = token(&app, &id, &k2, "c1").await;
        assert!(refused(&r), "[{backend}] within 30 s the cached set is used: {r:?}");
        app.clock.advance(31);
        let (s, v) = token(&app, &id, &k2, "c2").await;
        assert_eq!(s, 200, "[{backend}] the new key works once the set may be refetched: {v}");
        assert_eq!(docs.hits("/jwks"), 2, "[{backend}] refetched for the new kid");
        let r = token(&app, &id, &k1, "c3").await;
        assert!(refused(&r), "[{backend}] the key the client dropped no longer works: {r:?}");
        let (s, v) = token(&app, &id, &k2, "c2").await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "[{backend}] a replayed jti: {v}");
    }
}

/// The URL is the client's, so it is fetched by the SSRF-safe fetcher: with the default
/// policy a loopback address is never connected to, and the client cannot authenticate.
#[tokio::test]
async fn a_jwks_uri_on_a_private_address_is_not_fetched_unless_the_policy_allows_it() {
    let docs = DocServer::start().await;
    let k1 = IdpKey::new("k1");
    docs.put("/jwks", Doc::json(&json!({"keys": [k1.jwk()]}), "max-age=3600"));
    let app = start(Backend::Sqlite, &docs, false).await;
    let id = register(&app, &docs.url("/jwks"));
    let r = token(&app, &id, &k1, "a1").await;
    assert!(refused(&r), "{r:?}");
    assert_eq!(docs.hits("/jwks"), 0, "127.0.0.1 was not connected to");
    // Plain http is refused when the client is registered.
    let err = Cli::new(&app.data).run(&["clients", "update", &id, "--jwks-uri", "http://127.0.0.1:1/jwks"]).err().to_string();
    assert!(err.contains("jwks_uri") && err.contains("https"), "{err}");
}
