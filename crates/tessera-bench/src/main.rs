//! `tessera-bench`: the benchmark instrument of issue 7.
//!
//! It starts `tessera serve` as a separate process on a fresh store, seeds it through the
//! CLI, drives the real HTTP endpoints with a bounded closed-loop load, and reports each
//! scenario against a bound measured in the same run. Map of the crate:
//!
//! - [`run`]: the whole benchmark, store by store (and `--nodes N` on PostgreSQL);
//!   [`measure`]: one scenario's sweep, paced pass, targets and the nodes comparison; [`load`]: the load generator.
//! - [`scenarios`]: what one operation of each scenario is; [`flows`]: the OAuth
//!   conversations and prepared material; [`mgmt`]: the Management API requests; [`browser`]: the hosted-login walker;
//!   [`http`]: one keep-alive connection.
//! - [`server`]: the server process and its throw-away store; [`seed`]: CLI seeding;
//!   [`growth`]: bulk pre-population (growth and management passes); [`procstat`]: RSS and CPU from /proc.
//! - [`bounds`]: the raw signing rate; [`report`] (results, targets, JSON),
//!   [`markdown`] and [`plot`]: the outputs.

mod bounds;
mod browser;
mod flows;
mod growth;
mod http;
mod load;
mod markdown;
mod measure;
mod mgmt;
mod plot;
mod procstat;
mod report;
mod run;
mod scenarios;
mod seed;
mod server;
mod storeops;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::scenarios::Scenario;
use crate::server::StoreKind;

#[derive(Debug, Parser)]
#[command(name = "tessera-bench", about = "Benchmark a tessera server: throughput and latency against measured bounds")]
struct Args {
    /// Store(s) to benchmark: sqlite, postgres, or both (comma-separated).
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// PostgreSQL server for `--store postgres` (loopback only); a fresh database is
    /// created on it for the run and dropped afterwards.
    #[arg(long, env = "TESSERA_BENCH_PG_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Connection counts to sweep, comma-separated.
    #[arg(long, value_delimiter = ',')]
    connections: Option<Vec<usize>>,
    /// Measured seconds per point (default 10; 2 with --quick).
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds before each point (default 2; 0.5 with --quick).
    #[arg(long)]
    warmup: Option<f64>,
    /// Runs per point; the report keeps the best (highest throughput; for the paced pass,
    /// N peak-then-paced pairs, lowest p99): other work on shared cores only ever lowers
    /// throughput and raises latency, and the signing bound is likewise the better of two
    /// measurements.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Stop each point after this many measured operations (the duration still bounds it).
    #[arg(long)]
    requests: Option<u64>,
    /// Short runs for a smoke test.
    #[arg(long)]
    quick: bool,
    /// Scenarios to run, comma-separated (default: all). http_floor always runs: it is a bound.
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<String>>,
    /// The tessera binary (default: target/release/tessera, built when missing).
    #[arg(long)]
    tessera_bin: Option<PathBuf>,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Seconds per algorithm for the signing bound (default 3; 1 with --quick).
    #[arg(long)]
    sign_seconds: Option<f64>,
    /// Also measure with a grown store (users and live refresh families, see --growth-n).
    #[arg(long)]
    growth: bool,
    #[arg(long, default_value_t = 1_000_000)]
    growth_n: u64,
    /// Users and audit-log entries the management pass loads before the `mgmt_*` scenarios
    /// (default 1000000; 100000 with --quick; 0: no management pass).
    #[arg(long)]
    mgmt_n: Option<u64>,
    /// Most authorization codes prepared for one timed run.
    #[arg(long, default_value_t = 200_000)]
    max_codes: usize,
    /// The server's log level while measured (its default is info).
    #[arg(long, default_value = "info")]
    server_log_level: String,
    /// Instead of the HTTP scenarios: the store's own CPU time per token-endpoint store
    /// sequence, in this process (see `storeops`); tasks from --connections (default 16),
    /// seconds from --duration.
    #[arg(long)]
    store_ops: bool,
    /// PostgreSQL: after the one-node pass, run every scenario again spread round robin over
    /// this many nodes on the same database, side by side with one node (1 to 8; 1: no pass).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Where results go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
}

fn parse_stores(s: &str) -> Result<Vec<StoreKind>, String> {
    s.split(',')
        .map(|x| match x.trim() {
            "sqlite" => Ok(StoreKind::Sqlite),
            "postgres" | "postgresql" => Ok(StoreKind::Postgres),
            other => Err(format!("--store: unknown store {other:?} (sqlite, postgres)")),
        })
        .collect()
}

/// Load goes to 127.0.0.1 only, and so does the database traffic it causes.
fn check_loopback(pg_url: &str) -> Result<(), String> {
    let url = url::Url::parse(pg_url).map_err(|e| format!("--pg-url: {e}"))?;
    match url.host_str() {
        None | Some("localhost") | Some("[::1]") => Ok(()),
        Some(h) if h.starts_with("127.") => Ok(()),
        Some(h) => Err(format!("--pg-url: {h} is not a loopback address; the benchmark only loads this machine")),
    }
}

fn scenarios(list: Option<Vec<String>>) -> Result<Vec<Scenario>, String> {
    let mut out = vec![Scenario::HttpFloor];
    match list {
        None => out.extend(Scenario::ALL.into_iter().filter(|s| *s != Scenario::HttpFloor)),
        Some(names) => {
            for n in names {
                let s = Scenario::parse(n.trim()).ok_or_else(|| {
                    let all: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                    format!("unknown scenario {n:?}; one of: {}", all.join(", "))
                })?;
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }
    Ok(out)
}

/// The workspace's release binary, built first when missing.
fn tessera_bin(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.exists() { Ok(p) } else { Err(format!("--tessera-bin {} does not exist", p.display())) };
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"));
    let bin = target.join("release").join("tessera");
    if !bin.exists() {
        eprintln!("{} is missing; building it (cargo build --release -p tessera-server)", bin.display());
        let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "-p", "tessera-server"])
            .current_dir(&workspace)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() || !bin.exists() {
            return Err("building the tessera server failed".into());
        }
    }
    bin.canonicalize().map_err(|e| format!("{}: {e}", bin.display()))
}

/// `2026-11-01T12-30-05Z` (file-name safe) for now, UTC.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn options(args: Args) -> Result<(run::Options, PathBuf), String> {
    let stores = parse_stores(&args.store)?;
    if stores.contains(&StoreKind::Postgres) {
        check_loopback(&args.pg_url)?;
    }
    let (duration, warmup, sign) = if args.quick { (2.0, 0.5, 1.0) } else { (10.0, 2.0, 3.0) };
    let secs = |v: Option<f64>, d: f64, name: &str| -> Result<Duration, String> {
        let v = v.unwrap_or(d);
        // Bounded runs: at most an hour per point.
        if !(0.0..=3600.0).contains(&v) {
            return Err(format!("--{name} must be between 0 and 3600 seconds"));
        }
        Ok(Duration::from_secs_f64(v))
    };
    if !(1..=8).contains(&args.nodes) {
        return Err("--nodes: between 1 and 8".into());
    }
    if args.nodes > 1 && !stores.contains(&StoreKind::Postgres) {
        return Err(
            "--nodes needs --store postgres: several nodes share one PostgreSQL database (SQLite is one node's file)".into()
        );
    }
    let connections = args.connections.unwrap_or_else(|| vec![1, 4, 16]);
    if connections.is_empty() || connections.iter().any(|&c| c == 0 || c > 1024) {
        return Err("--connections: counts between 1 and 1024".into());
    }
    let opts = run::Options {
        stores,
        pg_url: args.pg_url,
        scenarios: scenarios(args.scenarios)?,
        measure: measure::Settings {
            connections,
            warmup: secs(args.warmup, warmup, "warmup")?,
            duration: secs(args.duration, duration, "duration")?.max(Duration::from_millis(100)),
            requests: args.requests,
            max_codes: args.max_codes,
            repeat: args.repeat.clamp(1, 20),
            sign_rate: Default::default(),
        },
        quick: args.quick,
        client_threads: args.client_threads.max(1),
        sign_seconds: secs(args.sign_seconds, sign, "sign-seconds")?.as_secs_f64().max(0.1),
        growth_n: args.growth.then_some(args.growth_n),
        mgmt_n: args.mgmt_n.unwrap_or(if args.quick { 100_000 } else { 1_000_000 }),
        tessera_bin: tessera_bin(args.tessera_bin)?,
        server_log_level: args.server_log_level,
        nodes: args.nodes,
    };
    Ok((opts, args.out))
}

fn write_outputs(report: &report::Report, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let md = report.markdown();
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    let stamp = &report.started_at;
    for name in [format!("{stamp}.md"), "latest.md".into()] {
        std::fs::write(out.join(&name), &md).map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    for name in [format!("{stamp}.json"), "latest.json".into()] {
        std::fs::write(out.join(&name), &json).map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    let png = out.join(format!("{stamp}.png"));
    match plot::write(report, &png) {
        Ok(text) => {
            if !text {
                eprintln!("note: no TrueType font found; the plot has no labels (see the Markdown sweep table)");
            }
            std::fs::copy(&png, out.join("latest.png")).map_err(|e| format!("cannot write latest.png: {e}"))?;
        }
        Err(e) => eprintln!("warning: {e}"),
    }
    println!("{md}");
    eprintln!("results: {}/{stamp}.{{md,json,png}} and latest.*", out.display());
    Ok(())
}

/// `--store-ops`: the store sequences in this process, store by store, on the server's
/// runtime shape (two worker threads).
fn store_ops(args: Args) -> Result<(), String> {
    let stores = parse_stores(&args.store)?;
    if stores.contains(&StoreKind::Postgres) {
        check_loopback(&args.pg_url)?;
    }
    let tasks = args.connections.as_ref().and_then(|c| c.first().copied()).unwrap_or(16).clamp(1, 1024);
    let duration = Duration::from_secs_f64(args.duration.unwrap_or(5.0).clamp(0.1, 3600.0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let mut results = Vec::new();
    for kind in stores {
        results.extend(runtime.block_on(storeops::run(kind, &args.pg_url, tasks, duration))?);
    }
    let md = format!(
        "# Tessera store sequences, {}\n\n{} tasks, {:.1} s per sequence, load average {}.\n\n{}",
        timestamp(),
        tasks,
        duration.as_secs_f64(),
        procstat::loadavg().unwrap_or_else(|| "n/a".into()),
        storeops::markdown(&results)
    );
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    std::fs::write(args.out.join("store-ops.md"), &md).map_err(|e| format!("cannot write store-ops.md: {e}"))?;
    println!("{md}");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.store_ops {
        return match store_ops(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let threads = args.client_threads.max(1);
    let (opts, out) = match options(args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // On Ctrl-C the run is dropped, and with it the server process (killed on drop); the
    // temporary store is left behind and named in the message.
    let report = runtime.block_on(async {
        tokio::select! {
            r = run::run(&opts, timestamp()) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    let Some(report) = report else {
        eprintln!(
            "interrupted; temporary stores ({}/tessera-bench-*, tessera_bench_* databases) may be left behind",
            std::env::temp_dir().display()
        );
        return ExitCode::from(130);
    };
    match write_outputs(&report, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stores_and_loopback() {
        assert_eq!(super::parse_stores("sqlite,postgres").unwrap().len(), 2);
        assert!(super::parse_stores("mysql").is_err());
        assert!(super::check_loopback("postgres://postgres@127.0.0.1:5432/test").is_ok());
        assert!(super::check_loopback("postgres://postgres@localhost/test").is_ok());
        assert!(super::check_loopback("postgres://postgres@10.0.0.5/test").is_err());
    }

    #[test]
    fn scenario_list_always_has_the_floor_first() {
        let s = super::scenarios(Some(vec!["jwks".into()])).unwrap();
        assert_eq!(s.iter().map(|s| s.name()).collect::<Vec<_>>(), vec!["http_floor", "jwks"]);
        assert!(super::scenarios(Some(vec!["nope".into()])).is_err());
        assert_eq!(super::scenarios(None).unwrap().len(), super::Scenario::ALL.len());
    }

    #[test]
    fn nodes_need_postgres_and_a_bound() {
        use clap::Parser as _;
        let err = |argv: &[&str]| super::options(super::Args::parse_from(argv)).err().unwrap_or_default();
        assert!(err(&["tessera-bench", "--nodes", "2"]).contains("--nodes needs --store postgres"));
        assert!(err(&["tessera-bench", "--nodes", "0", "--store", "postgres"]).contains("between 1 and 8"));
        assert!(err(&["tessera-bench", "--nodes", "9", "--store", "postgres"]).contains("between 1 and 8"));
        // Accepted: the next failure is the binary, not the option.
        let bin = ["--tessera-bin", "/nonexistent/tessera"];
        let ok = err(&["tessera-bench", "--nodes", "2", "--store", "sqlite,postgres", bin[0], bin[1]]);
        assert!(ok.contains("does not exist"), "{ok}");
    }

    #[test]
    fn timestamp_shape() {
        let t = super::timestamp();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
