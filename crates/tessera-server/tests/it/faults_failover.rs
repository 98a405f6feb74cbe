//! A highly available PostgreSQL (issue 19): two `tessera serve` nodes on a multi-host URL
//! (`postgres://…@primary,standby/db?target_session_attrs=read-write`) of a pg_auto_failover
//! formation with synchronous replication, under a bounded load of refresh-token rotations
//! and code redemptions. The primary is stopped; the monitor promotes the standby; both nodes
//! find the new primary by themselves and serve again. Then every refresh token answered
//! with 200 (before, during or after) still rotates, exactly once; no refresh token got two
//! successors; no code was redeemed twice; and every 200 has its effect (its refresh token
//! works): synchronous replication put each acknowledged commit on the standby.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::faults_failover_formation::Formation;
use crate::faults_support::*;
use crate::support::TestData;
use crate::support_live::{LiveOptions, LiveServer};

pub(crate) const CALLBACK: &str = "https://app.faults.example/callback";
pub(crate) const PASSWORD: &str = "the right passphrase";
/// Rotating chains running at once, and the code redeemers beside them.
const CHAINS: usize = 4;
/// Load before the failover and after the nodes serve again.
const CALM: Duration = Duration::from_secs(3);
/// A hang guard, not a measure: the failover (3 s of failed health checks, a promotion)
/// and the nodes' search for the new primary.
const RECOVER: Duration = Duration::from_secs(90);

/// The deadlines the nodes run with (seconds): short, so a lost primary is noticed quickly.
const SETTINGS: &str = "[database]\nconnect_timeout = 2\nstatement_timeout = 3\nread_timeout = 4\nstart_timeout = 60\n";

fn options(data: &TestData) -> LiveOptions {
    let file = data.dir.join("tessera.toml");
    std::fs::write(&file, SETTINGS).unwrap();
    node_options().arg("--config").arg(file.to_str().unwrap())
}

#[derive(Clone)]
pub(crate) struct Web {
    pub id: String,
    pub secret: String,
}

async fn post(http: &reqwest::Client, node: &LiveServer, form: &[(&str, &str)]) -> Result<(u16, Value), String> {
    let r = http.post(node.url("/oauth/token")).form(form).send().await.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or_default()))
}

pub(crate) async fn rotate(http: &reqwest::Client, node: &LiveServer, web: &Web, rt: &str) -> Result<(u16, Value), String> {
    post(
        http,
        node,
        &[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &web.id), ("client_secret", &web.secret)],
    )
    .await
}

pub(crate) async fn redeem(http: &reqwest::Client, node: &LiveServer, web: &Web, code: &str) -> Result<(u16, Value), String> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("client_id", &web.id),
        ("client_secret", &web.secret),
    ];
    post(http, node, &form).await
}

/// Logs in on `node` through the hosted login page; the code, or `None` while the node
/// cannot serve (the failover).
pub(crate) async fn login(node: &LiveServer, web: &Web) -> Option<String> {
    let extra = [("scope", "openid offline_access read:x"), ("audience", API)];
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut params = vec![("client_id", web.id.as_str()), ("redirect_uri", CALLBACK), ("response_type", "code")];
    params.extend([("state", "s"), ("nonce", "n")]);
    params.extend(extra);
    let authorize = url::Url::parse_with_params(&node.url("/authorize"), &params).unwrap();
    let r = browser.get(authorize).send().await.ok()?;
    if r.status() != 302 {
        return None;
    }
    let to = url::Url::parse(&crate::support_web::location(&r)).ok()?;
    let page = browser.get(node.url(&format!("{}?{}", to.path(), to.query().unwrap_or("")))).send().await.ok()?;
    if page.status() != 200 {
        return None;
    }
    let html = page.text().await.ok()?;
    let (txn, csrf) = (crate::support_web::field(&html, "txn")?, crate::support_web::field(&html, "csrf")?);
    let form = [("txn", txn.as_str()), ("csrf", csrf.as_str()), ("username", "dave@example.com"), ("password", PASSWORD)];
    let r = browser.post(node.url("/u/login")).form(&form).send().await.ok()?;
    if r.status() != 303 {
        return None;
    }
    crate::support_web::query_of(&crate::support_web::location(&r)).remove("code")
}

/// What the load saw.
#[derive(Default)]
struct Seen {
    /// Every refresh token presented, with the successors it was answered with in a 200.
    successors: HashMap<String, Vec<String>>,
    /// Refresh tokens answered with 200 that the load did not use: each must rotate once.
    unused: Vec<String>,
    /// Codes, with how many redemptions were answered 200.
    codes: HashMap<String, usize>,
    /// Answers other than 200 and `invalid_grant`: (status, error).
    errors: Vec<(u16, String)>,
    /// Chains that ended on `invalid_grant` after a retry (the outcome of an earlier,
    /// unanswered attempt was a commit: the client lost that successor, never a 200).
    ended: usize,
    ok: usize,
}

/// One chain: rotates its refresh token again and again on alternating nodes, retrying the
/// same token after a 503 or a broken connection, as a client would. A retry answered
/// `invalid_grant` means the unanswered attempt had committed (the reuse interval is 0):
/// the chain ends there, and a new one starts from a login.
async fn chain(nodes: Arc<[LiveServer; 2]>, web: Web, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>, n: usize) {
    let http = http();
    let mut turn = n;
    let mut current: Option<String> = None;
    // Whether an attempt with the current token went unanswered (a 503, a broken connection).
    let mut retried = false;
    while !stop.load(Ordering::SeqCst) {
        turn += 1;
        let node = &nodes[turn % 2];
        let Some(rt) = current.clone() else {
            // A new chain: a login and a code redemption.
            let Some(code) = login(node, &web).await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            current = redeem_until_answered(&http, &nodes, &web, &code, &seen, &stop).await;
            retried = false;
            continue;
        };
        match rotate(&http, node, &web, &rt).await {
            Ok((200, body)) => {
                let next = body["refresh_token"].as_str().expect("a successor").to_string();
                let mut s = seen.lock().unwrap();
                s.successors.entry(rt).or_default().push(next.clone());
                s.ok += 1;
                current = Some(next);
                retried = false;
            }
            Ok((400, body)) if body["error"] == "invalid_grant" => {
                assert!(retried, "a refresh token answered with 200 was refused at its first use: {body}");
                seen.lock().unwrap().ended += 1;
                current = None;
            }
            Ok((status, body)) => {
                {
                    let mut s = seen.lock().unwrap();
                    s.errors.push((status, body["error"].as_str().unwrap_or_default().to_string()));
                    s.successors.entry(rt).or_default();
                }
                retried = true;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                seen.lock().unwrap().errors.push((0, e));
                retried = true;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    if let Some(rt) = current {
        seen.lock().unwrap().unused.push(rt);
    }
}

/// Redeems `code`, retrying on 503 or a broken connection; the refresh token of a 200.
async fn redeem_until_answered(
    http: &reqwest::Client,
    nodes: &[LiveServer; 2],
    web: &Web,
    code: &str,
    seen: &Mutex<Seen>,
    stop: &AtomicBool,
) -> Option<String> {
    let mut turn = 0;
    while !stop.load(Ordering::SeqCst) {
        turn += 1;
        match redeem(http, &nodes[turn % 2], web, code).await {
            Ok((200, body)) => {
                *seen.lock().unwrap().codes.entry(code.to_string()).or_default() += 1;
                return Some(body["refresh_token"].as_str().expect("a refresh token").to_string());
            }
            Ok((400, _)) => {
                seen.lock().unwrap().codes.entry(code.to_string()).or_default();
                return None;
            }
            Ok((status, body)) => {
                seen.lock().unwrap().errors.push((status, body["error"].as_str().unwrap_or_default().to_string()));
            }
            Err(e) => seen.lock().unwrap().errors.push((0, e)),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Whether both nodes rotate a fresh chain now (a login, a redemption, a rotation).
async fn both_serve(nodes: &[LiveServer; 2], web: &Web) -> bool {
    let http = http();
    for node in nodes {
        let Some(code) = login(node, web).await else { return false };
        let Ok((200, body)) = redeem(&http, node, web, &code).await else { return false };
        let rt = body["refresh_token"].as_str().unwrap_or_default();
        if !matches!(rotate(&http, node, web, rt).await, Ok((200, _))) {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_of_the_primary_loses_no_rotation_and_redeems_no_code_twice() {
    let Some(formation) = Formation::start() else {
        assert!(
            std::env::var("TESSERA_REQUIRE_PG_SERVER").as_deref() != Ok("1"),
            "TESSERA_REQUIRE_PG_SERVER=1 but pg_autoctl (pg-auto-failover-cli, postgresql-15-auto-failover) or the \
             PostgreSQL server binaries are not installed"
        );
        eprintln!("pg_autoctl (Debian: pg-auto-failover-cli, postgresql-15-auto-failover) not installed; skipping");
        return;
    };
    let mut data = TestData::on_postgres(&formation.admin_url());
    let db = data.pg.as_ref().unwrap().name.clone();
    data.pg.as_mut().unwrap().url = formation.url(&db);
    let data = Arc::new(data);
    let a = LiveServer::start_on(data.clone(), &options(&data)).await;
    let b = LiveServer::start_on(data.clone(), &options(&data)).await;
    let cli = a.cli();
    let (id, secret) = seed_rotating_web(&cli, CALLBACK, "0", PASSWORD);
    let web = Web { id, secret };
    let nodes = Arc::new([a, b]);
    assert!(both_serve(&nodes, &web).await, "before the failover");

    let (seen, stop) = (Arc::new(Mutex::new(Seen::default())), Arc::new(AtomicBool::new(false)));
    let load: Vec<_> =
        (0..CHAINS).map(|n| tokio::spawn(chain(nodes.clone(), web.clone(), seen.clone(), stop.clone(), n))).collect();
    tokio::time::sleep(CALM).await;
    let before = seen.lock().unwrap().ok;
    assert!(before > 0, "the load rotates before the failover");

    formation.stop_node(0);
    let started = Instant::now();
    while !formation.is_primary(1) {
        assert!(started.elapsed() < RECOVER, "the standby was not promoted:\n{}", formation.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let promoted = started.elapsed();
    while !both_serve(&nodes, &web).await {
        assert!(
            started.elapsed() < RECOVER,
            "the nodes do not serve on the new primary:\n{}\n{}",
            nodes[0].log(),
            nodes[1].log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let at_recovery = seen.lock().unwrap().ok;
    tokio::time::sleep(CALM).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.expect("a load task panicked");
    }

    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    assert!(seen.ok > at_recovery, "the load rotates after the failover");
    // What the load saw while the primary was gone: 503 temporarily_unavailable (or a
    // connection the node closed), never another error.
    for (status, error) in &seen.errors {
        assert!(*status == 0 || (*status, error.as_str()) == (503, "temporarily_unavailable"), "{status} {error}");
    }
    // No refresh token got two successors; no code two 200s.
    for (rt, next) in &seen.successors {
        assert!(next.len() <= 1, "{rt} rotated {} times: {next:?}", next.len());
    }
    for (code, ok) in &seen.codes {
        assert!(*ok <= 1, "code {code} redeemed {ok} times");
    }
    // Every 200's effect survived: each token the load had not used yet rotates once, and
    // only once, on either node.
    let http = http();
    for (i, rt) in seen.unused.iter().enumerate() {
        let first = rotate(&http, &nodes[i % 2], &web, rt).await.expect("an answer");
        assert_eq!(first.0, 200, "a token answered with 200 before, during or after the failover: {}", first.1);
        let again = rotate(&http, &nodes[(i + 1) % 2], &web, rt).await.expect("an answer");
        assert_eq!((again.0, again.1["error"].as_str()), (400, Some("invalid_grant")), "{}", again.1);
    }
    // Every code the load redeemed is spent (checked last: a second redemption revokes
    // what the code was exchanged for, RFC 6749 §4.1.2).
    for (i, code) in seen.codes.keys().enumerate() {
        let again = redeem(&http, &nodes[i % 2], &web, code).await.expect("an answer");
        assert_eq!((again.0, again.1["error"].as_str()), (400, Some("invalid_grant")), "{}", again.1);
    }
    // And each token the load did use is spent.
    for (i, rt) in seen.successors.iter().filter(|(_, n)| n.len() == 1).map(|(rt, _)| rt).take(20).enumerate() {
        let again = rotate(&http, &nodes[i % 2], &web, rt).await.expect("an answer");
        assert_eq!((again.0, again.1["error"].as_str()), (400, Some("invalid_grant")), "{}", again.1);
    }
    eprintln!(
        "failover: {} rotations ({before} before the primary stopped, {} by recovery), {} chains ended on a \
         committed but unanswered attempt, {} 503s or broken connections, standby promoted after {promoted:?}, both nodes serving after {:?}",
        seen.ok,
        at_recovery,
        seen.ended,
        seen.errors.len(),
        started.elapsed()
    );
}
