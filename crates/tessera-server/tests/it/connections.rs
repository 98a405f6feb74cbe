//! Connections that never finish a request are closed (RFC 9112 §9.8), so idle or slow
//! clients cannot hold the server's sockets.

use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_server::workers::{BODY_TIMEOUT, HEADER_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

/// Reads until the server closes the connection; what it sent, and how long that took.
async fn read_until_closed(conn: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    // Bounded well past the deadlines, so a server that never closes fails the test.
    let read = tokio::time::timeout(HEADER_TIMEOUT + BODY_TIMEOUT + Duration::from_secs(15), conn.read_to_end(&mut got));
    match read.await {
        Ok(_) => {}
        Err(_) => panic!("the server kept the connection open"),
    }
    (String::from_utf8_lossy(&got).into_owned(), started.elapsed())
}

#[tokio::test]
async fn unfinished_headers_a_silent_peer_and_an_idle_keep_alive_are_closed() {
    let app = TestApp::spawn().await;
    let mut partial = TcpStream::connect(app.addr).await.unwrap();
    partial.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (partial, silent, idle) =
        tokio::join!(read_until_closed(&mut partial), read_until_closed(&mut silent), read_until_closed(&mut idle));
    // The kept-alive connection answered its request first, then was closed when idle.
    assert!(idle.0.starts_with("HTTP/1.1 200"), "{}", idle.0);
    for (what, (_, waited)) in [("unfinished headers", &partial), ("silent peer", &silent), ("idle keep-alive", &idle)] {
        assert!(*waited >= HEADER_TIMEOUT - Duration::from_secs(1), "{what}: closed after {waited:?}, before the deadline");
    }
    // Nothing half-parsed is answered as if it were a request.
    assert!(!partial.0.contains("200 OK"), "{}", partial.0);
    app.stop().await;
}

#[tokio::test]
async fn a_stalled_body_fails_the_request_with_a_protocol_error() {
    let app = TestApp::spawn().await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    // Promises 100 bytes, sends 12, then nothing.
    conn.write_all(
        b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=c",
    )
    .await
    .unwrap();
    let (answer, waited) = read_until_closed(&mut conn).await;
    assert!(waited >= BODY_TIMEOUT - Duration::from_secs(1), "answered after {waited:?}, before the deadline");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["error"], "invalid_request");
    app.stop().await;
}
