//! One HTTP/1.1 keep-alive connection to the server under test.
//!
//! Built on `hyper::client::conn::http1` rather than a pooled client so that a benchmark
//! connection is exactly one TCP connection, reused for every request it sends (a pool
//! would open extra connections under load and blur "connections" in the report). When
//! the server closes the connection, the next request reconnects.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A response read in full (the body must be drained anyway for keep-alive).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON body, or a one-line reason (status and the start of the body).
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|_| self.describe())
    }

    /// `HTTP 400: {"error":...}` with the body cut short, for error reports.
    pub fn describe(&self) -> String {
        let text = self.text();
        let short: String = text.chars().take(200).collect();
        format!("HTTP {}: {}", self.status, short.trim())
    }
}

/// What a request carries besides method and path.
#[derive(Debug, Clone, Default)]
pub struct Extra<'a> {
    pub cookie: Option<&'a str>,
    pub authorization: Option<&'a str>,
}

/// A request body and the media type it is sent as.
pub enum Body {
    Form(Bytes),
    Json(Bytes),
}

pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// Connects now, so that connection set-up is outside any timed section.
    pub async fn open(addr: SocketAddr) -> Result<Self, String> {
        let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?;
        let mut conn = Self { addr, host, sender: None };
        conn.connect().await?;
        Ok(conn)
    }

    async fn connect(&mut self) -> Result<(), String> {
        let stream = TcpStream::connect(self.addr).await.map_err(|e| format!("connect {}: {e}", self.addr))?;
        // Requests are small and latency is what we measure: no Nagle delay.
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or the sender is dropped.
            let _ = connection.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one request and reads the whole response. A transport failure drops the
    /// connection; the next call reconnects.
    pub async fn send(&mut self, method: Method, path: &str, extra: &Extra<'_>, body: Option<Body>) -> Result<Resp, String> {
        let mut builder = Request::builder().method(method).uri(path).header(HOST, self.host.clone());
        if let Some(c) = extra.cookie {
            builder = builder.header("cookie", c);
        }
        if let Some(a) = extra.authorization {
            builder = builder.header("authorization", a);
        }
        let body = match body {
            Some(Body::Form(b)) => {
                builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                b
            }
            Some(Body::Json(b)) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                b
            }
            None => Bytes::new(),
        };
        let req = builder.body(Full::new(body)).map_err(|e| format!("request: {e}"))?;
        let result = self.round_trip(req).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn round_trip(&mut self, req: Request<Full<Bytes>>) -> Result<Resp, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.connect().await?;
        }
        let sender = self.sender.as_mut().ok_or("not connected")?;
        sender.ready().await.map_err(|e| format!("connection: {e}"))?;
        let resp = sender.send_request(req).await.map_err(|e| format!("request failed: {e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| format!("reading body: {e}"))?.to_bytes();
        Ok(Resp { status: parts.status.as_u16(), headers: parts.headers, body })
    }

    pub async fn get(&mut self, path: &str, extra: &Extra<'_>) -> Result<Resp, String> {
        self.send(Method::GET, path, extra, None).await
    }

    pub async fn post_form(&mut self, path: &str, extra: &Extra<'_>, body: Bytes) -> Result<Resp, String> {
        self.send(Method::POST, path, extra, Some(Body::Form(body))).await
    }

    pub async fn post_json(&mut self, path: &str, extra: &Extra<'_>, body: Bytes) -> Result<Resp, String> {
        self.send(Method::POST, path, extra, Some(Body::Json(body))).await
    }
}

/// `application/x-www-form-urlencoded` from pairs.
pub fn form(pairs: &[(&str, &str)]) -> Bytes {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Bytes::from(s.finish())
}
