//! The whole benchmark: signing bounds, then for each store a fresh deployment seeded
//! through the CLI, a first and a cold start, every scenario, idle memory, optionally
//! the growth pass (bulk-load, restart, re-measure each scenario at its best connection
//! count), and the management pass (bulk-load users and log entries, restart, measure the
//! Management API scenarios). The store is torn down whatever happens.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::model::SigningAlg;

use crate::bounds;
use crate::flows::Flows;
use crate::growth::{self, MgmtPopulation, Population};
use crate::measure::{self, Prepared};
use crate::procstat;
use crate::report::{self, Check, Growth, GrowthRow, MgmtLoad, Nodes, Report, ScenarioResult, StoreResult};
use crate::scenarios::Scenario;
use crate::seed::{self, API_RS256};
use crate::server::{Server, Store, StoreKind, Tessera};

/// Everything the command line decides.
#[derive(Debug, Clone)]
pub struct Options {
    pub stores: Vec<StoreKind>,
    pub pg_url: String,
    pub scenarios: Vec<Scenario>,
    pub measure: measure::Settings,
    pub quick: bool,
    pub client_threads: usize,
    pub sign_seconds: f64,
    pub growth_n: Option<u64>,
    /// Users and audit-log entries the management pass loads (0: no management pass).
    pub mgmt_n: u64,
    pub tessera_bin: PathBuf,
    pub server_log_level: String,
    /// `--nodes N`: on PostgreSQL, also every scenario spread over N nodes (1: no pass).
    pub nodes: usize,
}

/// RSS once the server has settled.
async fn settled_rss(pid: u32) -> Option<f64> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    procstat::rss_kib(pid).map(|k| k as f64 / 1024.0)
}

/// Signing rate per algorithm on every core.
async fn sign_rates(seconds: f64, threads: usize) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        let secs = Duration::from_secs_f64(seconds);
        match tokio::task::spawn_blocking(move || bounds::sign_rate(alg, threads, secs)).await {
            Ok(Ok(rate)) => {
                eprintln!("sign rate {alg}: {rate:.0}/s on {threads} threads");
                out.insert(alg.as_str().to_string(), rate);
            }
            Ok(Err(e)) => eprintln!("sign rate {alg}: {e}"),
            Err(e) => eprintln!("sign rate {alg}: {e}"),
        }
    }
    out
}

pub async fn run(opts: &Options, started_at: String) -> Report {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let load_start = procstat::loadavg();
    let before = sign_rates(opts.sign_seconds, threads).await;
    let mut settings = opts.measure.clone();
    settings.sign_rate = before.clone();
    let mut stores = Vec::new();
    for &kind in &opts.stores {
        eprintln!("== store: {}", kind.as_str());
        stores.push(run_store(opts, kind, &settings).await);
    }
    // Measured again at the end: on a shared machine either figure may be depressed by
    // other work, and the higher one is the better estimate of what the cores can do.
    let after = sign_rates(opts.sign_seconds, threads).await;
    let mut sign_rate = before.clone();
    for (alg, rate) in &after {
        let e = sign_rate.entry(alg.clone()).or_insert(*rate);
        *e = e.max(*rate);
    }
    for st in &mut stores {
        for r in &mut st.scenarios {
            measure::apply_targets(r, &sign_rate, st.http_floor);
        }
    }
    Report {
        started_at,
        cores: threads,
        load_average_start: load_start,
        load_average_end: procstat::loadavg(),
        settings: report::Settings {
            quick: opts.quick,
            connections: settings.connections.clone(),
            warmup_s: settings.warmup.as_secs_f64(),
            duration_s: settings.duration.as_secs_f64(),
            requests: settings.requests,
            repeat: settings.repeat,
            client_threads: opts.client_threads,
            sign_threads: threads,
            server_log_level: opts.server_log_level.clone(),
            tessera_bin: opts.tessera_bin.display().to_string(),
            nodes: opts.nodes,
        },
        sign_rate,
        sign_rate_before: before,
        sign_rate_after: after,
        stores,
    }
}

fn empty_result(kind: StoreKind) -> StoreResult {
    StoreResult {
        store: kind,
        first_start_ms: f64::NAN,
        cold_start_ms: f64::NAN,
        idle_rss_mib: None,
        idle_rss_after_load_mib: None,
        peak_rss_mib: None,
        peak_rss_scenario: None,
        peak_rss_without_login_mib: None,
        http_floor: None,
        scenarios: Vec::new(),
        checks: Vec::new(),
        growth: None,
        mgmt: None,
        nodes: None,
        error: None,
    }
}

async fn run_store(opts: &Options, kind: StoreKind, settings: &measure::Settings) -> StoreResult {
    let mut result = empty_result(kind);
    let store = match Store::create(kind, &opts.pg_url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot create the store: {e}");
            result.error = Some(e);
            return result;
        }
    };
    let t = Tessera { bin: opts.tessera_bin.clone(), store, log_level: opts.server_log_level.clone() };
    if let Err(e) = run_on(&t, opts, settings, &mut result).await {
        eprintln!("{}: {e}", kind.as_str());
        result.error = Some(e);
    }
    t.store.destroy().await;
    result
}

async fn run_on(t: &Tessera, opts: &Options, settings: &measure::Settings, result: &mut StoreResult) -> Result<(), String> {
    let seed = seed::seed(t)?;
    let first = t.serve().await?;
    result.first_start_ms = first.ready_in.as_secs_f64() * 1000.0;
    first.stop().await;
    let mut server = t.serve().await?;
    result.cold_start_ms = server.ready_in.as_secs_f64() * 1000.0;
    result.idle_rss_mib = settled_rss(server.pid).await;
    eprintln!(
        "  ready in {:.1} ms (first start {:.1} ms), idle RSS {:?} MiB",
        result.cold_start_ms, result.first_start_ms, result.idle_rss_mib
    );
    let flows = Flows::new(server.addr, seed.clone());

    for &scenario in opts.scenarios.iter().filter(|s| !s.management()) {
        let r = measure::scenario(scenario, result.store, &server, &flows, settings, result.http_floor).await;
        if scenario == Scenario::HttpFloor {
            result.http_floor = r.best.as_ref().map(|b| b.throughput);
        }
        for s in r.sweep.iter().chain(r.at_80.iter()) {
            if scenario != Scenario::LoginFlow && s.server_rss_peak_mib > result.peak_rss_without_login_mib {
                result.peak_rss_without_login_mib = s.server_rss_peak_mib;
            }
            if s.server_rss_peak_mib > result.peak_rss_mib {
                result.peak_rss_mib = s.server_rss_peak_mib;
                result.peak_rss_scenario = Some(scenario);
            }
        }
        result.scenarios.push(r);
    }
    result.idle_rss_after_load_mib = settled_rss(server.pid).await;
    result.checks = vec![
        Check::at_most("cold start on an existing database (ms)", result.cold_start_ms, report::COLD_START_MS),
        Check::at_most("idle RSS (MiB)", result.idle_rss_mib.unwrap_or(f64::NAN), report::RSS_IDLE_MIB),
        Check::at_most("peak RSS under load (MiB)", result.peak_rss_mib.unwrap_or(f64::NAN), report::RSS_LOAD_MIB),
    ];
    // Issue 20: token exchange within 10 % of client_credentials with the same algorithm.
    // The sweeps' best figures ran minutes apart; the check uses runs that alternate
    // between the two at client_credentials' best connection count (the median pair).
    let cc_scenario = Scenario::ClientCredentials(SigningAlg::RS256);
    let best = |s: Scenario| result.scenarios.iter().find(|r| r.scenario == s).and_then(|r| r.best.clone());
    if let (Some(te), Some(cc)) = (best(Scenario::TokenExchange), best(cc_scenario)) {
        eprintln!(
            "  token exchange / client_credentials RS256, best of each sweep: {:.0} / {:.0} = {:.1} %",
            te.throughput,
            cc.throughput,
            100.0 * te.throughput / cc.throughput
        );
        let pairs = 2 * settings.repeat.max(1) + 1;
        eprintln!(
            "  token exchange against client_credentials RS256, {pairs} alternating pairs at {} connections",
            cc.connections
        );
        let (throughput, cpu) =
            measure::paired(cc_scenario, Scenario::TokenExchange, &server, &flows, cc.connections, settings, pairs).await?;
        let show = |v: &[f64]| v.iter().map(|r| format!("{:.2}", r)).collect::<Vec<_>>().join(" ");
        eprintln!("    throughput ratios {}; CPU-per-operation ratios {}", show(&throughput), show(&cpu));
        let name = "token exchange / client_credentials RS256 (median of alternating pairs)";
        result.checks.push(Check::at_least(name, measure::median(&throughput).unwrap_or(0.0), 0.90));
        if let Some(c) = measure::median(&cpu) {
            result.checks.push(Check::at_least(
                "client_credentials / token exchange RS256 CPU per operation (median pair)",
                c,
                0.90,
            ));
        }
    }

    if opts.nodes > 1 && result.store == StoreKind::Postgres {
        let (first, nodes) = nodes_pass(t, opts.nodes, server, &flows, settings, &result.scenarios).await;
        server = first;
        let nodes = nodes?;
        for row in &nodes.rows {
            if let (Some(ratio), Some(_)) = (row.ratio, row.pass) {
                let what = format!("{} on {} nodes / one node", row.scenario.name(), nodes.n);
                result.checks.push(Check::at_least(&what, ratio, report::NODES_MIN_RATIO));
            }
        }
        result.nodes = Some(nodes);
    }

    if let Some(n) = opts.growth_n {
        server.stop().await;
        let hash = tessera_core::password::hash_password("growth-password").map_err(|e| format!("{e:?}"))?;
        eprintln!("  growth: loading {n} users and refresh families");
        let seconds = growth::populate(
            &t.store,
            &Population { n, client_id: &seed.web_client_id, audience: API_RS256, password_hash: &hash },
        )
        .await?;
        server = t.serve().await?;
        let mut g = Growth {
            n,
            populate_seconds: seconds,
            cold_start_ms: server.ready_in.as_secs_f64() * 1000.0,
            idle_rss_mib: settled_rss(server.pid).await,
            rows: Vec::new(),
        };
        eprintln!("  growth: loaded in {seconds:.0} s; ready in {:.1} ms", g.cold_start_ms);
        let flows = Flows::new(server.addr, seed.clone());
        for r in &result.scenarios {
            g.rows.push(growth_row(r, &server, &flows, settings).await);
        }
        result.growth = Some(g);
    }

    let mgmt: Vec<Scenario> = opts.scenarios.iter().copied().filter(|s| s.management()).collect();
    if !mgmt.is_empty() && opts.mgmt_n > 0 {
        server.stop().await;
        let (m, next) = mgmt_pass(t, opts, &seed, &mgmt, settings, result).await?;
        server = next;
        result.mgmt = Some(m);
    }
    server.stop().await;
    Ok(())
}

/// Issue 18: load `--mgmt-n` users (on top of the growth pass's, if it ran) and as many
/// audit-log entries into the stopped store, restart, bootstrap the Management API client
/// for the server's issuer, and measure each management scenario (sweep and paced pass).
/// Returns the load's figures and the running server.
async fn mgmt_pass(
    t: &Tessera,
    opts: &Options,
    seed: &seed::Seed,
    scenarios: &[Scenario],
    settings: &measure::Settings,
    result: &mut StoreResult,
) -> Result<(MgmtLoad, Server), String> {
    let grown = opts.growth_n.unwrap_or(0);
    let users = opts.mgmt_n.max(grown);
    let hash = tessera_core::password::hash_password("growth-password").map_err(|e| format!("{e:?}"))?;
    eprintln!("  management: loading {} users (to {users}) and {} log entries", users - grown, opts.mgmt_n);
    let loaded = growth::populate_mgmt(
        &t.store,
        &MgmtPopulation { users_from: grown + 1, users, logs: opts.mgmt_n, client_id: &seed.web_client_id, password_hash: &hash },
    )
    .await?;
    // One management client drives every connection: Auth0's per-client bucket (50/s by
    // default) would answer most requests 429. The bucket stays on, as wide as no run reaches,
    // so its cost is measured.
    std::fs::write(t.store.dir.join("tessera.toml"), "[management]\nrate_limit = 100000\n")
        .map_err(|e| format!("cannot write tessera.toml: {e}"))?;
    let server = t.serve().await?;
    eprintln!(
        "  management: loaded in {:.0} s ({} users, {} log entries); ready in {:.1} ms",
        loaded.seconds,
        loaded.users,
        loaded.log_entries,
        server.ready_in.as_secs_f64() * 1000.0
    );
    let mut seed = seed.clone();
    seed.mgmt = Some(seed::management(t, &format!("http://{}/", server.addr), users, loaded.max_log_id)?);
    let flows = Flows::new(server.addr, seed);
    for &scenario in scenarios {
        let r = measure::scenario(scenario, result.store, &server, &flows, settings, result.http_floor).await;
        result.scenarios.push(r);
    }
    let m = MgmtLoad {
        users: loaded.users,
        log_entries: loaded.log_entries,
        populate_seconds: loaded.seconds,
        cold_start_ms: server.ready_in.as_secs_f64() * 1000.0,
    };
    Ok((m, server))
}

/// `--nodes N` (issue 19): N-1 more nodes on the same database and master key, then each
/// scenario at its best one-node connection count (at least N) on the first node alone and
/// spread round robin over all N. The extra nodes are stopped again; the first is handed
/// back.
async fn nodes_pass(
    t: &Tessera,
    n: usize,
    first: Server,
    flows: &Arc<Flows>,
    settings: &measure::Settings,
    measured: &[ScenarioResult],
) -> (Server, Result<Nodes, String>) {
    // The first node's default issuer (crate::server: no --issuer), which the others share.
    let issuer = format!("http://{}/", first.addr);
    let mut nodes = vec![first];
    let mut ready_ms = Vec::new();
    let mut started = Ok(());
    for i in 1..n {
        match t.serve_peer(&format!("node{}.log", i + 1), &issuer).await {
            Ok(s) => {
                ready_ms.push(s.ready_in.as_secs_f64() * 1000.0);
                nodes.push(s);
            }
            Err(e) => {
                started = Err(format!("node {}: {e}", i + 1));
                break;
            }
        }
    }
    let mut rows = Vec::new();
    if started.is_ok() {
        let ports: Vec<String> = nodes.iter().map(|s| s.addr.port().to_string()).collect();
        eprintln!("  {n} nodes on one database: ports {}", ports.join(", "));
        for r in measured.iter().filter(|r| r.scenario != Scenario::HttpFloor) {
            let connections = r.best.as_ref().map_or(16, |b| b.connections).max(n);
            rows.push(measure::nodes_row(r.scenario, &nodes, flows, connections, settings).await);
        }
    }
    let first = nodes.remove(0);
    for extra in nodes {
        extra.stop().await;
    }
    (first, started.map(|()| Nodes { n, ready_ms, rows }))
}

/// Re-runs a scenario at its best connection count on the grown store.
async fn growth_row(
    r: &ScenarioResult,
    server: &crate::server::Server,
    flows: &Arc<Flows>,
    settings: &measure::Settings,
) -> GrowthRow {
    let Some(best) = &r.best else {
        return GrowthRow {
            scenario: r.scenario,
            connections: 0,
            empty_throughput: 0.0,
            empty_cpu_us_per_op: None,
            grown: None,
            ratio: None,
            pass: None,
            error: Some("no empty-store figure".into()),
        };
    };
    let mut row = GrowthRow {
        scenario: r.scenario,
        connections: best.connections,
        empty_throughput: best.throughput,
        empty_cpu_us_per_op: best.server_cpu_us_per_op,
        grown: None,
        ratio: None,
        pass: None,
        error: None,
    };
    let outcome = match Prepared::new(r.scenario, flows, best.connections).await {
        Ok(p) => {
            p.best_of(
                std::slice::from_ref(server),
                measure::plan(settings, best.connections, None),
                best.throughput * 1.2,
                settings,
            )
            .await
        }
        Err(e) => Err(format!("cannot prepare: {e}")),
    };
    match outcome {
        Ok(s) => {
            eprintln!(
                "  growth {:<19} conns {:>3}: {:>9.1} req/s (empty {:.1})",
                r.scenario.name(),
                s.connections,
                s.throughput,
                best.throughput
            );
            let ratio = s.throughput / best.throughput;
            row.ratio = Some(ratio);
            row.pass = Some(ratio >= report::GROWTH_MIN_RATIO && s.errors == 0);
            row.grown = Some(s);
        }
        Err(e) => row.error = Some(e),
    }
    row
}
