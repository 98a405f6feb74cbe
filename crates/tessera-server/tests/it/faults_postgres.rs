//! A PostgreSQL outage (issue 19, defect 1 and fault test 3), on the test's own cluster: the
//! database stopped, then frozen (SIGSTOP), under a live `tessera serve`. Requests that need
//! the database fail fast with 503 `temporarily_unavailable` and `Retry-After`, `/readyz`
//! says not ready within its own short deadline while `/healthz` stays 200, and the node
//! recovers by itself. A node started while the database is down waits for it, saying so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::faults_cluster::Cluster;
use crate::faults_support::*;
use crate::support::TestData;
use crate::support_live::{LiveOptions, LiveServer};

/// The deadlines the node runs with (seconds): short, so the test is quick.
const SETTINGS: &str = "[database]\nconnect_timeout = 1\nstatement_timeout = 2\nread_timeout = 2\nstart_timeout = 60\n";
/// The longest a request may take while the database is down or frozen: the read deadline
/// plus slack for a shared 2-core machine.
const FAST: Duration = Duration::from_millis(3500);
const RECOVER: Duration = Duration::from_secs(20);

fn options(data: &TestData) -> LiveOptions {
    let file = data.dir.join("tessera.toml");
    std::fs::write(&file, SETTINGS).unwrap();
    LiveOptions::default().arg("--config").arg(file.to_str().unwrap())
}

/// What a client sees for requests that need the database: a client that is not cached (so
/// the node must read it) and an introspection (which reads the revocation list once the
/// node's in-memory mirror of it is older than `revocations::FRESH_FOR`: see
/// [`outage_outlasts_the_revocation_mirror`]).
async fn needs_database(http: &reqwest::Client, node: &LiveServer, m2m: &M2m, token: &str) -> Vec<(u16, String, Option<String>)> {
    let unknown = M2m { id: "not-cached-client".into(), secret: "x".into() };
    let mut out = Vec::new();
    for req in [
        http.post(node.url("/oauth/token")).form(&[
            ("grant_type", "client_credentials"),
            ("audience", API),
            ("client_id", &unknown.id),
            ("client_secret", &unknown.secret),
        ]),
        http.post(node.url("/oauth/introspect")).form(&[
            ("token", token),
            ("client_id", &m2m.id),
            ("client_secret", &m2m.secret),
        ]),
    ] {
        let started = Instant::now();
        let r = req.send().await.expect("an answer, not a broken connection");
        let took = started.elapsed();
        assert!(took < FAST, "answered after {took:?}: {}", node.log());
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        out.push((status, body["error"].as_str().unwrap_or_default().to_string(), retry));
    }
    out
}

async fn status(http: &reqwest::Client, node: &LiveServer, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let r = http.get(node.url(path)).send().await.expect("an answer");
    (r.status().as_u16(), started.elapsed())
}

/// While the database is unreachable: fast 503s, not ready, alive.
async fn check_unavailable(http: &reqwest::Client, node: &LiveServer, m2m: &M2m, token: &str, what: &str) {
    for (status, error, retry) in needs_database(http, node, m2m, token).await {
        assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"), "{what}");
        assert!(retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s > 0)), "{what}: Retry-After");
    }
    let (ready, took) = status(http, node, "/readyz").await;
    assert_eq!(ready, 503, "{what}: /readyz");
    assert!(took < FAST, "{what}: /readyz answered after {took:?}");
    assert_eq!(status(http, node, "/healthz").await.0, 200, "{what}: /healthz");
}

/// Until the node answers from the database again, without a restart.
async fn wait_recovered(http: &reqwest::Client, node: &LiveServer, m2m: &M2m, token: &str, what: &str) {
    let started = Instant::now();
    loop {
        let answers = needs_database(http, node, m2m, token).await;
        // The unknown client is refused (the database answered), the token is active.
        if answers[0].0 == 401 && answers[1].0 == 200 && status(http, node, "/readyz").await.0 == 200 {
            return;
        }
        assert!(started.elapsed() < RECOVER, "{what}: not recovered after {RECOVER:?}: {answers:?}\n{}", node.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_or_frozen_database_gets_fast_503s_and_the_node_recovers_by_itself() {
    let Some(mut cluster) = Cluster::start() else {
        assert!(
            std::env::var("TESSERA_REQUIRE_PG_SERVER").as_deref() != Ok("1"),
            "TESSERA_REQUIRE_PG_SERVER=1 but the PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        );
        eprintln!("PostgreSQL server binaries not installed; skipping");
        return;
    };
    let data = Arc::new(TestData::on_postgres(&cluster.admin_url()));
    let node = LiveServer::start_on(data.clone(), &options(&data)).await;
    let m2m = seed_m2m(&node.cli());
    let http = http();
    let token = access_token(&http, &node, &m2m).await;
    wait_recovered(&http, &node, &m2m, &token, "before any fault").await;

    cluster.stop();
    outage_outlasts_the_revocation_mirror().await;
    check_unavailable(&http, &node, &m2m, &token, "database stopped").await;
    // A cached client still gets tokens: client_credentials does no database work.
    assert_eq!(token_status(&http, &node, &m2m).await, 200);
    cluster.pg_ctl_start();
    wait_recovered(&http, &node, &m2m, &token, "after the restart of the database").await;

    cluster.freeze();
    outage_outlasts_the_revocation_mirror().await;
    check_unavailable(&http, &node, &m2m, &token, "database frozen").await;
    check_unavailable(&http, &node, &m2m, &token, "database still frozen").await;
    cluster.thaw();
    wait_recovered(&http, &node, &m2m, &token, "after the database thawed").await;

    // A node started while the database is down waits for it, says so, and serves once it
    // is back.
    cluster.stop();
    let mut late = LiveServer::spawn(data.clone(), &options(&data));
    let started = Instant::now();
    while !late.log().contains("waiting for the database") {
        assert!(started.elapsed() < Duration::from_secs(20), "no log line about the wait:\n{}", late.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!late.log().contains("tessera is ready"), "not ready without its database:\n{}", late.log());
    cluster.pg_ctl_start();
    late.wait_ready().await;
    wait_recovered(&http, &late, &m2m, &token, "the node started during the outage").await;
    wait_recovered(&http, &node, &m2m, &token, "the first node after the second outage").await;
}

/// A revocation needs the database, so the revoked-token mirror answers for up to
/// `revocations::FRESH_FOR` (3 s) after its last re-read even when the database has just
/// gone; past that it is not trusted and introspection reads the store (and fails fast).
async fn outage_outlasts_the_revocation_mirror() {
    tokio::time::sleep(tessera_server::store::revocations::FRESH_FOR + Duration::from_millis(200)).await;
}

async fn token_status(http: &reqwest::Client, node: &LiveServer, m2m: &M2m) -> u16 {
    token(http, node, m2m).await.0
}
