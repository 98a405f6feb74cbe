//! The server under test as a separate process: a fresh store for it (a temporary data
//! directory, and for PostgreSQL a fresh `tessera_bench_<random>` database that is dropped
//! afterwards), the `tessera` CLI run against that store, and `tessera serve` started on a
//! free loopback port, polled on `/readyz`, and stopped with SIGTERM.
//!
//! Children get a scrubbed environment (no inherited `TESSERA_*` or `RUST_LOG`) and run in
//! the temporary directory, so a developer's `tessera.toml` or variables cannot change what
//! is measured.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::http::{Conn, Extra};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A store that exists only for this run.
#[derive(Debug)]
pub struct Store {
    pub kind: StoreKind,
    /// Data directory: the SQLite file (for SQLite), the master key, the server's logs.
    pub dir: PathBuf,
    /// For PostgreSQL: the fresh database's URL.
    pub database_url: Option<String>,
    /// For PostgreSQL: where to connect to drop the database again.
    admin: Option<(String, String)>,
}

fn random_suffix() -> String {
    tessera_core::crypto::random_hex::<6>()
}

impl Store {
    pub async fn create(kind: StoreKind, pg_url: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("tessera-bench-{}", random_suffix()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let (database_url, admin) = match kind {
            StoreKind::Sqlite => (None, None),
            StoreKind::Postgres => {
                let name = format!("tessera_bench_{}", random_suffix());
                let mut admin = sqlx::PgConnection::connect(pg_url)
                    .await
                    .map_err(|e| format!("cannot connect to PostgreSQL at {pg_url}: {e}"))?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| format!("cannot create database {name}: {e}"))?;
                let _ = admin.close().await;
                let mut url = url::Url::parse(pg_url).map_err(|e| format!("--pg-url: {e}"))?;
                url.set_path(&format!("/{name}"));
                (Some(url.to_string()), Some((pg_url.to_string(), name)))
            }
        };
        Ok(Self { kind, dir, database_url, admin })
    }

    /// The URL sqlx connects to for bulk loading.
    pub fn sqlx_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.dir.join("tessera.db").display()),
        }
    }

    fn global_args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_string(), self.dir.display().to_string()];
        if let Some(u) = &self.database_url {
            args.push("--database-url".into());
            args.push(u.clone());
        }
        args
    }

    /// Removes the data directory and drops the database. Best effort: a failure is
    /// printed, not returned, so cleanup never hides the run's own result.
    pub async fn destroy(&self) {
        if let Some((admin_url, name)) = &self.admin {
            match sqlx::PgConnection::connect(admin_url).await {
                Ok(mut c) => {
                    if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await {
                        eprintln!("warning: cannot drop database {name}: {e}");
                    }
                    let _ = c.close().await;
                }
                Err(e) => eprintln!("warning: cannot connect to drop database {name}: {e}"),
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("warning: cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// The first node's log, in the data directory.
pub const SERVER_LOG: &str = "server.log";

/// How to run `tessera` against one store.
pub struct Tessera {
    pub bin: PathBuf,
    pub store: Store,
    pub log_level: String,
}

/// The environment every child gets on top of the scrubbed parent's.
fn command(bin: &Path, dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TESSERA_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    // Codes are obtained in batches ahead of the timed part; the maximum lifetime keeps a
    // batch valid through a long run.
    cmd.env("TESSERA_CODE_LIFETIME", "600");
    // The token-exchange scenario needs the grant enabled (it is off by default).
    cmd.env("TESSERA_TOKEN_EXCHANGE", "true");
    cmd.current_dir(dir);
    cmd
}

impl Tessera {
    /// Runs `tessera --json <args>` and parses its output.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<serde_json::Value, String> {
        use std::io::Write;
        let mut cmd = command(&self.bin, &self.store.dir);
        cmd.args(self.store.global_args()).arg("--json").args(args);
        cmd.env("TESSERA_LOG_LEVEL", "warn");
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(format!("{input}\n").as_bytes()).map_err(|e| format!("writing to tessera: {e}"))?;
        }
        let out = child.wait_with_output().map_err(|e| format!("tessera: {e}"))?;
        let what = args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
        if !out.status.success() {
            return Err(format!("`tessera {what}` failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("`tessera {what}` printed no JSON ({e})"))
    }

    /// Starts `tessera serve` on a free port and waits until `/readyz` answers 200.
    pub async fn serve(&self) -> Result<Server, String> {
        self.serve_node(SERVER_LOG, None).await
    }

    /// Another node of the same deployment (`--nodes`), logging to `log_name` in the data
    /// directory and answering as `issuer` (the first node's: behind a load balancer every
    /// node names the same issuer, so a token from one verifies at another).
    pub async fn serve_peer(&self, log_name: &str, issuer: &str) -> Result<Server, String> {
        self.serve_node(log_name, Some(issuer)).await
    }

    async fn serve_node(&self, log_name: &str, issuer: Option<&str>) -> Result<Server, String> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.store.dir.join(log_name))
            .map_err(|e| format!("cannot open the server log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = command(&self.bin, &self.store.dir);
        cmd.args(self.store.global_args()).args(["serve", "--listen", &addr.to_string()]);
        if let Some(issuer) = issuer {
            cmd.args(["--issuer", issuer]);
        }
        cmd.env("TESSERA_LOG_LEVEL", &self.log_level);
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        let started = Instant::now();
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        let pid = child.id().ok_or("the server exited at once")?;
        let deadline = started + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the server exited ({status}) before it was ready:\n{}", self.log_tail(log_name)));
            }
            if ready(addr).await {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.start_kill();
                return Err(format!("the server was not ready after 120 s:\n{}", self.log_tail(log_name)));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(Server { child, pid, addr, ready_in: started.elapsed() })
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self, log_name: &str) -> String {
        let text = std::fs::read_to_string(self.store.dir.join(log_name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

async fn ready(addr: SocketAddr) -> bool {
    match Conn::open(addr).await {
        Ok(mut c) => c.get(tessera_core::routes::READYZ, &Extra::default()).await.is_ok_and(|r| r.status == 200),
        Err(_) => false,
    }
}

/// A port the kernel says is free now (it could be taken before the server binds it,
/// which only makes the start fail loudly).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// A running server.
pub struct Server {
    child: tokio::process::Child,
    pub pid: u32,
    pub addr: SocketAddr,
    /// From spawn to the first 200 on /readyz.
    pub ready_in: Duration,
}

impl Server {
    pub fn target(&self) -> crate::load::Target {
        crate::load::Target { addr: self.addr, pid: self.pid }
    }

    /// SIGTERM (graceful shutdown), then SIGKILL after 10 s.
    pub async fn stop(mut self) {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            eprintln!("warning: the server ignored SIGTERM for 10 s; killing it");
            let _ = self.child.kill().await;
        }
    }
}
