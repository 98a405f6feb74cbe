//! Native TLS for `serve` (RFC 8446 via rustls): Auth0's SDKs always build
//! `https://{domain}`, and a single-binary deployment should not need a proxy for that.
//!
//! The certificate chain and key are PEM files. They are read and checked at start (a
//! missing, unreadable or mismatched pair stops the start), then watched: when either
//! file's modification time or size changes, the pair is read again and new handshakes use
//! it; connections already open keep theirs. A pair that fails to load (a renewal tool
//! caught half-way through writing) is logged and the previous one stays in use, so a
//! reload can never take the listener down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are checked for a change.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// The certificate in use, swapped whole on reload.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
    }
}

/// A listener's TLS: the acceptor for new connections and the files it watches.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    resolver: Arc<Resolver>,
    cert: PathBuf,
    key: PathBuf,
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// Reads a PEM chain and key and checks that the key belongs to the leaf certificate.
fn load_pair(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("TLS certificate {} is not valid PEM: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("TLS certificate {} holds no certificate", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read TLS key {}: {e}", key.display()))?;
    let signing = aws_lc_rs::sign::any_supported_type(&der)
        .map_err(|e| format!("TLS key {} is not a supported private key: {e}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("TLS key {} does not match certificate {}: {e}", key.display(), cert.display()))?;
    Ok(Arc::new(certified))
}

impl Tls {
    /// Loads the pair (fail closed) and builds the acceptor: TLS 1.2 and 1.3, ALPN
    /// `http/1.1` (the server speaks HTTP/1.1 only).
    pub fn load(cert: &Path, key: &Path) -> Result<Self, String> {
        let resolver = Arc::new(Resolver { current: RwLock::new(load_pair(cert, key)?) });
        let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { acceptor: TlsAcceptor::from(Arc::new(config)), resolver, cert: cert.into(), key: key.into() })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Re-reads the pair now; on failure the previous one stays in use.
    pub fn reload(&self) -> Result<(), String> {
        let pair = load_pair(&self.cert, &self.key)?;
        match self.resolver.current.write() {
            Ok(mut g) => *g = pair,
            Err(poisoned) => *poisoned.into_inner() = pair,
        }
        Ok(())
    }

    /// Watches the files until the returned task is aborted, reloading on a change.
    pub fn spawn_watcher(&self) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut seen = (stamp(&tls.cert), stamp(&tls.key));
            let mut tick = tokio::time::interval(RELOAD_CHECK);
            loop {
                tick.tick().await;
                let now = (stamp(&tls.cert), stamp(&tls.key));
                if now == seen {
                    continue;
                }
                match tls.reload() {
                    Ok(()) => {
                        seen = now;
                        tracing::info!(cert = %tls.cert.display(), "TLS certificate changed; reloaded");
                    }
                    // Not marked as seen: the next check tries again, so a pair that was
                    // caught half-written is picked up once complete.
                    Err(e) => tracing::error!(error = %e, "cannot reload the TLS certificate; keeping the previous one"),
                }
            }
        })
    }
}
