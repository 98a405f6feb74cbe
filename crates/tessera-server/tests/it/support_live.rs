//! A real `tessera serve` process for tests that must see the product as a user runs it:
//! Auth0's SDKs, browsers, several nodes, faults. Each [`LiveServer`] has its own data
//! directory (and PostgreSQL database), listens on a free loopback port, optionally over
//! TLS with a certificate from a per-test CA, and is killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{tessera_command, Backend, Cli, TestData};

/// How long a fresh server may take to answer `/readyz` (first start generates RSA keys on a
/// shared 2-core machine).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A CA and a server certificate it signed for `127.0.0.1`, `::1` and `localhost`, as PEM
/// files in a directory.
pub struct TestCa {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestCa {
    /// Writes a new CA and server pair into `dir` (replacing any there).
    pub fn create(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.distinguished_name.push(DnType::CommonName, format!("Tessera test CA {}", crate::support::random_suffix()));
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign CA");
        let key = KeyPair::generate().expect("server key");
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
        leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        leaf.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        leaf.subject_alt_names.push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).expect("sign server certificate");
        let this = Self { ca_file: dir.join("ca.pem"), cert_file: dir.join("server.pem"), key_file: dir.join("server.key") };
        std::fs::write(&this.ca_file, ca_cert.pem()).expect("write CA");
        std::fs::write(&this.key_file, key.serialize_pem()).expect("write key");
        std::fs::write(&this.cert_file, cert.pem()).expect("write certificate");
        this
    }

    pub fn reqwest_certificate(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(&std::fs::read(&self.ca_file).expect("read CA")).expect("CA PEM")
    }
}

/// How to start a [`LiveServer`].
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// Serve https with a certificate from a fresh test CA.
    pub tls: bool,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Extra environment variables for the server process.
    pub env: Vec<(String, String)>,
    /// Start the process with this soft `RLIMIT_NOFILE` (as systemd's 1024).
    pub nofile_soft: Option<u64>,
    /// Name the issuer by this host (and the port chosen at start) instead of the listen
    /// address: for SDKs that refuse an IP address as the domain.
    pub issuer_host: Option<String>,
}

// `arg` and `env` are for the feature tests that start servers with settings of their own.
#[allow(dead_code)]
impl LiveOptions {
    pub fn tls() -> Self {
        Self { tls: true, ..Default::default() }
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// The issuer becomes `http(s)://<host>:<port>/` (`--issuer`); the server still listens on
    /// 127.0.0.1, which is what `localhost` resolves to.
    pub fn issuer_host(mut self, host: &str) -> Self {
        self.issuer_host = Some(host.to_string());
        self
    }
}

/// A running `tessera serve` process.
pub struct LiveServer {
    /// Shared by the nodes of one deployment ([`LiveServer::start_peer`]).
    pub data: Arc<TestData>,
    pub port: u16,
    pub ca: Option<TestCa>,
    pub log_file: PathBuf,
    issuer_host: Option<String>,
    child: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0").local_addr().expect("local addr").port()
}

impl LiveServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &LiveOptions::default()).await
    }

    pub async fn start_with(backend: Backend, options: &LiveOptions) -> Self {
        Self::start_on(Arc::new(TestData::new(backend)), options).await
    }

    /// Another node of this deployment: the same database and data directory (so the same
    /// master key file), its own port and log.
    pub async fn start_peer(&self, options: &LiveOptions) -> Self {
        Self::start_on(self.data.clone(), options).await
    }

    /// A node on `data`, ready to serve.
    pub async fn start_on(data: Arc<TestData>, options: &LiveOptions) -> Self {
        let mut server = Self::spawn(data, options);
        server.wait_ready().await;
        server
    }

    /// Starts a node on `data` without waiting for it to be ready.
    pub fn spawn(data: Arc<TestData>, options: &LiveOptions) -> Self {
        let ca = options.tls.then(|| TestCa::create(data.dir.path()));
        let port = free_port();
        let log_file = data.dir.join(format!("serve-{port}.log"));
        let log = std::fs::File::create(&log_file).expect("create server log");
        let mut cmd = tessera_command(data.dir.path());
        cmd.env("TESSERA_LOG_LEVEL", "info").arg("--data-dir").arg(data.dir.path());
        if let Some(url) = data.database_url_override() {
            cmd.arg("--database-url").arg(url);
        }
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
        if let Some(ca) = &ca {
            cmd.arg("--tls-cert").arg(&ca.cert_file).arg("--tls-key").arg(&ca.key_file);
        }
        if let Some(host) = &options.issuer_host {
            let scheme = if ca.is_some() { "https" } else { "http" };
            cmd.arg("--issuer").arg(format!("{scheme}://{host}:{port}/"));
        }
        cmd.args(&options.args);
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(log.try_clone().expect("log handle")).stderr(log);
        if let Some(soft) = options.nofile_soft {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                    libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
                    lim.rlim_cur = soft.min(lim.rlim_max);
                    libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().expect("spawn tessera serve");
        Self { data, port, ca, log_file, issuer_host: options.issuer_host.clone(), child }
    }

    /// Waits (up to [`READY_TIMEOUT`]) until `/readyz` answers 200.
    pub async fn wait_ready(&mut self) {
        let http = self.http();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll tessera serve") {
                panic!("tessera serve exited before it was ready ({status}):\n{}", self.log());
            }
            if let Ok(resp) = http.get(self.url("/readyz")).send().await {
                if resp.status() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "tessera serve was not ready within {READY_TIMEOUT:?}:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http(s)://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// The issuer, with a trailing slash: the listen address unless
    /// [`LiveOptions::issuer_host`] named another host.
    pub fn issuer(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/", self.domain())
    }

    /// What Auth0's SDKs call the `domain`: the issuer's host and port, no scheme.
    pub fn domain(&self) -> String {
        format!("{}:{}", self.issuer_host.as_deref().unwrap_or("127.0.0.1"), self.port)
    }

    /// The test CA's certificate file, when serving TLS.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_ref().map(|c| c.ca_file.as_path())
    }

    /// The CLI on this server's deployment.
    pub fn cli(&self) -> Cli<'_> {
        Cli::new(&self.data)
    }

    /// An HTTP client that trusts the test CA, keeps cookies and does not follow redirects.
    pub fn http(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true);
        if let Some(ca) = &self.ca {
            b = b.add_root_certificate(ca.reqwest_certificate()).tls_built_in_root_certs(false);
        }
        b.build().expect("reqwest client")
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// Sends a signal (`-TERM`, `-KILL`, ...) without waiting.
    pub fn signal(&self, sig: &str) {
        let _ = std::process::Command::new("kill").args([sig, &self.child.id().to_string()]).status();
    }

    /// The exit status if the process has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("poll tessera serve")
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll tessera serve") {
                return status;
            }
            assert!(Instant::now() < deadline, "tessera serve did not stop within 30 s of SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
