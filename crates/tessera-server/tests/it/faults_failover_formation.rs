//! A pg_auto_failover formation of the test's own (Debian's `pg-auto-failover-cli` and
//! `postgresql-15-auto-failover`): a monitor, a primary and a secondary with synchronous
//! replication, all on loopback ports under a temporary directory. The machine's shared
//! PostgreSQL is never touched: every command names this formation's own data directories.
//! As root, everything runs as the `postgres` user (initdb and pg_autoctl refuse root).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{random_suffix, TempDir};

/// How long the formation may take to come up (initdb three times, a base backup).
const SETUP: Duration = Duration::from_secs(180);

fn pg_bin() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root).ok()?.flatten().map(|e| e.path().join("bin")).collect();
    versions.sort();
    versions.into_iter().rev().find(|b| b.join("initdb").is_file() && b.join("psql").is_file())
}

fn pg_autoctl() -> Option<PathBuf> {
    ["/usr/bin/pg_autoctl", "/usr/lib/postgresql/15/bin/pg_autoctl"].iter().map(PathBuf::from).find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Formation {
    dir: TempDir,
    bin: PathBuf,
    autoctl: PathBuf,
    root: bool,
    pub monitor_port: u16,
    /// The two data nodes' ports: `ports[0]` starts as the primary.
    pub ports: [u16; 2],
    children: Vec<Child>,
}

impl Formation {
    /// Whether pg_autoctl and the PostgreSQL server binaries are installed.
    pub fn available() -> bool {
        pg_bin().is_some() && pg_autoctl().is_some()
    }

    /// A running formation, its first node the primary and the second its synchronous
    /// standby; `None` when pg_autoctl is not installed.
    pub fn start() -> Option<Self> {
        let (bin, autoctl) = (pg_bin()?, pg_autoctl()?);
        let dir = TempDir::new(&format!("paf-{}", random_suffix()));
        let root = is_root();
        if root {
            let ok = Command::new("chown").arg("-R").arg("postgres:").arg(dir.path()).status().expect("chown").success();
            assert!(ok, "chown the formation directory to postgres");
        }
        let mut f =
            Self { dir, bin, autoctl, root, monitor_port: free_port(), ports: [free_port(), free_port()], children: Vec::new() };
        let monitor = f.pgdata("monitor");
        f.spawn("monitor", &["create", "monitor", "--pgdata", &monitor, "--pgport", &f.monitor_port.to_string()]);
        f.wait_for("the monitor", || {
            f.psql(f.monitor_port, "pg_auto_failover", "SELECT count(*) FROM pgautofailover.node").is_ok()
        });
        // Health checks every second and a node unhealthy after 3 s (the defaults are 5 s and
        // 20 s), and a failed primary taken as demoted after 3 s (30 s: until then the new
        // primary holds its writes back), so the test's failover takes seconds.
        for setting in [
            "pgautofailover.health_check_period = 1000",
            "pgautofailover.health_check_retry_delay = 500",
            "pgautofailover.health_check_timeout = 1000",
            "pgautofailover.node_considered_unhealthy_timeout = 3000",
            "pgautofailover.primary_demote_timeout = 3000",
        ] {
            f.psql(f.monitor_port, "pg_auto_failover", &format!("ALTER SYSTEM SET {setting}")).expect("monitor setting");
        }
        f.psql(f.monitor_port, "pg_auto_failover", "SELECT pg_reload_conf()").expect("reload the monitor");
        f.add_node(0);
        f.wait_for("the first node", || f.state("n1").is_some_and(|s| s == "single"));
        f.add_node(1);
        f.wait_for("the standby", || {
            // The base backup waits for a checkpoint; ask for one instead of waiting minutes.
            let _ = f.psql(f.ports[0], "postgres", "CHECKPOINT");
            f.state("n1").as_deref() == Some("primary") && f.state("n2").as_deref() == Some("secondary")
        });
        Some(f)
    }

    fn pgdata(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn command(&self, exe: &Path) -> Command {
        let mut c = if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        // pg_autoctl keeps its state under XDG directories: this formation's own.
        let home = self.dir.path().display().to_string();
        c.env("XDG_CONFIG_HOME", format!("{home}/config"))
            .env("XDG_DATA_HOME", format!("{home}/share"))
            .env("XDG_RUNTIME_DIR", format!("{home}/run"))
            .env("PATH", format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.bin.display()))
            .env("PGCONNECT_TIMEOUT", "2");
        c
    }

    fn spawn(&mut self, name: &str, args: &[&str]) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).expect("log file");
        let mut cmd = self.command(&self.autoctl.clone());
        cmd.args(args).args(["--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl", "--run"]);
        let child = cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("pg_autoctl");
        self.children.push(child);
    }

    fn add_node(&mut self, i: usize) {
        let name = format!("n{}", i + 1);
        let (pgdata, port, monitor) = (self.pgdata(&name), self.ports[i].to_string(), self.monitor_uri());
        self.spawn(
            &name,
            &[
                "create",
                "postgres",
                "--pgdata",
                &pgdata,
                "--pgport",
                &port,
                "--name",
                &name,
                "--dbname",
                "postgres",
                "--monitor",
                &monitor,
            ],
        );
    }

    fn monitor_uri(&self) -> String {
        format!("postgres://autoctl_node@127.0.0.1:{}/pg_auto_failover?sslmode=disable", self.monitor_port)
    }

    /// Runs one statement with psql; its output.
    pub fn psql(&self, port: u16, db: &str, sql: &str) -> Result<String, String> {
        let out = self
            .command(&self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-d", db, "-XAtqc", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// What the monitor says node `name` reported.
    pub fn state(&self, name: &str) -> Option<String> {
        let sql = format!("SELECT reportedstate FROM pgautofailover.node WHERE nodename = '{name}'");
        self.psql(self.monitor_port, "pg_auto_failover", &sql).ok().filter(|s| !s.is_empty())
    }

    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let started = Instant::now();
        while !ready() {
            assert!(started.elapsed() < SETUP, "pg_auto_failover: {what} not up after {SETUP:?}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub fn logs(&self) -> String {
        ["monitor", "n1", "n2"]
            .iter()
            .map(|n| format!("--- {n}\n{}", std::fs::read_to_string(self.dir.join(format!("{n}.log"))).unwrap_or_default()))
            .collect()
    }

    /// The admin URL of the first node (trust authentication).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.ports[0])
    }

    /// The multi-host URL Tessera is given for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{db}?target_session_attrs=read-write",
            self.ports[0], self.ports[1]
        )
    }

    /// Stops node `i` at once, its keeper and its PostgreSQL (`pg_autoctl stop --immediate`,
    /// as a crash would): the monitor sees it fail and promotes the other.
    pub fn stop_node(&self, i: usize) {
        let pgdata = self.pgdata(&format!("n{}", i + 1));
        let out =
            self.command(&self.autoctl).args(["stop", "--pgdata", &pgdata, "--immediate"]).output().expect("pg_autoctl stop");
        assert!(out.status.success(), "pg_autoctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Whether node `i` is now a writable primary.
    pub fn is_primary(&self, i: usize) -> bool {
        self.psql(self.ports[i], "postgres", "SELECT pg_is_in_recovery()").is_ok_and(|s| s == "f")
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        for name in ["n2", "n1", "monitor"] {
            let pgdata = self.pgdata(name);
            let _ = self.command(&self.autoctl).args(["stop", "--pgdata", &pgdata, "--immediate"]).output();
        }
        for child in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
