//! Shared helpers for the integration tests: fresh migrated stores on every backend, an
//! in-process server ([`TestApp`]) on port 0 with a [`ManualClock`], and a runner for the
//! real `tessera` binary.
//!
//! SQLite always runs (a fresh database in a temporary directory). PostgreSQL runs when
//! `TESSERA_TEST_POSTGRES_URL` names a server; each store or app then gets its own database
//! (`CREATE DATABASE tessera_t_<random>`), dropped again when the test's guard is dropped —
//! also when the test panics.
#![allow(dead_code)] // helpers are shared by many feature modules; not all use all of them

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::clock::ManualClock;
use tessera_core::routes;
use tessera_core::store::Store;
use tessera_server::app::{AppState, Application};
use tessera_server::bootstrap::Deployment;
use tessera_server::config::{Config, Overrides};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The environment variable naming the PostgreSQL server used by the tests.
pub const POSTGRES_URL_ENV: &str = "TESSERA_TEST_POSTGRES_URL";

/// A database backend a test can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The PostgreSQL server URL from the environment, if the PostgreSQL variants should run.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_ENV).ok().filter(|v| !v.trim().is_empty())
}

/// SQLite always; PostgreSQL too when `TESSERA_TEST_POSTGRES_URL` is set. Feature tests
/// loop over this to run on every store.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if postgres_admin_url().is_some() {
        v.push(Backend::Postgres);
    }
    v
}

/// A short random lower-case name part.
pub fn random_suffix() -> String {
    tessera_core::crypto::random_hex::<8>()
}

/// Runs a future to completion on a fresh runtime in its own thread, so it works from
/// synchronous tests, from async tests and from `Drop`.
fn block_on_thread<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("test runtime").block_on(fut)
    })
    .join()
    .expect("helper thread panicked")
}

/// A temporary directory, removed (best effort) on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!("tessera-it-{prefix}-{}", random_suffix()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A PostgreSQL database created for one test and dropped (with `FORCE`, so open pools do
/// not keep it alive) when this guard is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    /// Creates a fresh empty database on the server named by `TESSERA_TEST_POSTGRES_URL`.
    /// Panics if the variable is unset or the server is unreachable: a configured
    /// PostgreSQL that does not answer must fail the run, not skip it.
    pub fn create() -> Self {
        Self::create_on(&postgres_admin_url().expect("TESSERA_TEST_POSTGRES_URL is not set"))
    }

    /// Creates a fresh empty database on the server `admin_url` names (a test's own cluster).
    pub fn create_on(admin_url: &str) -> Self {
        let admin_url = admin_url.to_string();
        let name = format!("tessera_t_{}", random_suffix());
        let mut url = url::Url::parse(&admin_url).expect("TESSERA_TEST_POSTGRES_URL is not a URL");
        url.set_path(&format!("/{name}"));
        let (admin, db) = (admin_url.clone(), name.clone());
        block_on_thread(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| panic!("cannot connect to {admin}: {e}"));
            sqlx::query(&format!("CREATE DATABASE \"{db}\"")).execute(&mut conn).await.expect("CREATE DATABASE");
            let _ = conn.close().await;
        });
        Self { admin_url, name, url: url.to_string() }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, db) = (self.admin_url.clone(), self.name.clone());
        block_on_thread(async move {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")).execute(&mut conn).await;
                let _ = conn.close().await;
            }
        });
    }
}

/// Where a test deployment keeps its data: always a data directory (the SQLite file and/or
/// the master key file), plus a PostgreSQL database for the PostgreSQL backend.
#[derive(Debug)]
pub struct TestData {
    pub backend: Backend,
    pub dir: TempDir,
    pub pg: Option<PgDatabase>,
}

impl TestData {
    pub fn new(backend: Backend) -> Self {
        let pg = (backend == Backend::Postgres).then(PgDatabase::create);
        Self { backend, dir: TempDir::new(backend.name()), pg }
    }

    /// A deployment on a fresh database of the PostgreSQL server `admin_url` names.
    pub fn on_postgres(admin_url: &str) -> Self {
        Self { backend: Backend::Postgres, dir: TempDir::new("pg"), pg: Some(PgDatabase::create_on(admin_url)) }
    }

    /// The database URL the deployment uses.
    pub fn database_url(&self) -> String {
        match &self.pg {
            Some(pg) => pg.url.clone(),
            None => tessera_server::store::sqlite_url_for(self.dir.path()),
        }
    }

    /// The `--database-url` value to pass to the binary (`None`: the default SQLite file).
    pub fn database_url_override(&self) -> Option<String> {
        self.pg.as_ref().map(|pg| pg.url.clone())
    }

    /// A validated configuration for this data, listening on 127.0.0.1:0, with no
    /// environment variables and no config file consulted.
    pub fn config(&self) -> Config {
        let over = Overrides {
            data_dir: Some(self.dir.path().to_path_buf()),
            database_url: self.database_url_override(),
            listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        Config::load(&over, &|_| None).expect("test configuration")
    }
}

/// A fresh, migrated store. Keep it alive for as long as the store is used: dropping it
/// removes the data.
pub struct TestStore {
    pub backend: Backend,
    pub store: Arc<dyn Store>,
    pub data: TestData,
}

impl TestStore {
    pub async fn new(backend: Backend) -> Self {
        let data = TestData::new(backend);
        let store = tessera_server::store::open(&data.database_url())
            .await
            .unwrap_or_else(|e| panic!("[{backend}] cannot open a fresh store: {e}"));
        assert_eq!(store.backend(), backend.name());
        Self { backend, store, data }
    }

    pub fn name(&self) -> &'static str {
        self.backend.name()
    }
}

/// One fresh migrated store per backend in [`backends`].
pub async fn test_stores() -> Vec<TestStore> {
    let mut v = Vec::new();
    for b in backends() {
        v.push(TestStore::new(b).await);
    }
    v
}

/// A Tessera server running in-process on 127.0.0.1:0 with a [`ManualClock`] (starting at
/// the wall-clock time, so tokens also make sense to libraries that check real time).
/// Stops (gracefully) when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    /// With a trailing slash, e.g. `http://127.0.0.1:41234/`.
    pub issuer: String,
    /// Follows no redirects, keeps no cookies: tests see exactly what the server sent.
    pub http: reqwest::Client,
    pub deployment: Deployment,
    pub state: AppState,
    pub clock: ManualClock,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    pub data: TestData,
}

impl TestApp {
    /// On SQLite in a temporary directory.
    pub async fn spawn() -> Self {
        Self::spawn_with(Backend::Sqlite).await
    }

    pub async fn spawn_with(backend: Backend) -> Self {
        Self::spawn_configured(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn_with`], after letting the test adjust the configuration.
    pub async fn spawn_configured(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let data = TestData::new(backend);
        let mut config = data.config();
        adjust(&mut config);
        let clock = ManualClock::starting_now();
        let app = Application::build(config, Arc::new(clock.clone()))
            .await
            .unwrap_or_else(|e| panic!("[{backend}] the application did not start: {e}"));
        let addr = app.local_addr();
        let issuer = app.issuer().to_string();
        let state = app.state().clone();
        let deployment = state.deployment.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self { addr, issuer, http, deployment, state, clock, backend, shutdown: Some(tx), server: Some(server), data }
    }

    /// The absolute URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        routes::url(&self.issuer, path)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Re-reads the signing keys now, as the periodic reload would.
    pub async fn reload_keys(&self) -> bool {
        self.state.keys.reload(&self.deployment).await.expect("reload keys")
    }

    /// Stops the server and waits until in-flight requests are done.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("graceful shutdown within 10 s")
                .expect("server task")
                .expect("server result");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// --- The real binary -------------------------------------------------------------------

/// How long a CLI invocation may take before the test fails (RSA key generation on a
/// first start of a busy 2-core machine included).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// `tessera` with a clean environment: no inherited `TESSERA_*`/`RUST_LOG` variables and
/// a working directory without a `tessera.toml`.
pub fn tessera_command(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("TESSERA_") || k == "RUST_LOG") {
            cmd.env_remove(&k);
        }
    }
    cmd.current_dir(cwd).env("TESSERA_LOG_LEVEL", "warn");
    cmd
}

/// Runs `cmd` to completion with `stdin` fed to it, failing the test after [`CLI_TIMEOUT`].
pub fn run_command(mut cmd: Command, stdin: Option<&str>) -> Output {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn tessera");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CLI_TIMEOUT) {
        Ok(out) => out.expect("wait for tessera"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{cmd:?} did not finish within {CLI_TIMEOUT:?}");
        }
    }
}

/// The outcome of one CLI invocation, with its output decoded.
#[derive(Debug)]
pub struct CliResult {
    pub args: Vec<String>,
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliResult {
    /// The outcome of `tessera <args>`, decoded.
    pub fn new(args: &[&str], out: Output) -> Self {
        Self {
            args: args.iter().map(|s| s.to_string()).collect(),
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert!(self.success, "`tessera {}` failed ({:?}): {}", self.args.join(" "), self.code, self.stderr);
        &self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(out).unwrap_or_else(|e| panic!("`tessera {}` printed no JSON ({e}): {out}", self.args.join(" ")))
    }

    /// Asserts failure (exit code 1, not a crash) and returns stderr.
    pub fn err(&self) -> &str {
        assert!(!self.success, "`tessera {}` should have failed; printed: {}", self.args.join(" "), self.stdout);
        assert_eq!(self.code, Some(1), "`tessera {}` should exit 1; stderr: {}", self.args.join(" "), self.stderr);
        assert!(!self.stderr.trim().is_empty(), "`tessera {}` failed without a message", self.args.join(" "));
        &self.stderr
    }
}

/// Runs the binary against one deployment's data (`--data-dir`, plus `--database-url` on
/// PostgreSQL).
pub struct Cli<'a> {
    pub data: &'a TestData,
    env: Vec<(String, String)>,
}

impl<'a> Cli<'a> {
    pub fn new(data: &'a TestData) -> Self {
        Self { data, env: Vec::new() }
    }

    /// Sets an environment variable for every later invocation.
    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn run(&self, args: &[&str]) -> CliResult {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> CliResult {
        let mut cmd = tessera_command(self.data.dir.path());
        cmd.arg("--data-dir").arg(self.data.dir.path());
        if let Some(url) = self.data.database_url_override() {
            cmd.arg("--database-url").arg(url);
        }
        cmd.args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        CliResult::new(args, run_command(cmd, stdin))
    }
}
