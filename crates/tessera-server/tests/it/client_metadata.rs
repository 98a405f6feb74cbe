//! Client ID Metadata Documents (issue 21): a client whose `client_id` is the https URL of
//! its metadata document, served by a test https server with its own CA (the outgoing-fetch
//! CA bundle and the private-address allowance are the two settings that make loopback
//! reachable). The whole flow (discovery flag, /authorize, login, the consent page that
//! names the host and warns, code, tokens within the tenant's scope and audience policy,
//! refresh, consent asked again), the cache (one fetch while the document's max-age lasts,
//! a refetch after it, by the injected clock), every refusal with its message, and the
//! flow in a real Chromium.

use std::time::Duration;

use serde_json::{json, Value};
use tessera_core::routes;
use tessera_server::config::Config;

use crate::oauth_fixture::{jwt_parts, pkce_pair};
use crate::support_docs::{Doc, DocServer};
use crate::support_web::*;

const NATIVE_CB: &str = "http://127.0.0.1/mcp-callback";
const DOC: &str = "/agent/client.json";

fn enable(c: &mut Config, docs: &DocServer) {
    let m = &mut c.client_metadata_documents;
    m.enabled = true;
    m.audiences = vec![API.into()];
    m.scopes = ["openid", "offline_access", "read:things"].map(String::from).to_vec();
    c.fetch.ca_file = docs.ca_file.display().to_string();
    c.fetch.allow_private_addresses = true;
    c.fetch.timeout = 1;
}

fn document(docs: &DocServer, path: &str, redirect_uri: &str) -> Value {
    json!({
        "client_id": docs.url(path),
        "client_name": "Agent <Doc>",
        "client_uri": "https://agent.example",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

fn authorize(app: &WebApp, client_id: &str, challenge: &str, resource: &str) -> String {
    app.authorize_url(&[
        ("client_id", client_id),
        ("redirect_uri", NATIVE_CB),
        ("response_type", "code"),
        ("scope", "openid profile offline_access read:things write:things"),
        ("resource", resource),
        ("state", "s1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ])
}

/// Consent page → allow → the code in the redirect.
async fn consent(app: &WebApp, b: &Browser, to: &str) -> (String, String) {
    assert!(to.contains(routes::CONSENT), "a metadata-document client is always asked consent for, got {to}");
    let html = b.get(to).await.text().await.unwrap();
    let (txn, csrf) = (field(&html, "txn").unwrap(), field(&html, "csrf").unwrap());
    let allowed = b.post_form(&app.url(routes::CONSENT), &[("txn", &txn), ("csrf", &csrf), ("decision", "allow")]).await;
    let q = query_of(&location(&allowed));
    (html, q["code"].clone())
}

async fn token(app: &WebApp, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = reqwest::Client::new().post(app.url(routes::TOKEN)).form(form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_document_client_signs_in_with_consent_every_time_within_the_policy_and_its_document_is_cached() {
    for backend in backends() {
        let docs = DocServer::start().await;
        let app = WebApp::start_with(backend, |c| enable(c, &docs)).await;
        let id = docs.url(DOC);
        docs.put(DOC, Doc::json(&document(&docs, DOC, NATIVE_CB), "public, max-age=300"));
        let meta: Value = reqwest::get(app.url(routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
        assert_eq!(meta["client_id_metadata_document_supported"], true, "[{backend}]");

        // RFC 9126 at /oauth/par: the document client pushes as a public client (the first
        // time Tessera meets it, so this is the fetch) and gets a request_uri.
        let (_, pushed_challenge) = pkce_pair();
        let push = reqwest::Client::new()
            .post(app.url(routes::PAR))
            .form(&[
                ("client_id", id.as_str()),
                ("response_type", "code"),
                ("redirect_uri", NATIVE_CB),
                ("scope", "openid"),
                ("code_challenge", pushed_challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(push.status(), 201, "[{backend}] {}", push.text().await.unwrap());

        let b = Browser::new();
        let (verifier, challenge) = pkce_pair();
        let r = b.login(&app, &authorize(&app, &id, &challenge, API)).await;
        let (html, code) = consent(&app, &b, &location(&r)).await;
        assert!(html.contains("Agent &lt;Doc&gt;"), "[{backend}] the document's name, escaped: {html}");
        assert!(html.contains("not registered with this service"), "[{backend}] the warning: {html}");
        assert!(html.contains("<strong>127.0.0.1</strong>"), "[{backend}] the host that vouches for it: {html}");

        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", NATIVE_CB),
            ("client_id", id.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let (status, tokens) = token(&app, &form).await;
        assert_eq!(status, 200, "[{backend}] {tokens}");
        // The policy's scopes only: profile and write:things are not among them.
        assert_eq!(tokens["scope"], "offline_access openid read:things", "[{backend}]");
        let (_, at) = jwt_parts(tokens["access_token"].as_str().unwrap());
        assert_eq!((at["aud"][0].as_str(), at["client_id"].as_str()), (Some(API), Some(id.as_str())), "[{backend}] {at}");
        let (_, idt) = jwt_parts(tokens["id_token"].as_str().unwrap());
        assert_eq!(idt["aud"], id.as_str(), "[{backend}]");
        let refresh =
            [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap()), ("client_id", &id)];
        let (status, refreshed) = token(&app, &refresh).await;
        assert_eq!(status, 200, "[{backend}] {refreshed}");

        // Logged in and allowed before: asked again all the same.
        let (_, challenge) = pkce_pair();
        let again = b.get(&authorize(&app, &id, &challenge, API)).await;
        assert!(location(&again).contains(routes::CONSENT), "[{backend}] consent asked again: {}", location(&again));
        assert_eq!(
            docs.hits(DOC),
            1,
            "[{backend}] one fetch while max-age lasts (PAR, authorize, login, consent, token, refresh)"
        );

        // The policy's audiences: another API is refused once the redirect URI is known.
        app.state
            .deployment
            .registry
            .create_api(tessera_core::model::ResourceServerPatch {
                identifier: Some("https://other.api".into()),
                name: Some("Other".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let refused = b.get(&authorize(&app, &id, &challenge, "https://other.api")).await;
        let q = query_of(&location(&refused));
        assert_eq!(q.get("error").map(String::as_str), Some("invalid_target"), "[{backend}] {q:?}");

        // max-age over (the injected clock): the document is fetched again, and a change in
        // it (the redirect URI moved) applies.
        docs.put(DOC, Doc::json(&document(&docs, DOC, "http://127.0.0.1/moved"), "no-store"));
        app.clock.advance(301);
        let moved = b.get(&authorize(&app, &id, &challenge, API)).await;
        assert_eq!(moved.status(), 400, "[{backend}] the old redirect URI is no longer in the document");
        assert!(moved.headers().get("location").is_none());
        assert_eq!(docs.hits(DOC), 2, "[{backend}]");
    }
}

/// The error page /authorize shows for `client_id` (never a redirect).
async fn refusal(app: &WebApp, client_id: &str) -> String {
    let (_, challenge) = pkce_pair();
    let r = Browser::new().get(&authorize(app, client_id, &challenge, API)).await;
    assert_eq!(r.status(), 400, "{client_id}");
    assert!(r.headers().get("location").is_none(), "{client_id}: an unverified client is never redirected to");
    r.text().await.unwrap()
}

#[tokio::test]
async fn every_refusal_says_why() {
    let docs = DocServer::start().await;
    let app = WebApp::start_with(Backend::Sqlite, |c| enable(c, &docs)).await;
    let put = |path: &str, doc: Value| docs.put(path, Doc::json(&doc, "no-store"));
    let mut mismatch = document(&docs, "/mismatch.json", NATIVE_CB);
    mismatch["client_id"] = docs.url("/other.json").into();
    put("/mismatch.json", mismatch);
    let mut secret = document(&docs, "/secret.json", NATIVE_CB);
    secret["token_endpoint_auth_method"] = "client_secret_basic".into();
    put("/secret.json", secret);
    let mut big = document(&docs, "/big.json", NATIVE_CB);
    big["padding"] = "x".repeat(6000).into();
    put("/big.json", big);
    let mut slow = Doc::json(&document(&docs, "/slow.json", NATIVE_CB), "no-store");
    slow.delay = Duration::from_secs(3);
    docs.put("/slow.json", slow);
    docs.put("/redirect.json", Doc::redirect("http://127.0.0.1/plain.json"));
    put("/elsewhere.json", document(&docs, "/elsewhere.json", "http://127.0.0.1/elsewhere"));

    let cases = [
        (docs.url("/mismatch.json"), "is not its URL"),
        (docs.url("/secret.json"), "needs a shared secret"),
        (docs.url("/big.json"), "larger than 5120 bytes"),
        (docs.url("/slow.json"), "timed out"),
        (docs.url("/redirect.json"), "redirects are not followed"),
        (docs.url("/missing.json"), "HTTP status 404"),
        (docs.url("/mismatch.json").replacen("https://", "http://", 1), "must use https"),
        (format!("https://{}/", docs.addr), "must have a path"),
        (format!("https://{}/a/../mismatch.json", docs.addr), "canonical form"),
    ];
    for (id, why) in cases {
        let page = refusal(&app, &id).await;
        assert!(page.contains("invalid_client") && page.contains(why), "{id}: want {why:?} in {page}");
    }
    // A document that does not list the redirect URI: the redirect check's page.
    let (_, challenge) = pkce_pair();
    let r = Browser::new().get(&authorize(&app, &docs.url("/elsewhere.json"), &challenge, API)).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("redirect_uri"));
    // At the token endpoint too: a refused document is invalid_client.
    let (status, body) =
        token(&app, &[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", &docs.url("/secret.json"))]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");

    // Without the private-address allowance, loopback is refused before any connection.
    let strict = WebApp::start_with(Backend::Sqlite, |c| {
        enable(c, &docs);
        c.fetch.allow_private_addresses = false;
    })
    .await;
    let page = refusal(&strict, &docs.url("/elsewhere.json")).await;
    assert!(page.contains("may not be fetched"), "{page}");
    // A denied domain is never fetched.
    let before = docs.hits("/elsewhere.json");
    let denied = WebApp::start_with(Backend::Sqlite, |c| {
        enable(c, &docs);
        c.client_metadata_documents.denied_domains = vec!["127.0.0.1".into()];
    })
    .await;
    let page = refusal(&denied, &docs.url("/elsewhere.json")).await;
    assert!(page.contains("not accepted here"), "{page}");
    assert_eq!(docs.hits("/elsewhere.json"), before);
    // Off (the default): a URL client_id is an unknown client, and discovery says nothing.
    let off = WebApp::start(Backend::Sqlite).await;
    let page = refusal(&off, &docs.url("/elsewhere.json")).await;
    assert!(page.contains("unknown client_id"), "{page}");
    let meta: Value = reqwest::get(off.url(routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
    assert!(meta.get("client_id_metadata_document_supported").is_none());
    assert_eq!(docs.hits("/elsewhere.json"), before);
}

/// A document client that authenticates with `private_key_jwt`, its keys at a `jwks_uri`
/// (fetched through the same guarded fetcher, cached with the document).
#[tokio::test]
async fn a_document_client_with_a_jwks_uri_authenticates_with_a_key() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    let docs = DocServer::start().await;
    let app = WebApp::start_with(Backend::Sqlite, |c| enable(c, &docs)).await;
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = kp.public_key().as_ref();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "d1", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}]});
    docs.put("/keys.json", Doc::json(&jwks, "max-age=600"));
    let cb = "https://agent.example/cb";
    let mut doc = document(&docs, "/keyed.json", cb);
    doc["token_endpoint_auth_method"] = "private_key_jwt".into();
    doc["jwks_uri"] = docs.url("/keys.json").into();
    docs.put("/keyed.json", Doc::json(&doc, "max-age=600"));
    let id = docs.url("/keyed.json");

    let b = Browser::new();
    let (verifier, challenge) = pkce_pair();
    let url = app.authorize_url(&[
        ("client_id", id.as_str()),
        ("redirect_uri", cb),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let r = b.login(&app, &url).await;
    let (_, code) = consent(&app, &b, &location(&r)).await;
    let now = app.state.now();
    let assertion = |jti: &str| {
        let claims = json!({"iss": id, "sub": id, "aud": routes::url(&app.issuer, routes::TOKEN),
            "iat": now, "exp": now + 60, "jti": jti});
        crate::oauth_fixture::sign_compact(&json!({"alg": "ES256", "kid": "d1", "typ": "JWT"}), &claims, |m| {
            kp.sign(&rng, m).unwrap().as_ref().to_vec()
        })
    };
    const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let good = assertion("a1");
    let form = |a: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", cb.to_string()),
            ("code_verifier", verifier.clone()),
            ("client_assertion_type", ASSERTION_TYPE.to_string()),
            ("client_assertion", a.to_string()),
        ]
    };
    // Without the key's signature (no assertion at all), the code is not redeemed.
    let bare = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", cb),
        ("code_verifier", verifier.as_str()),
        ("client_id", id.as_str()),
    ];
    let (status, body) = token(&app, &bare).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let resp = reqwest::Client::new().post(app.url(routes::TOKEN)).form(&form(&good)).send().await.unwrap();
    let status = resp.status().as_u16();
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(jwt_parts(tokens["id_token"].as_str().unwrap()).1["aud"], id.as_str());
    assert_eq!((docs.hits("/keyed.json"), docs.hits("/keys.json")), (1, 1), "document and keys fetched once");
}

/// The flow in a real headless Chromium: the real login page (it names the host too), the
/// consent page with its warning, Allow, and the browser arriving at the client's loopback
/// callback with a code that redeems.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_document_client_in_a_real_browser() {
    use crate::browser::{callback_listener, chromedriver, next_callback, params, wait_for_text, Driver};
    let Some(chromedriver) = chromedriver() else { return };
    let docs = DocServer::start().await;
    let app = WebApp::start_with(Backend::Sqlite, |c| enable(c, &docs)).await;
    let (port, mut hits) = callback_listener().await;
    let callback = format!("http://127.0.0.1:{port}/cb");
    docs.put(DOC, Doc::json(&document(&docs, DOC, &callback), "max-age=60"));
    let id = docs.url(DOC);
    let (verifier, challenge) = pkce_pair();
    let url = app.authorize_url(&[
        ("client_id", id.as_str()),
        ("redirect_uri", callback.as_str()),
        ("response_type", "code"),
        ("scope", "openid read:things"),
        ("resource", API),
        ("state", "cimd-state"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let driver = Driver::start(&chromedriver).await;
    driver.goto(&url).await;
    assert!(wait_for_text(&driver, "Agent &lt;Doc&gt; (127.0.0.1)").await, "the login page names the host");
    driver.type_into("input[name=username]", EMAIL).await;
    driver.type_into("input[name=password]", PASSWORD).await;
    driver.click("button[type=submit]").await;
    assert!(wait_for_text(&driver, "not registered with this service").await, "the consent page warns");
    assert!(driver.page_source().await.contains("Read your things"));
    driver.click("button[value=allow]").await;
    let hit = next_callback(&mut hits).await;
    let q = params(hit.target.split_once('?').map(|(_, q)| q).unwrap_or(""));
    assert_eq!(q.get("state").map(String::as_str), Some("cimd-state"), "{hit:?}");
    assert_eq!(q.get("iss").map(String::as_str), Some(app.issuer.as_str()), "RFC 9207");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", callback.as_str()),
        ("client_id", id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = token(&app, &form).await;
    assert_eq!((status, tokens["scope"].as_str()), (200, Some("openid read:things")), "{tokens}");
    driver.quit().await;
}
