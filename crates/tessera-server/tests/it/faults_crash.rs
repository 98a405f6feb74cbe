//! `kill -9` of a node under a bounded refresh load, then a restart, three times, on SQLite
//! and on PostgreSQL (issue 19, fault test 2). Every refresh token answered with 200 still
//! rotates, exactly once; a token answered with `invalid_grant` never works later; SQLite's
//! `PRAGMA integrity_check` passes on the file the crashes left.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::faults_failover::{login, redeem, rotate, Web, CALLBACK, PASSWORD};
use crate::faults_support::*;
use crate::support::{postgres_admin_url, Backend, TestData};
use crate::support_live::LiveServer;

/// Chains rotating at once.
const CHAINS: usize = 4;
/// Load before each kill.
const LOAD: Duration = Duration::from_millis(1500);
const CRASHES: usize = 3;

/// One chain's state as its client knows it.
#[derive(Debug, Clone, Default)]
struct Chain {
    /// The last refresh token answered with 200 (or from the code).
    current: Option<String>,
    /// Whether a request with `current` went unanswered (the node died under it).
    in_flight: bool,
}

#[derive(Default)]
struct Seen {
    /// Tokens that rotated with a 200: each must be spent.
    spent: Vec<String>,
    /// Tokens answered with `invalid_grant`: none may work later.
    refused: Vec<String>,
    ok: usize,
}

/// Rotates `chain` on `node` until `stop` or the node dies under a request.
async fn run_chain(node: Arc<LiveServer>, web: Web, mut chain: Chain, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>) -> Chain {
    let http = http();
    while !stop.load(Ordering::SeqCst) {
        let Some(rt) = chain.current.clone() else { break };
        match rotate(&http, &node, &web, &rt).await {
            Ok((200, body)) => {
                let mut s = seen.lock().unwrap();
                s.spent.push(rt);
                s.ok += 1;
                chain.current = Some(body["refresh_token"].as_str().expect("a successor").to_string());
            }
            Ok((status, body)) => panic!("a live node answered {status} {body}"),
            Err(_) => {
                // The node was killed with this request in flight: its outcome is unknown.
                chain.in_flight = true;
                break;
            }
        }
    }
    chain
}

/// A new chain: a login and a code redemption on `node`.
async fn new_chain(node: &LiveServer, web: &Web) -> Chain {
    let code = login(node, web).await.expect("a login");
    let (status, body) = redeem(&http(), node, web, &code).await.expect("an answer");
    assert_eq!(status, 200, "{body}");
    Chain { current: Some(body["refresh_token"].as_str().expect("a refresh token").to_string()), in_flight: false }
}

async fn crash_and_restart(backend: Backend) {
    let data = Arc::new(TestData::new(backend));
    let mut node = Arc::new(LiveServer::start_on(data.clone(), &node_options()).await);
    let cli = node.cli();
    let (id, secret) = seed_rotating_web(&cli, CALLBACK, "0", PASSWORD);
    let web = Web { id, secret };
    drop(cli);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut chains = Vec::new();
    for _ in 0..CHAINS {
        chains.push(new_chain(&node, &web).await);
    }
    let http = http();
    for round in 0..CRASHES {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> =
            chains.drain(..).map(|c| tokio::spawn(run_chain(node.clone(), web.clone(), c, seen.clone(), stop.clone()))).collect();
        tokio::time::sleep(LOAD).await;
        node.signal("-KILL");
        for t in tasks {
            chains.push(t.await.expect("a chain panicked"));
        }
        stop.store(true, Ordering::SeqCst);
        if backend == Backend::Sqlite {
            integrity_check(&data);
        }
        let mut old = Arc::try_unwrap(node).ok().expect("the load released the node");
        while old.try_wait().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node = Arc::new(LiveServer::start_on(data.clone(), &node_options()).await);
        // Each chain's token: one answered with 200 rotates now; one whose request the kill
        // cut off rotates or, if that request had committed, is refused (its successor was
        // never answered, so nothing a client holds is lost).
        for chain in &mut chains {
            let rt = chain.current.clone().expect("a token");
            let (status, body) = rotate(&http, &node, &web, &rt).await.expect("an answer");
            match (status, body["error"].as_str()) {
                (200, _) => {
                    let mut s = seen.lock().unwrap();
                    s.spent.push(rt);
                    s.ok += 1;
                    chain.current = Some(body["refresh_token"].as_str().unwrap().to_string());
                }
                (400, Some("invalid_grant")) if chain.in_flight => {
                    seen.lock().unwrap().refused.push(rt);
                    *chain = new_chain(&node, &web).await;
                }
                _ => panic!("round {round}: a token answered with 200 did not rotate: {status} {body}"),
            }
            chain.in_flight = false;
        }
    }
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    assert!(seen.ok > CRASHES * CHAINS, "the load rotated");
    // Refused stays refused; the last tokens rotate exactly once; every spent one is spent.
    for rt in &seen.refused {
        let (status, body) = rotate(&http, &node, &web, rt).await.expect("an answer");
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
    for chain in &chains {
        let rt = chain.current.as_deref().unwrap();
        assert_eq!(rotate(&http, &node, &web, rt).await.expect("an answer").0, 200, "the last token rotates");
        let (status, body) = rotate(&http, &node, &web, rt).await.expect("an answer");
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "and only once: {body}");
    }
    // A sample of the spent ones, spread over the whole run.
    for rt in seen.spent.iter().step_by((seen.spent.len() / 300).max(1)) {
        let (status, body) = rotate(&http, &node, &web, rt).await.expect("an answer");
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a spent token: {body}");
    }
    eprintln!(
        "{}: {} rotations across {CRASHES} kills, {} tokens cut off after their commit",
        backend.name(),
        seen.ok,
        seen.refused.len()
    );
}

/// `PRAGMA integrity_check` on the file a killed node left (its WAL included).
fn integrity_check(data: &TestData) {
    let path = data.dir.join("tessera.db");
    let conn = rusqlite::Connection::open(&path).expect("open the database file");
    let result: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(result, "ok", "{}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_three_times_under_a_refresh_load_on_sqlite() {
    crash_and_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_three_times_under_a_refresh_load_on_postgres() {
    if postgres_admin_url().is_none() {
        return;
    }
    crash_and_restart(Backend::Postgres).await;
}
