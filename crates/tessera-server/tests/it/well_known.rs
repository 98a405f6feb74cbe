//! Discovery metadata, the JWKS across key rotation and revocation, health, readiness,
//! metrics and the request id — against an in-process server on every backend.

use std::collections::BTreeSet;

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_core::clock::Clock;
use tessera_core::model::SigningAlg;
use tessera_core::routes;
use tessera_core::tokens::KeyState;

use crate::support::{backends, Backend, TestApp};

async fn get_json(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, Value) {
    let resp = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "[{}] GET {path}", app.backend);
    let headers = resp.headers().clone();
    (headers, resp.json().await.unwrap())
}

async fn jwks_kids(app: &TestApp) -> BTreeSet<String> {
    let (_, jwks) = get_json(app, routes::JWKS).await;
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

/// kids of the stored RS256 keys in `state`.
async fn stored_kids(app: &TestApp, state: KeyState) -> Vec<String> {
    let keys = app.deployment.store.list_signing_keys().await.unwrap();
    keys.into_iter().filter(|k| k.alg == SigningAlg::RS256 && k.state == state).map(|k| k.kid).collect()
}

#[tokio::test]
async fn discovery_documents_describe_this_issuer() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend).await;
        assert!(app.issuer.ends_with('/'), "the issuer keeps its trailing slash: {}", app.issuer);
        let base = app.issuer.trim_end_matches('/').to_string();
        let mut documents = Vec::new();
        for path in [routes::OPENID_CONFIGURATION, routes::OAUTH_AUTHORIZATION_SERVER] {
            let (headers, doc) = get_json(&app, path).await;
            assert_eq!(headers[CONTENT_TYPE], "application/json", "[{backend}] {path}");
            assert!(headers[CACHE_CONTROL].to_str().unwrap().contains("max-age"), "[{backend}] {path} is cacheable");
            assert_eq!(headers["access-control-allow-origin"], "*", "[{backend}] {path} for SPAs");
            assert_eq!(doc["issuer"], app.issuer.as_str(), "[{backend}] {path} issuer");
            assert_eq!(doc["jwks_uri"], format!("{base}/.well-known/jwks.json"), "[{backend}] {path} jwks_uri");
            assert_eq!(doc["subject_types_supported"], serde_json::json!(["public"]));
            let algs = doc["id_token_signing_alg_values_supported"].as_array().unwrap();
            assert!(algs.iter().any(|a| a == "RS256"), "[{backend}] RS256 ID tokens: {doc}");
            assert!(!algs.iter().any(|a| a == "none"), "[{backend}] never alg none");
            // RFC 8414 §2: an endpoint that lists client_secret_jwt or private_key_jwt lists the
            // assertion algorithms it accepts; the three endpoints verify assertions alike.
            for endpoint in ["token", "revocation", "introspection"] {
                let methods = &doc[format!("{endpoint}_endpoint_auth_methods_supported")];
                let want = json!(["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"]);
                assert_eq!(methods, &want, "[{backend}] {path} {endpoint}");
                assert_eq!(
                    doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
                    json!(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA", "Ed25519", "HS256"]),
                    "[{backend}] {path} {endpoint}"
                );
            }
            documents.push(doc);
        }
        assert_eq!(documents[0], documents[1], "[{backend}] both documents carry the same metadata");

        // Whatever endpoint is advertised is served (this keeps holding as endpoints are added).
        let doc = documents[0].as_object().unwrap();
        for (field, value) in doc {
            if !field.ends_with("_endpoint") && field != "jwks_uri" {
                continue;
            }
            let url = value.as_str().unwrap_or_else(|| panic!("{field} is not a string"));
            assert!(url.starts_with(&format!("{base}/")), "[{backend}] {field} {url} is under the issuer");
            let method = match field.as_str() {
                "token_endpoint"
                | "revocation_endpoint"
                | "introspection_endpoint"
                | "pushed_authorization_request_endpoint"
                | "device_authorization_endpoint" => Method::POST,
                _ => Method::GET,
            };
            let mut req = app.http.request(method.clone(), url);
            if method == Method::POST {
                req = req.header(CONTENT_TYPE, "application/x-www-form-urlencoded").body("");
            }
            let status = req.send().await.unwrap().status();
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "[{backend}] advertised {field} ({method} {url}) answers {status}"
            );
        }
        // Nothing unimplemented is advertised yet: every endpoint flag follows a capability.
        let caps = &app.state().capabilities;
        assert_eq!(doc.contains_key("token_endpoint"), !caps.grant_types.is_empty(), "[{backend}] token_endpoint iff grants");
        assert_eq!(doc.contains_key("authorization_endpoint"), caps.authorize, "[{backend}] authorization_endpoint");
        assert_eq!(doc.contains_key("userinfo_endpoint"), caps.userinfo, "[{backend}] userinfo_endpoint");
        app.stop().await;
    }
}

#[tokio::test]
async fn jwks_publishes_public_keys_only() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend).await;
        let (headers, jwks) = get_json(&app, routes::JWKS).await;
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        let cache = headers[CACHE_CONTROL].to_str().unwrap();
        assert!(cache.contains("max-age="), "[{backend}] Cache-Control: {cache}");
        assert!(!cache.contains("no-store"), "[{backend}] the JWKS is cacheable: {cache}");
        let keys = jwks["keys"].as_array().unwrap();
        let kids: BTreeSet<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids.len(), keys.len(), "[{backend}] distinct kids: {jwks}");
        for k in keys {
            assert_eq!(k["use"], "sig", "[{backend}] {k}");
            assert!(k["alg"].is_string() && k["kty"].is_string(), "[{backend}] {k}");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
                assert!(k.get(private).is_none(), "[{backend}] private member {private} published: {k}");
            }
            if k["kty"] == "RSA" {
                assert!(k["n"].is_string() && k["e"].is_string(), "[{backend}] {k}");
            }
        }
        // Exactly the current and next keys of a fresh deployment.
        let mut expected: BTreeSet<String> = stored_kids(&app, KeyState::Current).await.into_iter().collect();
        expected.extend(stored_kids(&app, KeyState::Next).await);
        assert_eq!(expected.len(), 2, "[{backend}] RS256 current + next exist");
        assert_eq!(jwks_kids(&app).await, expected, "[{backend}] current and next are published");
        app.stop().await;
    }
}

#[tokio::test]
async fn jwks_follows_rotation_and_revocation() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend).await;
        let old_current = stored_kids(&app, KeyState::Current).await.remove(0);
        let old_next = stored_kids(&app, KeyState::Next).await.remove(0);

        let promoted = app.deployment.registry.rotate_keys(SigningAlg::RS256).await.unwrap();
        assert_eq!(promoted, old_next, "[{backend}] rotation promotes the pre-published key");
        // The server re-reads its keys within a second of a registry change by itself; this
        // reload makes it certain now (it swaps nothing if the background sync came first).
        app.reload_keys().await;
        let new_next = stored_kids(&app, KeyState::Next).await.remove(0);
        let kids = jwks_kids(&app).await;
        assert_eq!(
            kids,
            BTreeSet::from([old_current.clone(), old_next.clone(), new_next.clone()]),
            "[{backend}] retired, current and next are published after a rotation"
        );
        // The promoted key was stored a moment ago (at start): the retired key, which every
        // node already publishes, keeps signing until the new one is old enough.
        let signer = || app.state().keys.get().signer(SigningAlg::RS256).unwrap().kid().to_string();
        assert_eq!(signer(), old_current, "[{backend}] a key stored a moment ago does not sign yet");
        assert!(!app.reload_keys().await, "[{backend}] a reload without changes swaps nothing");
        app.clock.advance(tessera_core::tokens::keys::SIGNING_LEAD);
        assert!(app.reload_keys().await, "[{backend}] coming of age changes the signer");
        assert_eq!(signer(), old_next, "[{backend}] the new current signs");

        app.deployment.registry.revoke_key(&old_current).await.unwrap();
        app.reload_keys().await;
        let kids = jwks_kids(&app).await;
        assert!(!kids.contains(&old_current), "[{backend}] a revoked key is withdrawn at once");
        assert_eq!(kids, BTreeSet::from([old_next.clone(), new_next.clone()]), "[{backend}]");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks_when_its_tokens_have_expired() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend).await;
        let old_current = stored_kids(&app, KeyState::Current).await.remove(0);
        app.deployment.registry.rotate_keys(SigningAlg::RS256).await.unwrap();
        app.reload_keys().await;
        let retired = app.deployment.store.list_signing_keys().await.unwrap().into_iter().find(|k| k.kid == old_current).unwrap();
        let until = retired.publish_until.expect("a retired key has a publication end");
        let now = app.clock.now();
        assert!(until - now >= 86_400, "[{backend}] published at least as long as an access token lives ({}s)", until - now);

        app.clock.set(until - 1);
        app.reload_keys().await;
        assert!(jwks_kids(&app).await.contains(&old_current), "[{backend}] still published just before the end");
        app.clock.set(until);
        assert!(app.reload_keys().await, "[{backend}] the aged-out key changes the published set");
        let kids = jwks_kids(&app).await;
        assert!(!kids.contains(&old_current), "[{backend}] gone once every token it signed has expired");
        assert_eq!(kids.len(), 2, "[{backend}] current and next remain");
        app.stop().await;
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend).await;
        let (_, health) = get_json(&app, routes::HEALTHZ).await;
        assert_eq!(health["status"], "ok");
        let (headers, ready) = get_json(&app, routes::READYZ).await;
        assert_eq!(ready["status"], "ready", "[{backend}] {ready}");
        assert_eq!(ready["backend"], backend.name(), "[{backend}] {ready}");
        assert_eq!(ready["store"], "ok");
        assert_eq!(ready["keys"], "ok");
        assert_eq!(headers[CACHE_CONTROL], "no-store", "[{backend}] readiness is never cached");

        let resp = app.http.get(app.url(routes::METRICS)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"), "[{backend}] Prometheus text format");
        let text = resp.text().await.unwrap();
        let line = "tessera_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1\n";
        assert!(text.contains(line), "[{backend}] the healthz call is counted:\n{text}");
        assert!(text.contains("# TYPE tessera_http_requests_total counter"), "[{backend}]");
        assert!(text.contains("tessera_http_request_duration_seconds_count{route=\"/readyz\"} 1\n"), "[{backend}]\n{text}");

        // Unknown paths are counted under one label, not by their raw path.
        app.http.get(app.url("/no/such/path-12345")).send().await.unwrap();
        let text = app.http.get(app.url(routes::METRICS)).send().await.unwrap().text().await.unwrap();
        assert!(!text.contains("path-12345"), "[{backend}] raw paths never become labels");
        assert!(text.contains("route=\"unmatched\",method=\"GET\",status=\"404\"} 1"), "[{backend}]\n{text}");
        // SQLite's group commit is observable: write transactions and the commits they took.
        let counter = |text: &str, name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} in\n{text}"))
        };
        if backend == Backend::Sqlite {
            let (txns, commits) =
                (counter(&text, "tessera_sqlite_transactions_total"), counter(&text, "tessera_sqlite_commits_total"));
            assert!(txns >= 1 && (1..=txns).contains(&commits), "[{backend}] {txns} transactions, {commits} commits");
        } else {
            assert!(!text.contains("tessera_sqlite_"), "[{backend}] no SQLite counters");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn request_ids_and_unknown_paths() {
    let app = TestApp::spawn().await;
    for path in [routes::HEALTHZ, routes::READYZ, routes::METRICS, routes::JWKS, routes::OPENID_CONFIGURATION, "/nope"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        let id = resp.headers().get("x-request-id").unwrap_or_else(|| panic!("{path} has no x-request-id"));
        assert!(!id.is_empty(), "{path}");
    }
    let ids: BTreeSet<String> = {
        let mut s = BTreeSet::new();
        for _ in 0..3 {
            let resp = app.http.get(app.url(routes::HEALTHZ)).send().await.unwrap();
            s.insert(resp.headers()["x-request-id"].to_str().unwrap().to_string());
        }
        s
    };
    assert_eq!(ids.len(), 3, "fresh ids differ per request: {ids:?}");

    let resp = app.http.get(app.url(routes::HEALTHZ)).header("X-Request-Id", "proxy-req_42.a").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "proxy-req_42.a", "a sane incoming id is echoed");
    for insane in ["has space", "<script>", &"x".repeat(65)] {
        let resp = app.http.get(app.url(routes::HEALTHZ)).header("X-Request-Id", insane).send().await.unwrap();
        let echoed = resp.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, insane, "an unsafe id is replaced");
        assert!(!echoed.is_empty() && echoed.bytes().all(|b| b.is_ascii_alphanumeric()), "{echoed}");
    }

    let resp = app.http.get(app.url("/definitely/not/here")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "not_found", "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    let resp = app.http.post(app.url(routes::HEALTHZ)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "a known path with the wrong method");
    // RFC 9110 §15.5.6: a 405 names the methods the endpoint supports; the body is the same
    // JSON error as every other refusal.
    for (method, path, allowed) in [
        (Method::GET, routes::TOKEN, "POST,OPTIONS"),
        (Method::DELETE, routes::REVOKE, "POST,OPTIONS"),
        (Method::PUT, routes::JWKS, "GET,HEAD"),
    ] {
        let resp = app.http.request(method.clone(), app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(resp.headers()["allow"], allowed, "{method} {path}");
        assert!(resp.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"), "{method} {path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{method} {path}: {body}");
        assert_eq!(body["error_description"], format!("{method} is not supported by this endpoint"));
    }
    app.stop().await;
}
