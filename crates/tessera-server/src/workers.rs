//! HTTP workers: one single-threaded runtime per core, each serving the connections the
//! acceptor hands it in turn, and the deadlines every connection is held to.
//!
//! A work-stealing runtime moves a connection's tasks between cores: with two cores and a
//! busy server, about every third request woke the idle worker (measured: 0.30 futex calls
//! and 0.26 context switches per request; in a virtual machine each wake-up is also an
//! inter-processor interrupt) to steal work the busy one would have reached microseconds
//! later. Here a connection lives on one thread for its whole life,
//! and a thread sleeps only when none of its connections has anything to do. The acceptor
//! deals connections round-robin, so each core gets an equal share of them.
//!
//! A client that opens a connection and then sends nothing, sends its headers a byte at a
//! time, stops halfway through a body, or keeps an idle connection forever would otherwise
//! hold a socket, and with enough of them every file descriptor (RFC 9112 §9.8 lets a
//! server close such connections). Headers, including the wait for the next request on a
//! kept-alive connection, must arrive within [`HEADER_TIMEOUT`]; a body within
//! [`BODY_TIMEOUT`] of the moment the server starts waiting for it. With TLS on
//! ([`crate::tls`]), the handshake runs on the worker too and must finish within
//! [`HEADER_TIMEOUT`].

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION};
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to send a request's headers, or to start the next request
/// on a kept-alive connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long after the server first waits for a request body the whole body must be in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(20);

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is an HTTP worker (whose runtime drives only its own I/O).
pub fn on_worker_thread() -> bool {
    ON_WORKER.with(Cell::get)
}

type Handoff = mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr, Slot)>;

/// File descriptors kept free of client connections: the database pools, the SQLite files,
/// the log, TLS files being reloaded.
const FD_RESERVE: u64 = 256;

/// How the acceptor and workers are bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long requests in flight may take to finish once shutdown starts.
    pub grace: Duration,
    /// Most client connections open at once (`server.max_connections`); further ones are
    /// closed at once, so connections already open keep being served.
    pub max_connections: usize,
}

/// One open client connection, counted until dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (systemd and many shells start
/// processes with a soft limit of 1024, which a few hundred idle clients exhaust) and
/// returns the soft limit in force.
pub fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the struct passed, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    Some(lim.rlim_cur)
}

/// Once shutdown starts, the workers wait until no request has started on them for this
/// long before they close the connections left (idle kept-alive ones): a connection in
/// use gets its next answer with `Connection: close` instead of being cut while its
/// client is sending.
const QUIET: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` (over TLS when `tls` is given) with one worker per core
/// until `shutdown` resolves, then stops accepting and lets every worker finish its
/// in-flight requests, for at most `grace`.
///
/// A rolling restart behind a load balancer must not turn into client errors: connections
/// the kernel had already accepted are taken and served, every answer from then on says
/// `Connection: close`, requests in flight finish, and only connections that stay idle
/// are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) -> io::Result<()> {
    let grace = limits.grace;
    let fd_limit = raise_fd_limit();
    let cap = match fd_limit {
        Some(n) => limits.max_connections.min(n.saturating_sub(FD_RESERVE).max(1) as usize),
        None => limits.max_connections,
    };
    tracing::info!(max_connections = cap, open_files_limit = fd_limit, "connection limits");
    let open = Arc::new(AtomicUsize::new(0));
    let mut refused_logged: Option<std::time::Instant> = None;
    let count = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Dropped (this future cancelled) or set: either way the workers shut down gracefully.
    let (stop, stopped) = watch::channel(false);
    let mut workers: Vec<(Handoff, oneshot::Receiver<()>)> = Vec::with_capacity(count);
    for i in 0..count {
        let (handoff, incoming) = mpsc::unbounded_channel();
        let (done, finished) = oneshot::channel();
        let (router, stopped, tls) = (router.clone(), stopped.clone(), tls.clone());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name(format!("tessera-http-{i}")).spawn(move || {
            ON_WORKER.with(|w| w.set(true));
            runtime.block_on(async move {
                worker(incoming, router, tls, stopped, grace).await;
                crate::store::postgres::close_worker_pools().await;
            });
            let _ = done.send(());
        })?;
        workers.push((handoff, finished));
    }
    tokio::pin!(shutdown);
    let mut next = 0;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted.and_then(|(stream, peer)| Ok((stream.into_std()?, peer))) {
            // At the cap: this one is closed at once (its client can go elsewhere), so the
            // connections already open keep their file descriptors and their service.
            Ok(_) if open.load(Ordering::Relaxed) >= cap => {
                if refused_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(max_connections = cap, "connection limit reached; closing new connections");
                    refused_logged = Some(std::time::Instant::now());
                }
            }
            Ok((stream, peer)) => {
                open.fetch_add(1, Ordering::Relaxed);
                let _ = workers[next].0.send((stream, peer, Slot(open.clone())));
                next = (next + 1) % count;
            }
            // The peer gave up before we took the connection: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors or the like: the connection waits in the backlog; try
            // again shortly (a second per failure stalled every new client for seconds),
            // without spinning.
            Err(e) => {
                if refused_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::error!(error = %e, "accept failed; retrying");
                    refused_logged = Some(std::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    // Connections that completed their handshake before we stopped are in the listen
    // backlog; closing the listener would reset them although their requests were sent.
    let listener = listener.into_std()?;
    while let Ok((stream, peer)) = listener.accept() {
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let _ = workers[next].0.send((stream, peer, Slot(open.clone())));
        next = (next + 1) % count;
    }
    drop(listener);
    let _ = stop.send(true);
    let mut result = Ok(());
    for (handoff, finished) in workers {
        drop(handoff);
        if finished.await.is_err() {
            result = Err(io::Error::other("an HTTP worker thread panicked"));
        }
    }
    result
}

/// One worker: serves each connection handed to it until told to stop, then lets the
/// connections finish what they are doing (idle ones close at once).
async fn worker(
    mut incoming: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr, Slot)>,
    router: Router,
    tls: Option<TlsAcceptor>,
    mut stopped: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    let graceful = GracefulShutdown::new();
    // When the last request started on this worker, in milliseconds since `epoch`.
    let epoch = std::time::Instant::now();
    let last_request = Arc::new(AtomicU64::new(0));
    let mut stopping = false;
    loop {
        let next = if stopping {
            // Everything the acceptor handed over before it stopped is served too.
            incoming.try_recv().ok()
        } else {
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => {
                    stopping = true;
                    continue;
                }
                next = incoming.recv() => next,
            }
        };
        let Some((stream, peer, slot)) = next else { break };
        // Registered with this worker's runtime, so its I/O is driven on this thread.
        let stream = match TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take over an accepted connection");
                continue;
            }
        };
        let (router, draining, last_request) = (router.clone(), stopped.clone(), last_request.clone());
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            last_request.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(peer));
            let req = req.map(|body| Deadline { body, timer: None });
            let mut router = router.clone();
            let draining = draining.clone();
            async move {
                let mut resp = tower_service::Service::call(&mut router, req).await?;
                // Shutting down: this connection ends after this answer (RFC 9112 §9.6), so
                // its client opens its next request elsewhere instead of on a closing socket.
                if *draining.borrow() {
                    resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let Some(tls) = &tls else {
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                // A peer that went away or timed out: nothing anyone can act on.
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                drop(slot);
            });
            continue;
        };
        let (tls, http, watcher) = (tls.clone(), http.clone(), graceful.watcher());
        tokio::spawn(async move {
            // A handshake is held to the same deadline as a request's headers, so a peer
            // that opens a connection and sends half a ClientHello is closed too.
            let stream = match tokio::time::timeout(HEADER_TIMEOUT, tls.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            if let Err(e) = watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    // Connections in use get their next answer with `Connection: close` and end by
    // themselves; once no request has started for QUIET (or the grace period is over), the
    // rest are idle: close them, letting any request in flight finish within the grace.
    let deadline = tokio::time::Instant::now() + grace;
    last_request.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    while graceful.count() > 0 && tokio::time::Instant::now() < deadline {
        let quiet_for = epoch.elapsed().saturating_sub(Duration::from_millis(last_request.load(Ordering::Relaxed)));
        if quiet_for >= QUIET {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if tokio::time::timeout_at(deadline, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace_s = grace.as_secs(), "requests still in flight at the end of the shutdown grace period");
    }
}

/// A request body that fails when it has not fully arrived [`BODY_TIMEOUT`] after the
/// server first had to wait for it. A body that came with its headers costs no timer.
struct Deadline {
    body: Incoming,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(BODY_TIMEOUT)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err("the request body stalled".into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset)
}
