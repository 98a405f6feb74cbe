//! `serve` over native TLS (issue 17): a real process with a certificate from a test CA,
//! the https issuer, a certificate swapped on disk picked up without a restart, and a bad
//! pair refused at start.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{run_command, tessera_command, Backend, TestData};
use crate::support_live::{LiveOptions, LiveServer, TestCa};

/// An API and an M2M client granted it, made through the CLI as a user would.
pub fn m2m_client(live: &LiveServer, audience: &str) -> (String, String) {
    let cli = live.cli();
    cli.run(&["apis", "create", "--identifier", audience, "--scope", "read:things=Read things", "--json"]).json();
    let client = cli.run(&["clients", "create", "--name", "M2M", "--app-type", "non_interactive", "--json"]).json();
    let id = client["client_id"].as_str().expect("client_id").to_string();
    let secret = client["client_secret"].as_str().expect("client_secret").to_string();
    cli.run(&["grants", "create", "--client-id", &id, "--audience", audience, "--scope", "read:things"]).ok();
    (id, secret)
}

#[tokio::test]
async fn serves_https_with_an_https_issuer_and_issues_tokens() {
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls()).await;
    let http = live.http();
    let discovery: Value = http.get(live.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["issuer"], live.issuer());
    assert!(live.issuer().starts_with("https://127.0.0.1:"), "{}", live.issuer());
    assert_eq!(discovery["token_endpoint"], live.url("/oauth/token"));

    let (id, secret) = m2m_client(&live, "https://api.tls.test");
    // The server caches the registry; a change made by the CLI shows up within a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    let token = loop {
        let resp = http
            .post(live.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("audience", "https://api.tls.test"),
                ("client_id", &id),
                ("client_secret", &secret),
            ])
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            break resp.json::<Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no token within 10 s: {}", resp.text().await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(token["token_type"], "Bearer");

    // Plain HTTP to the TLS port is not served.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{}/healthz", live.port)).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plain HTTP must not be served on the TLS port");
    // A client that does not trust the CA refuses the certificate.
    let untrusting = reqwest::Client::builder().tls_built_in_root_certs(true).build().unwrap();
    assert!(untrusting.get(live.url("/healthz")).send().await.is_err(), "the test CA is not a public one");

    let mut live = live;
    assert!(live.terminate().success(), "a TLS server stops cleanly on SIGTERM:\n{}", live.log());
}

#[tokio::test]
async fn without_tls_the_live_server_speaks_plain_http() {
    let live = LiveServer::start(Backend::Sqlite).await;
    assert!(live.issuer().starts_with("http://127.0.0.1:"));
    let discovery: Value =
        live.http().get(live.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["issuer"], live.issuer());
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_used_without_a_restart() {
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls()).await;
    let old = live.http();
    assert_eq!(old.get(live.url("/healthz")).send().await.unwrap().status(), 200);

    let old_ca = live.ca.as_ref().unwrap().reqwest_certificate();
    // A renewal: a new CA and server pair written over the same files.
    let renewed = TestCa::create(live.data.dir.path());
    let trusting_new = reqwest::Client::builder()
        .add_root_certificate(renewed.reqwest_certificate())
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // A fresh connection each time (the pool of `trusting_new` has none that succeeded).
        if trusting_new.get(live.url("/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "the renewed certificate was not served within 15 s:\n{}", live.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(live.log().contains("TLS certificate changed; reloaded"), "{}", live.log());
    // New connections that trust only the old CA now fail.
    let only_old = reqwest::Client::builder().add_root_certificate(old_ca).tls_built_in_root_certs(false).build().unwrap();
    assert!(only_old.get(live.url("/healthz")).send().await.is_err());
}

#[test]
fn a_missing_or_mismatched_pair_stops_the_start() {
    let data = TestData::new(Backend::Sqlite);
    let a = TestCa::create(data.dir.path());
    let other = data.dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let b = TestCa::create(&other);
    let cases: [(&[&str], &str); 3] = [
        (&["--tls-cert", a.cert_file.to_str().unwrap()], "tls.cert and tls.key must be set together"),
        (&["--tls-cert", "/nonexistent/cert.pem", "--tls-key", a.key_file.to_str().unwrap()], "cannot read TLS certificate"),
        (&["--tls-cert", a.cert_file.to_str().unwrap(), "--tls-key", b.key_file.to_str().unwrap()], "does not match certificate"),
    ];
    for (args, expected) in cases {
        let mut cmd = tessera_command(data.dir.path());
        cmd.arg("--data-dir").arg(data.dir.path()).args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        let out = run_command(cmd, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: expected {expected:?} in {stderr}");
    }
    assert!(!data.dir.join("tessera.db").exists(), "a refused start writes no database");
}
