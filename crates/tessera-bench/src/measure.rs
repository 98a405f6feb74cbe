//! One scenario against one running server: prepare, sweep the connection counts (closed
//! loop), then a paced pass at 80 % of the best throughput for token scenarios, and apply
//! the targets. Authorization codes are topped up before every timed run, sized from the
//! expected throughput, so they are fresh and never the bottleneck.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::flows::{Flows, SCOPE_LOGIN};
use crate::load::{self, Plan, RunStats};
use crate::report::{bound_and_checks, ScenarioResult};
use crate::scenarios::{prepare, Pools, Scenario, Work};
use crate::server::{Server, StoreKind};

/// Run settings shared by every scenario.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connections: Vec<usize>,
    pub warmup: Duration,
    pub duration: Duration,
    pub requests: Option<u64>,
    pub max_codes: usize,
    /// Runs per point, the best kept.
    pub repeat: usize,
    pub sign_rate: BTreeMap<String, f64>,
}

/// A scenario's prepared state on one server.
pub struct Prepared {
    pub scenario: Scenario,
    flows: Arc<Flows>,
    pools: Arc<Pools>,
}

impl Prepared {
    pub async fn new(scenario: Scenario, flows: &Arc<Flows>, connections: usize) -> Result<Self, String> {
        let pools = Arc::new(Pools::default());
        prepare(scenario, flows, &pools, connections).await?;
        Ok(Self { scenario, flows: flows.clone(), pools })
    }

    /// Codes for a run expected to go at `rate` operations per second.
    async fn top_up_codes(&self, plan: &Plan, rate: f64, max: usize) -> Result<(), String> {
        let secs = (plan.warmup + plan.duration).as_secs_f64();
        let by_time = (rate * secs * 1.3) as usize + 4 * plan.connections;
        let want = plan.requests.map(|r| (r as usize + 4 * plan.connections).min(by_time)).unwrap_or(by_time).min(max);
        let missing = want.saturating_sub(self.pools.code_count());
        if missing > 0 {
            let started = Instant::now();
            let codes = self.flows.obtain_codes(missing, SCOPE_LOGIN, 2).await?;
            self.pools.add_codes(codes);
            eprintln!("    obtained {missing} codes in {:.1} s", started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// One timed run; `expected` sizes the code batch.
    async fn run(&self, server: &Server, plan: Plan, expected: f64, max_codes: usize) -> Result<RunStats, String> {
        if self.scenario.needs_codes() {
            self.top_up_codes(&plan, expected, max_codes).await?;
        }
        let works = (0..plan.connections).map(|_| Work::new(self.scenario, &self.flows, &self.pools)).collect();
        let (stats, works) = load::run(server.addr, server.pid, plan, works).await?;
        works.into_iter().for_each(Work::release);
        Ok(stats)
    }

    /// `repeat` timed runs of one plan; keeps the one with the highest throughput (closed
    /// loop) or the lowest p99 (paced). Each run is reported as it ends.
    pub async fn best_of(&self, server: &Server, plan: Plan, expected: f64, settings: &Settings) -> Result<RunStats, String> {
        let mut best: Option<RunStats> = None;
        for _ in 0..settings.repeat.max(1) {
            let s = self.run(server, plan, expected, settings.max_codes).await?;
            progress(self.scenario, &s);
            let better = match &best {
                None => true,
                Some(b) if plan.rate.is_some() => s.p99_ms < b.p99_ms,
                Some(b) => s.throughput > b.throughput,
            };
            if better {
                best = Some(s);
            }
        }
        best.ok_or_else(|| "no run".into())
    }
}

fn progress(scenario: Scenario, s: &RunStats) {
    let paced = s.offered_rate.map(|r| format!(" paced at {r:.0}/s ({} late)", s.late)).unwrap_or_default();
    eprintln!(
        "  {:<26} conns {:>3}{paced}: {:>9.1} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
        scenario.name(),
        s.connections,
        s.throughput,
        s.p50_ms,
        s.p99_ms,
        s.errors
    );
}

pub fn plan(settings: &Settings, connections: usize, rate: Option<f64>) -> Plan {
    Plan { connections, warmup: settings.warmup, duration: settings.duration, requests: settings.requests, rate }
}

/// The first guess of a code-exchange rate: the bound (two RS256 signatures per exchange).
fn expected_rate(settings: &Settings) -> f64 {
    settings.sign_rate.get("RS256").copied().unwrap_or(2000.0) / 2.0
}

/// Sweep, paced pass and targets for one scenario.
pub async fn scenario(
    scenario: Scenario,
    store: StoreKind,
    server: &Server,
    flows: &Arc<Flows>,
    settings: &Settings,
    floor: Option<f64>,
) -> ScenarioResult {
    let mut result = ScenarioResult {
        scenario,
        store,
        sweep: Vec::new(),
        best: None,
        at_80: None,
        bound: None,
        ratio: None,
        checks: Vec::new(),
        error: None,
    };
    let max_conns = settings.connections.iter().copied().max().unwrap_or(1);
    let prepared = match Prepared::new(scenario, flows, max_conns).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("  {:<26} cannot prepare: {e}", scenario.name());
            result.error = Some(format!("cannot prepare: {e}"));
            return result;
        }
    };
    let mut expected = expected_rate(settings);
    for &c in &settings.connections {
        match prepared.best_of(server, plan(settings, c, None), expected, settings).await {
            Ok(s) => {
                expected = expected.max(s.throughput * 1.2);
                result.sweep.push(s);
            }
            Err(e) => {
                eprintln!("  {:<26} conns {c}: {e}", scenario.name());
                result.error = Some(e);
                break;
            }
        }
    }
    result.best =
        result.sweep.iter().filter(|s| s.throughput > 0.0).max_by(|a, b| a.throughput.total_cmp(&b.throughput)).cloned();
    let Some(best) = result.best.clone() else {
        result.error.get_or_insert_with(|| "no successful operation".into());
        return result;
    };
    if scenario.issues_tokens() {
        let rate = 0.8 * best.throughput;
        match prepared.best_of(server, plan(settings, best.connections, Some(rate)), rate, settings).await {
            Ok(s) => {
                result.at_80 = Some(s);
            }
            Err(e) => result.error = Some(format!("paced run: {e}")),
        }
    }
    apply_targets(&mut result, &settings.sign_rate, floor);
    result
}

/// Sets the bound, ratio and checks of a measured scenario (again when the final bounds
/// are known).
pub fn apply_targets(r: &mut ScenarioResult, sign_rate: &BTreeMap<String, f64>, floor: Option<f64>) {
    if let Some(best) = &r.best {
        let (bound, ratio, checks) = bound_and_checks(r.scenario, r.store, sign_rate, floor, best, r.at_80.as_ref());
        r.bound = bound;
        r.ratio = ratio;
        r.checks = checks;
    }
}
