//! SIGTERM under load (issue 19, defect 7): a live node stops accepting, `/readyz` says not
//! ready, requests in flight finish (a request whose body is still arriving included), and
//! the node exits; no request that was sent gets a broken connection instead of an answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::faults_support::*;
use crate::support::Backend;
use crate::support_live::LiveServer;

#[derive(Debug, Default)]
struct Tally {
    answered: usize,
    /// Answers sent while the node was shutting down (`Connection: close`).
    closing: usize,
    /// /readyz answered 503 with `draining: true` while shutting down.
    not_ready: usize,
    /// Connections refused after the node stopped accepting: nothing was sent.
    refused: usize,
    /// A request that was sent and got no answer.
    broken: Vec<String>,
    /// An answer that is neither a token nor (for /readyz while draining) a 503.
    wrong: Vec<String>,
}

/// Requests back to back on one kept-alive connection (a load balancer's pool) until
/// `stop`: tokens and /readyz in turn, or (`probe`) /readyz only.
async fn load(node_url: String, m2m: M2m, stop: Arc<AtomicBool>, probe: bool) -> Tally {
    let http = http();
    let mut t = Tally::default();
    let mut i = 0u64;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let readyz = probe || i.is_multiple_of(2);
        let req = if readyz {
            http.get(format!("{node_url}/readyz"))
        } else {
            http.post(format!("{node_url}/oauth/token")).form(&[
                ("grant_type", "client_credentials"),
                ("audience", API),
                ("client_id", &m2m.id),
                ("client_secret", &m2m.secret),
            ])
        };
        match req.send().await {
            Ok(r) => {
                let closing = r.headers().get("connection").is_some_and(|v| v == "close");
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                t.answered += 1;
                t.closing += usize::from(closing);
                match (readyz, status) {
                    (false, 200) if body["access_token"].is_string() => {}
                    (true, 200) if !closing => {}
                    (true, 503) if closing && body["draining"] == true => t.not_ready += 1,
                    _ => t.wrong.push(format!("{status} {body} (closing: {closing})")),
                }
            }
            Err(e) if e.is_connect() => {
                t.refused += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => t.broken.push(format!("{e:?}")),
        }
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_answers_every_request_in_flight_then_exits() {
    let mut node = LiveServer::start(Backend::Sqlite).await;
    let m2m = seed_m2m(&node.cli());
    access_token(&http(), &node, &m2m).await;

    // A request whose headers are in, and half its body: in flight when SIGTERM comes.
    let body = format!("grant_type=client_credentials&audience={API}&client_id={}&client_secret={}", m2m.id, m2m.secret);
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body.as_bytes()[..10]).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..6).map(|i| tokio::spawn(load(node.url(""), m2m.clone(), stop.clone(), i == 0))).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    node.signal("-TERM");
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(node.try_wait().is_none(), "the node waits for the request still in flight:\n{}", node.log());
    slow.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.expect("the in-flight request is answered, then the connection closes");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");

    let status = loop {
        if let Some(status) = node.try_wait() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(12), "still running {:?} after SIGTERM", signalled.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "a clean exit: {status}\n{}", node.log());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);

    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.unwrap();
        all.answered += t.answered;
        all.closing += t.closing;
        all.not_ready += t.not_ready;
        all.refused += t.refused;
        all.broken.extend(t.broken);
        all.wrong.extend(t.wrong);
    }
    assert!(all.broken.is_empty(), "requests sent but not answered: {:?}\n{all:?}", all.broken);
    assert!(all.wrong.is_empty(), "{:?}", all.wrong);
    assert!(all.answered > 50 && all.refused > 0, "the load ran through the shutdown: {all:?}");
    assert!(all.closing >= 6, "every kept-alive connection was told to close: {all:?}");
    assert!(all.not_ready >= 1, "/readyz said not ready while draining: {all:?}");
}
