//! An https server on loopback that serves documents a test puts on it (client ID metadata
//! documents, JWK Sets), with a certificate from its own test CA, and counts the requests
//! for each path: the other end of Tessera's outgoing fetches.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::support::TempDir;
use crate::support_live::TestCa;

/// What one path answers.
#[derive(Debug, Clone)]
pub struct Doc {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Waits this long before answering (a slow server).
    pub delay: Duration,
}

impl Doc {
    /// A 200 JSON answer with `Cache-Control: <cache>`.
    pub fn json(body: &serde_json::Value, cache: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into()), ("cache-control".into(), cache.into())],
            body: body.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }

    /// A redirect to `to`.
    pub fn redirect(to: &str) -> Self {
        Self { status: 302, headers: vec![("location".into(), to.into())], body: vec![], delay: Duration::ZERO }
    }
}

#[derive(Default)]
struct Routes {
    docs: HashMap<String, Doc>,
    hits: HashMap<String, usize>,
}

pub struct DocServer {
    pub addr: SocketAddr,
    pub ca_file: PathBuf,
    routes: Arc<Mutex<Routes>>,
    task: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Drop for DocServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DocServer {
    pub async fn start() -> Self {
        let dir = TempDir::new("docs");
        let ca = TestCa::create(dir.path());
        let tls = tessera_server::tls::Tls::load(&ca.cert_file, &ca.key_file).expect("test certificate");
        let acceptor = tls.acceptor().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<Routes>> = Arc::default();
        let shared = routes.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, routes) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else { return };
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let routes = routes.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let doc = {
                                let mut r = routes.lock().unwrap();
                                *r.hits.entry(path.clone()).or_default() += 1;
                                r.docs.get(&path).cloned()
                            };
                            let doc = doc.unwrap_or(Doc { status: 404, headers: vec![], body: vec![], delay: Duration::ZERO });
                            tokio::time::sleep(doc.delay).await;
                            let mut resp = hyper::Response::builder().status(doc.status);
                            for (k, v) in &doc.headers {
                                resp = resp.header(k, v);
                            }
                            Ok::<_, std::convert::Infallible>(resp.body(Body::from(doc.body)).unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { addr, ca_file: ca.ca_file.clone(), routes, task, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub fn put(&self, path: &str, doc: Doc) {
        self.routes.lock().unwrap().docs.insert(path.to_string(), doc);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.routes.lock().unwrap().hits.get(path).copied().unwrap_or(0)
    }
}
