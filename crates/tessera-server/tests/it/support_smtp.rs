//! A local SMTP sink for the email tests: a small tokio SMTP server (RFC 5321: EHLO, AUTH
//! PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) on a loopback port that records every message
//! it accepts. [`SmtpSink::stop`] closes the port (the relay is "down": connections are
//! refused) and [`SmtpSink::start_again`] reopens the same port, so a test can prove the
//! outbox retries until the relay is back. [`SmtpSink::start_tls`] also offers STARTTLS
//! (RFC 3207) with a certificate of the test CA, and records which messages came over TLS.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section as sent (headers and MIME body).
    pub raw: String,
    /// `(user, password)` of the session's AUTH PLAIN, if any.
    pub auth: Option<(String, String)>,
    /// Whether the message came after a STARTTLS upgrade.
    pub tls: bool,
}

impl Received {
    /// The decoded text of every MIME part (quoted-printable and base64 undone), joined:
    /// what a person reading the message sees.
    pub fn text(&self) -> String {
        decode_parts(&self.raw)
    }

    pub fn subject(&self) -> String {
        self.raw.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_string()
    }

    /// The first `http(s)://...` link in the text that contains `needle`.
    pub fn link_containing(&self, needle: &str) -> Option<String> {
        let text = self.text();
        text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
            .find(|w| (w.starts_with("http://") || w.starts_with("https://")) && w.contains(needle))
            .map(|w| w.replace("&amp;", "&"))
    }

    /// The first run of exactly six digits in the text (a one-time code).
    pub fn six_digits(&self) -> Option<String> {
        let text = self.text();
        let b = text.as_bytes();
        (0..b.len().saturating_sub(5)).find_map(|i| {
            let run = &b[i..i + 6];
            let before = i == 0 || !b[i - 1].is_ascii_digit();
            let after = i + 6 == b.len() || !b[i + 6].is_ascii_digit();
            (run.iter().all(u8::is_ascii_digit) && before && after).then(|| String::from_utf8_lossy(run).into_owned())
        })
    }
}

pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
    task: Option<JoinHandle<()>>,
    starttls: Option<tokio_rustls::TlsAcceptor>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A sink that offers STARTTLS with the certificate and key of `ca` (a test CA's server
    /// pair for 127.0.0.1).
    pub async fn start_tls(ca: &crate::support_live::TestCa) -> Self {
        let tls = tessera_server::tls::Tls::load(&ca.cert_file, &ca.key_file).expect("sink TLS");
        Self::start_with(Some(tls.acceptor().clone())).await
    }

    async fn start_with(starttls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink");
        let port = listener.local_addr().expect("sink address").port();
        let mut sink = Self { port, messages: Arc::default(), task: None, starttls };
        sink.serve(listener);
        sink
    }

    fn serve(&mut self, listener: TcpListener) {
        let messages = self.messages.clone();
        let starttls = self.starttls.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (messages, starttls) = (messages.clone(), starttls.clone());
                tokio::spawn(async move {
                    let _ = session(conn, messages, starttls).await;
                });
            }
        }));
    }

    /// The relay goes down: the port is closed, new connections are refused.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// The relay comes back on the same port.
    pub async fn start_again(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot rebind the SMTP sink on port {}: {e}", self.port);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener);
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().expect("sink lock").clone()
    }

    /// Waits (bounded) for a message to `to` whose text contains `needle`.
    pub async fn wait_for(&self, to: &str, needle: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(m) = self.messages().into_iter().rev().find(|m| m.to.iter().any(|t| t == to) && m.text().contains(needle))
            {
                return m;
            }
            assert!(Instant::now() < deadline, "no email to {to} containing {needle:?} within 60 s; got {:#?}", self.messages());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many messages went to `to` so far.
    pub fn count_to(&self, to: &str) -> usize {
        self.messages().iter().filter(|m| m.to.iter().any(|t| t == to)).count()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.rfind('>').unwrap_or(arg.len());
    arg[start..end].to_string()
}

async fn session(
    mut conn: TcpStream,
    messages: Arc<Mutex<Vec<Received>>>,
    starttls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    conn.write_all(b"220 sink.test ESMTP test sink\r\n").await?;
    let mut plain = BufReader::new(conn);
    let upgrade = commands(&mut plain, &messages, starttls.is_some(), false).await?;
    if let (true, Some(acceptor)) = (upgrade, starttls) {
        // RFC 3207 §4.2: the session starts afresh over TLS (the client says EHLO again).
        let tls = acceptor.accept(plain.into_inner()).await?;
        commands(&mut BufReader::new(tls), &messages, false, true).await?;
    }
    Ok(())
}

/// Serves SMTP commands until QUIT or EOF (`false`), or until the client asked for
/// STARTTLS (`true`), which the caller then performs.
async fn commands<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    messages: &Mutex<Vec<Received>>,
    offer_starttls: bool,
    over_tls: bool,
) -> std::io::Result<bool> {
    let (mut from, mut to, mut auth) = (String::new(), Vec::new(), None);
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await? == 0 {
            return Ok(false);
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            if offer_starttls {
                b"250-sink.test\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
            } else {
                b"250-sink.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
            }
        } else if upper == "STARTTLS" && offer_starttls {
            io.get_mut().write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
            io.get_mut().flush().await?;
            return Ok(true);
        } else if let Some(b64) = upper.strip_prefix("AUTH PLAIN ").map(|_| &cmd[11..]) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(b64.trim()).unwrap_or_default();
            let parts: Vec<String> = decoded.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
            if parts.len() == 3 {
                auth = Some((parts[1].clone(), parts[2].clone()));
            }
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&cmd[10..]);
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&cmd[8..]));
            b"250 OK\r\n"
        } else if upper == "DATA" {
            io.get_mut().write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            io.get_mut().flush().await?;
            let mut raw = String::new();
            loop {
                line.clear();
                if io.read_line(&mut line).await? == 0 {
                    return Ok(false);
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
                raw.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
            }
            let received = Received { from: from.clone(), to: to.clone(), raw, auth: auth.clone(), tls: over_tls };
            messages.lock().expect("sink lock").push(received);
            b"250 OK queued\r\n"
        } else if upper == "QUIT" {
            io.get_mut().write_all(b"221 Bye\r\n").await?;
            return Ok(false);
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 OK\r\n"
        } else {
            b"502 Command not implemented\r\n"
        };
        io.get_mut().write_all(reply).await?;
        io.get_mut().flush().await?;
    }
}

/// Decodes each MIME leaf part of `raw` by its Content-Transfer-Encoding.
fn decode_parts(raw: &str) -> String {
    let mut out = String::new();
    let (mut in_headers, mut encoding, mut body) = (true, String::new(), String::new());
    let flush = |encoding: &str, body: &mut String, out: &mut String| {
        match encoding {
            "base64" => {
                let joined: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD.decode(joined).unwrap_or_default();
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
            "quoted-printable" => out.push_str(&decode_qp(body)),
            _ => out.push_str(body),
        }
        out.push('\n');
        body.clear();
    };
    for line in raw.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.starts_with("--") {
            flush(&encoding, &mut body, &mut out);
            in_headers = true;
            encoding.clear();
            continue;
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
            } else if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-transfer-encoding:") {
                encoding = v.trim().to_string();
            }
            continue;
        }
        body.push_str(line);
        body.push('\n');
    }
    flush(&encoding, &mut body, &mut out);
    out
}

fn decode_qp(s: &str) -> String {
    let mut bytes = Vec::new();
    let mut lines = s.split('\n').peekable();
    while let Some(line) = lines.next() {
        let (text, soft) = match line.strip_suffix('=') {
            Some(t) => (t, true),
            None => (line, false),
        };
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 3 <= b.len() {
                if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16) {
                    bytes.push(v);
                    i += 3;
                    continue;
                }
            }
            bytes.push(b[i]);
            i += 1;
        }
        if !soft && lines.peek().is_some() {
            bytes.push(b'\n');
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
