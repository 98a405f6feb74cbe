//! Many idle connections (issue 19, defect 4 and fault test 6): a node started with the soft
//! open-files limit systemd gives (1024) raises it, so 2,000 idle connections do not stop a
//! well-behaved client from being served at once; with `server.max_connections` reached,
//! further connections are closed at once and those already open keep being served.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::faults_support::*;
use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};

/// Raises this test process's own soft limit, so it can hold the idle connections.
fn raise_own_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain calls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// The two tests here hold hundreds to thousands of sockets each in this one test process; run
/// side by side they could exhaust its open-files limit, and a connection the test needs would
/// fail with EMFILE. They take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Opens up to `n` connections that send nothing (bounded: 5 s in all).
async fn idle_connections(node: &LiveServer, n: usize) -> Vec<TcpStream> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let port = node.port;
        set.spawn(async move { tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(("127.0.0.1", port))).await });
    }
    set.join_all().await.into_iter().filter_map(|r| r.ok().and_then(Result::ok)).collect()
}

/// A fresh client's token request: answered 200 within a second.
async fn served_promptly(node: &LiveServer, m2m: &M2m, what: &str) {
    for _ in 0..5 {
        let started = Instant::now();
        let (status, body) = token(&http(), node, m2m).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert!(started.elapsed() < Duration::from_secs(1), "{what}: answered after {:?}", started.elapsed());
    }
}

/// A connection over the cap is closed within two seconds: the kernel completes the handshake
/// and the server closes it (EOF or a reset), or, on a loaded machine whose accept queue is
/// momentarily full, the kernel refuses it. Any other connect error (this process out of
/// file descriptors, say) is the test's own trouble: retried, then reported.
async fn over_the_cap_is_closed_at_once(node: &LiveServer) {
    use std::io::ErrorKind::{ConnectionRefused, ConnectionReset};
    let mut errors = Vec::new();
    for _ in 0..3 {
        match TcpStream::connect(("127.0.0.1", node.port)).await {
            Ok(mut extra) => {
                let mut buf = [0u8; 16];
                let read = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf)).await;
                assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a connection over the cap is closed: {read:?}");
                return;
            }
            Err(e) if matches!(e.kind(), ConnectionRefused | ConnectionReset) => return,
            Err(e) => errors.push(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("cannot open a connection to test the cap with: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_idle_connections_on_a_1024_file_limit_do_not_stall_new_clients() {
    let _turn = ONE_AT_A_TIME.lock().await;
    raise_own_limit();
    let options = LiveOptions { nofile_soft: Some(1024), ..Default::default() };
    let node = LiveServer::start_with(Backend::Sqlite, &options).await;
    let m2m = seed_m2m(&node.cli());
    let idle = idle_connections(&node, 2000).await;
    assert!(idle.len() > 1500, "only {} idle connections opened", idle.len());
    tokio::time::sleep(Duration::from_millis(300)).await;
    served_promptly(&node, &m2m, "with 2000 idle connections").await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_the_connection_cap_new_connections_are_closed_and_open_ones_still_served() {
    let _turn = ONE_AT_A_TIME.lock().await;
    raise_own_limit();
    let node = LiveServer::start_with(Backend::Sqlite, &LiveOptions::default().env("TESSERA_MAX_CONNECTIONS", "100")).await;
    let m2m = seed_m2m(&node.cli());
    // A load balancer's kept-alive connection, open before the flood.
    let kept = http();
    assert_eq!(token(&kept, &node, &m2m).await.0, 200);
    let idle = idle_connections(&node, 150).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        assert_eq!(token(&kept, &node, &m2m).await.0, 200, "an open connection keeps being served");
    }
    // Over the cap: closed at once, not left hanging.
    over_the_cap_is_closed_at_once(&node).await;
    assert!(node.log().contains("connection limit reached"), "{}", node.log());
    drop(idle);
    tokio::time::sleep(Duration::from_millis(300)).await;
    served_promptly(&node, &m2m, "once the idle connections are gone").await;
}
