//! A PostgreSQL cluster of the test's own (`initdb` + `pg_ctl` on a temporary directory and
//! a free loopback port), for the fault tests that stop or freeze the database. The
//! machine's shared instance is never touched: only the processes whose parent is this
//! cluster's postmaster (read from its own `postmaster.pid`) are signalled.
#![allow(dead_code)] // shared by the fault modules; not all use all of it

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{random_suffix, TempDir};

/// Where Debian installs PostgreSQL's server binaries (`postgresql-15`).
fn bin_dir() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root).ok()?.flatten().map(|e| e.path().join("bin")).collect();
    versions.sort();
    versions.into_iter().rev().find(|b| b.join("initdb").is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub struct Cluster {
    _dir: TempDir,
    data: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    pub port: u16,
    root: bool,
    frozen: bool,
}

impl Cluster {
    /// A new cluster, started; `None` when PostgreSQL's server binaries are not installed.
    pub fn start() -> Option<Self> {
        let bin = bin_dir()?;
        let dir = TempDir::new(&format!("cluster-{}", random_suffix()));
        let data = dir.join("pgdata");
        let log = dir.join("postgres.log");
        std::fs::create_dir_all(&data).expect("cluster dir");
        let root = is_root();
        if root {
            // initdb refuses to run as root: the cluster belongs to the postgres user.
            let ok = Command::new("chown").arg("-R").arg("postgres:").arg(dir.path()).status().expect("chown").success();
            assert!(ok, "chown the cluster directory to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { _dir: dir, data, log, bin, port, root, frozen: false };
        let data = cluster.data.display().to_string();
        cluster.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
        cluster.pg_ctl_start();
        Some(cluster)
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// The admin URL (database `postgres`, trust authentication).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn pg_ctl_start(&self) {
        let opts = format!("-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off", self.port);
        let (data, log) = (self.data.display().to_string(), self.log.display().to_string());
        self.run("pg_ctl", &["-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "60", "start"]);
    }

    /// Stops the cluster (fast shutdown: connections are closed).
    pub fn stop(&self) {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// The postmaster and every process it started (backends, background workers).
    fn processes(&self) -> Vec<u32> {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid")).expect("postmaster.pid");
        let postmaster: u32 = pid_file.lines().next().and_then(|l| l.trim().parse().ok()).expect("postmaster pid");
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // pid (comm) state ppid ...: comm may contain spaces, so split after the ')'.
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse().ok());
            if ppid == Some(postmaster) {
                pids.push(pid);
            }
        }
        pids
    }

    fn signal(&self, sig: &str) {
        for pid in self.processes() {
            let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
        }
    }

    /// Freezes the database: every process of the cluster stopped (SIGSTOP); connections
    /// stay open and nothing answers.
    pub fn freeze(&mut self) {
        self.signal("-STOP");
        self.frozen = true;
    }

    pub fn thaw(&mut self) {
        self.signal("-CONT");
        self.frozen = false;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.frozen {
            self.thaw();
        }
        let data = self.data.display().to_string();
        let _ = self.command("pg_ctl").args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
    }
}
