//! Bounded tables under a steady load (issue 19): a node whose background purge runs every
//! second keeps the protocol tables at what the last few seconds created, while chains of
//! logins, code redemptions and refresh rotations run; once the load stops the tables drain
//! to empty; `/metrics` counts every purged row. On SQLite and on PostgreSQL, where a second
//! node shares the database and the lease keeps the two from both doing each pass.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_server::store::db::query;
use tessera_server::store::SqlStore;

use crate::faults_failover::{login, redeem, rotate, Web, CALLBACK, PASSWORD};
use crate::faults_support::*;
use crate::support::{backends, Backend, TestData};
use crate::support_live::LiveServer;

const CHAINS: usize = 3;
const LOAD: Duration = Duration::from_secs(12);
/// Access tokens and codes live 2 s; a refresh token idles out after 2 s, and its family
/// ends 3 s after the login.
const LIFETIME: i64 = 2;
/// The longest a row may outlive its creation: its lifetime, the whole second the purge's
/// cut-off is rounded to, one interval until the next pass, and two seconds for a busy
/// machine.
const WINDOW: Duration = Duration::from_secs(LIFETIME as u64 + 1 + 1 + 2);
const TABLES: [&str; 4] = ["authorization_codes", "access_tokens", "refresh_families", "refresh_tokens"];

fn options() -> crate::support_live::LiveOptions {
    node_options()
        .env("TESSERA_PURGE_INTERVAL", "1")
        .env("TESSERA_PURGE_GRACE", "0")
        .env("TESSERA_CODE_LIFETIME", &LIFETIME.to_string())
}

/// When each row the load created was answered (rows per table).
#[derive(Default)]
struct Created {
    at: Vec<(Instant, [u64; 4])>,
}

impl Created {
    fn since(&self, from: Instant) -> [u64; 4] {
        let mut n = [0; 4];
        for (t, rows) in &self.at {
            if *t > from {
                for i in 0..4 {
                    n[i] += rows[i];
                }
            }
        }
        n
    }
}

/// A redemption creates a code (already there), a family, a refresh token and an access
/// token; a rotation a refresh token and an access token.
const REDEEMED: [u64; 4] = [1, 1, 1, 1];
const ROTATED: [u64; 4] = [0, 1, 0, 1];

async fn chain(node: Arc<LiveServer>, web: Web, until: Instant, created: Arc<Mutex<Created>>) {
    let http = http();
    while Instant::now() < until {
        let code = login(&node, &web).await.expect("a login");
        let (status, body) = redeem(&http, &node, &web, &code).await.expect("an answer");
        assert_eq!(status, 200, "{body}");
        created.lock().unwrap().at.push((Instant::now(), REDEEMED));
        let mut rt = body["refresh_token"].as_str().expect("a refresh token").to_string();
        // Rotates until the family's absolute lifetime ends it.
        while Instant::now() < until {
            let (status, body) = rotate(&http, &node, &web, &rt).await.expect("an answer");
            if status != 200 {
                assert_eq!(body["error"], "invalid_grant", "{status} {body}");
                break;
            }
            created.lock().unwrap().at.push((Instant::now(), ROTATED));
            rt = body["refresh_token"].as_str().unwrap().to_string();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn counts(sql: &SqlStore) -> [u64; 4] {
    let mut n = [0; 4];
    for (i, table) in TABLES.iter().enumerate() {
        let row = sql.db().fetch_optional(query(format!("SELECT COUNT(*) FROM {table}"))).await.unwrap().unwrap();
        n[i] = row.at::<i64>(0).unwrap() as u64;
    }
    n
}

/// A metric's value in a Prometheus text page (0 when absent).
fn metric(page: &str, name: &str) -> u64 {
    page.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

async fn metrics(node: &LiveServer) -> String {
    http().get(node.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

async fn steady_load(backend: Backend) {
    let data = Arc::new(TestData::new(backend));
    let node = Arc::new(LiveServer::start_on(data.clone(), &options()).await);
    let cli = node.cli();
    let (id, secret) = seed_rotating_web(&cli, CALLBACK, "0", PASSWORD);
    cli.run(&["apis", "update", API, "--token-lifetime", &LIFETIME.to_string(), "--json"]).ok();
    cli.run(&[
        "clients",
        "update",
        &id,
        "--refresh-token-lifetime",
        &(LIFETIME + 1).to_string(),
        "--refresh-idle-lifetime",
        &LIFETIME.to_string(),
        "--json",
    ])
    .ok();
    drop(cli);
    // On PostgreSQL a second node shares the database (and would purge it too).
    let peer = match backend {
        Backend::Postgres => Some(LiveServer::start_on(data.clone(), &options()).await),
        Backend::Sqlite => None,
    };
    let sql = tessera_server::store::connect(&data.database_url()).await.expect("a second connection");

    let web = Web { id, secret };
    let created = Arc::new(Mutex::new(Created::default()));
    let started = Instant::now();
    let until = started + LOAD;
    let load: Vec<_> = (0..CHAINS).map(|_| tokio::spawn(chain(node.clone(), web.clone(), until, created.clone()))).collect();
    // Sampled every second once the load has run a window: each table holds at most what
    // the last window created (and what requests in flight are creating).
    let mut samples = 0;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = Instant::now();
        if now < started + WINDOW {
            continue;
        }
        let present = counts(&sql).await;
        let recent = created.lock().unwrap().since(now - WINDOW);
        for i in 0..4 {
            assert!(
                present[i] <= recent[i] + CHAINS as u64,
                "[{backend}] {} holds {} rows after {:?}; the last {WINDOW:?} created {}",
                TABLES[i],
                present[i],
                now - started,
                recent[i]
            );
        }
        samples += 1;
    }
    for t in load {
        t.await.expect("a chain panicked");
    }
    assert!(samples >= 4, "[{backend}] the load was sampled {samples} times");
    let total = created.lock().unwrap().since(started - Duration::from_secs(1));
    assert!(total[3] > 30, "[{backend}] the load rotated: {total:?}");

    // With the load stopped, every table drains to empty.
    let drained_by = Instant::now() + WINDOW + Duration::from_secs(4);
    let mut present = counts(&sql).await;
    while present != [0; 4] && Instant::now() < drained_by {
        tokio::time::sleep(Duration::from_millis(250)).await;
        present = counts(&sql).await;
    }
    assert_eq!(present, [0; 4], "[{backend}] {TABLES:?} once the load stopped");

    // Every row is counted once in `/metrics`, whichever node purged it, and the lease let
    // no more than one pass per second happen in all (two nodes without it: two a second).
    let mut pages = vec![metrics(&node).await];
    if let Some(peer) = &peer {
        pages.push(metrics(peer).await);
    }
    for (i, table) in TABLES.iter().enumerate() {
        let purged: u64 = pages.iter().map(|p| metric(p, &format!("tessera_purged_rows_total{{table=\"{table}\"}}"))).sum();
        assert_eq!(purged, total[i], "[{backend}] {table}: purged rows against created rows");
    }
    let passes: Vec<u64> = pages.iter().map(|p| metric(p, "tessera_purge_passes_total")).collect();
    let elapsed = started.elapsed().as_secs() + 5;
    assert!(passes.iter().sum::<u64>() <= elapsed + 1, "[{backend}] {passes:?} passes in about {elapsed} s");
    sql.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_protocol_tables_stay_bounded_under_a_steady_load_and_drain_after_it() {
    for backend in backends() {
        steady_load(backend).await;
    }
}
