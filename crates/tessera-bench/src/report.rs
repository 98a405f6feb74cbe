//! The results of a run, the targets of issue 7 applied to them, and their rendering as
//! Markdown (also printed) and JSON.
//!
//! On a 2-core machine shared with the load generator absolute numbers say little, so each
//! scenario is compared with a bound measured in the same run: the raw signing rate for
//! token scenarios (halved when an ID token is signed too), the HTTP floor (`/healthz` on
//! the same server) for the rest.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use tessera_core::model::SigningAlg;

use crate::load::RunStats;
use crate::scenarios::Scenario;
use crate::server::StoreKind;

/// p99 latency at 80 % of peak throughput, for every token scenario.
pub const P99_AT_80_MS: f64 = 10.0;
pub const RSS_LOAD_MIB: f64 = 64.0;
pub const RSS_IDLE_MIB: f64 = 24.0;
pub const COLD_START_MS: f64 = 200.0;
/// Growth: every scenario within 15 % of its empty-store throughput.
pub const GROWTH_MIN_RATIO: f64 = 0.85;

#[derive(Debug, Clone, Serialize)]
pub struct Bound {
    /// e.g. "RS256 sign rate / 2".
    pub what: String,
    pub rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub what: String,
    pub value: f64,
    pub limit: f64,
    /// true: value must be ≥ limit; false: value must be < / ≤ limit.
    pub at_least: bool,
    pub pass: bool,
}

impl Check {
    pub fn at_least(what: &str, value: f64, limit: f64) -> Self {
        Self { what: what.into(), value, limit, at_least: true, pass: value >= limit }
    }
    pub fn at_most(what: &str, value: f64, limit: f64) -> Self {
        Self { what: what.into(), value, limit, at_least: false, pass: value <= limit }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub store: StoreKind,
    /// Closed-loop runs, one per connection count.
    pub sweep: Vec<RunStats>,
    /// The sweep point with the highest throughput.
    pub best: Option<RunStats>,
    /// Paced run at 80 % of the best throughput (token scenarios).
    pub at_80: Option<RunStats>,
    pub bound: Option<Bound>,
    pub ratio: Option<f64>,
    pub checks: Vec<Check>,
    /// Why the scenario could not run (fully or partly).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrowthRow {
    pub scenario: Scenario,
    pub connections: usize,
    pub empty_throughput: f64,
    pub grown: Option<RunStats>,
    pub ratio: Option<f64>,
    pub pass: Option<bool>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Growth {
    pub n: u64,
    pub populate_seconds: f64,
    pub cold_start_ms: f64,
    pub idle_rss_mib: Option<f64>,
    pub rows: Vec<GrowthRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreResult {
    pub store: StoreKind,
    pub first_start_ms: f64,
    /// Second start on the existing database, spawn to first 200 on /readyz.
    pub cold_start_ms: f64,
    pub idle_rss_mib: Option<f64>,
    pub idle_rss_after_load_mib: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub peak_rss_scenario: Option<Scenario>,
    pub http_floor: Option<f64>,
    pub scenarios: Vec<ScenarioResult>,
    pub checks: Vec<Check>,
    pub growth: Option<Growth>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub quick: bool,
    pub connections: Vec<usize>,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub requests: Option<u64>,
    pub client_threads: usize,
    pub sign_threads: usize,
    pub server_log_level: String,
    pub tessera_bin: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_at: String,
    pub cores: usize,
    /// `/proc/loadavg` (1, 5, 15 min) when the run started and ended.
    pub load_average_start: Option<String>,
    pub load_average_end: Option<String>,
    pub settings: Settings,
    /// Raw access-token signatures per second, all cores: the higher of the two
    /// measurements below, and the bound the ratios use.
    pub sign_rate: BTreeMap<String, f64>,
    pub sign_rate_before: BTreeMap<String, f64>,
    pub sign_rate_after: BTreeMap<String, f64>,
    pub stores: Vec<StoreResult>,
}

/// The bound a scenario is measured against, and the targets of issue 7 for it.
pub fn bound_and_checks(
    scenario: Scenario,
    store: StoreKind,
    sign: &BTreeMap<String, f64>,
    floor: Option<f64>,
    best: &RunStats,
    at_80: Option<&RunStats>,
) -> (Option<Bound>, Option<f64>, Vec<Check>) {
    let sign_of = |alg: SigningAlg| sign.get(alg.as_str()).copied();
    let rs = sign_of(SigningAlg::RS256);
    let (bound, min_ratio) = match scenario {
        Scenario::ClientCredentials(SigningAlg::EdDSA) => (floor.map(|f| ("HTTP floor".to_string(), f)), Some(0.50)),
        Scenario::ClientCredentials(alg) => {
            (sign_of(alg).map(|r| (format!("{alg} sign rate"), r)), (alg == SigningAlg::RS256).then_some(0.85))
        }
        Scenario::AuthorizationCode => (
            rs.map(|r| ("RS256 sign rate / 2".to_string(), r / 2.0)),
            Some(if store == StoreKind::Postgres { 0.60 } else { 0.75 }),
        ),
        Scenario::Refresh => (rs.map(|r| ("RS256 sign rate".to_string(), r)), Some(0.75)),
        Scenario::RefreshIdToken => (rs.map(|r| ("RS256 sign rate / 2".to_string(), r / 2.0)), Some(0.75)),
        Scenario::Discovery | Scenario::Jwks | Scenario::Userinfo | Scenario::HttpFloor => {
            (floor.map(|f| ("HTTP floor".to_string(), f)), None)
        }
        Scenario::LoginFlow => (None, None),
    };
    let bound = bound.map(|(what, rate)| Bound { what, rate });
    let ratio = bound.as_ref().filter(|b| b.rate > 0.0).map(|b| best.throughput / b.rate);
    let mut checks = Vec::new();
    if let (Some(min), Some(r)) = (min_ratio, ratio) {
        checks.push(Check::at_least("throughput / bound", r, min));
    }
    if scenario.issues_tokens() {
        match at_80 {
            Some(s) => checks.push(Check::at_most("p99 at 80 % of peak (ms)", s.p99_ms, P99_AT_80_MS)),
            None => checks.push(Check::at_most("p99 at 80 % of peak (ms)", f64::INFINITY, P99_AT_80_MS)),
        }
    }
    if best.errors > 0 {
        checks.push(Check::at_most("errors", best.errors as f64, 0.0));
    }
    (bound, ratio, checks)
}

fn num(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "—".into())
}

fn pass_fail(checks: &[Check]) -> &'static str {
    if checks.is_empty() {
        "—"
    } else if checks.iter().all(|c| c.pass) {
        "pass"
    } else {
        "**FAIL**"
    }
}

fn target_text(checks: &[Check]) -> String {
    let parts: Vec<String> = checks
        .iter()
        .map(|c| match c.what.as_str() {
            "throughput / bound" => format!("≥ {:.0} %", c.limit * 100.0),
            "errors" => "no errors".into(),
            w if w.starts_with("p99") => format!("p99@80% ≤ {} ms", num(c.limit)),
            w => format!("{w} {} {}", if c.at_least { "≥" } else { "≤" }, num(c.limit)),
        })
        .collect();
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join("; ")
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let s = &self.settings;
        let _ = writeln!(md, "# Tessera benchmark, {}\n", self.started_at);
        let _ = writeln!(
            md,
            "{} cores shared by server and load generator ({} client thread{}); connections {:?}; \
             warm-up {} s, {} s per point{}; server log level `{}`{}.\n",
            self.cores,
            s.client_threads,
            if s.client_threads == 1 { "" } else { "s" },
            s.connections,
            s.warmup_s,
            s.duration_s,
            s.requests.map(|r| format!(" or {r} requests")).unwrap_or_default(),
            s.server_log_level,
            if s.quick { "; **quick mode** (short runs: indicative only)" } else { "" },
        );
        let signs: Vec<String> = self
            .sign_rate
            .iter()
            .map(|(a, r)| {
                let b = self.sign_rate_before.get(a).copied().unwrap_or(f64::NAN);
                let e = self.sign_rate_after.get(a).copied().unwrap_or(f64::NAN);
                format!("{a} {}/s (before {}, after {})", num(*r), num(b), num(e))
            })
            .collect();
        let _ = writeln!(
            md,
            "Raw access-token signing rate on {} threads, the higher of two measurements: {}.\n",
            s.sign_threads,
            signs.join(", ")
        );
        let _ = writeln!(
            md,
            "Machine load average (1/5/15 min) at start: {}; at end: {}. Other work on these cores lowers every \
             throughput figure; server CPU µs/op (the server's CPU time per operation) is the figure it disturbs least.\n",
            self.load_average_start.as_deref().unwrap_or("n/a"),
            self.load_average_end.as_deref().unwrap_or("n/a")
        );
        let _ = writeln!(
            md,
            "| scenario | store | conns | req/s | p50 | p90 | p99 | p99.9 (ms) | errors | server CPU % | CPU µs/op | RSS MiB | bound (req/s) | ratio | p99 @80 % (ms) | target | pass/fail |"
        );
        let _ = writeln!(md, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|");
        for st in &self.stores {
            for r in &st.scenarios {
                match &r.best {
                    Some(b) => {
                        let _ = writeln!(
                            md,
                            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                            r.scenario.name(),
                            st.store.as_str(),
                            b.connections,
                            num(b.throughput),
                            num(b.p50_ms),
                            num(b.p90_ms),
                            num(b.p99_ms),
                            num(b.p999_ms),
                            b.errors,
                            opt(b.server_cpu_pct),
                            opt(b.server_cpu_us_per_op),
                            opt(b.server_rss_peak_mib),
                            r.bound.as_ref().map(|x| format!("{} ({})", num(x.rate), x.what)).unwrap_or_else(|| "—".into()),
                            r.ratio.map(|x| format!("{:.0} %", x * 100.0)).unwrap_or_else(|| "—".into()),
                            opt(r.at_80.as_ref().map(|a| a.p99_ms)),
                            target_text(&r.checks),
                            pass_fail(&r.checks),
                        );
                    }
                    None => {
                        let _ = writeln!(
                            md,
                            "| {} | {} | — | — | — | — | — | — | — | — | — | — | — | — | — | — | **ERROR** |",
                            r.scenario.name(),
                            st.store.as_str()
                        );
                    }
                }
            }
        }
        self.process_section(&mut md);
        self.errors_section(&mut md);
        self.growth_section(&mut md);
        self.sweep_section(&mut md);
        md
    }

    fn process_section(&self, md: &mut String) {
        let _ = writeln!(md, "\n## Process\n\n| store | metric | value | target | pass/fail |\n|---|---|--:|---|---|");
        for st in &self.stores {
            let _ =
                writeln!(md, "| {} | first start, spawn to ready (ms) | {} | — | — |", st.store.as_str(), num(st.first_start_ms));
            let _ = writeln!(
                md,
                "| {} | idle RSS after load (MiB) | {} | — | — |",
                st.store.as_str(),
                opt(st.idle_rss_after_load_mib)
            );
            if let Some(sc) = st.peak_rss_scenario {
                let _ = writeln!(md, "| {} | peak RSS came from | {} | — | — |", st.store.as_str(), sc.name());
            }
            for c in &st.checks {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} {} | {} |",
                    st.store.as_str(),
                    c.what,
                    num(c.value),
                    if c.at_least { "≥" } else { "<" },
                    num(c.limit),
                    pass_fail(std::slice::from_ref(c))
                );
            }
        }
    }

    fn errors_section(&self, md: &mut String) {
        let mut lines = Vec::new();
        for st in &self.stores {
            if let Some(e) = &st.error {
                lines.push(format!("- {}: {e}", st.store.as_str()));
            }
            for r in &st.scenarios {
                let first = r.best.as_ref().and_then(|b| b.first_error.clone());
                if let Some(e) = r.error.clone().or(first) {
                    lines.push(format!("- {} on {}: {}", r.scenario.name(), st.store.as_str(), e.replace('\n', " ")));
                }
                if r.best.as_ref().is_some_and(|b| b.exhausted) || r.sweep.iter().any(|b| b.exhausted) {
                    lines.push(format!(
                        "- {} on {}: a run ran out of prepared codes or refresh chains and ended early (figures cover the time it ran)",
                        r.scenario.name(),
                        st.store.as_str()
                    ));
                }
            }
        }
        if !lines.is_empty() {
            let _ = writeln!(md, "\n## Errors and notes\n\n{}", lines.join("\n"));
        }
    }

    fn growth_section(&self, md: &mut String) {
        for st in &self.stores {
            let Some(g) = &st.growth else { continue };
            let _ = writeln!(
                md,
                "\n## Growth, {}: {} users and {} live refresh families\n\nLoaded in {} s; cold start {} ms; idle RSS {} MiB.\n\n\
                 | scenario | conns | empty req/s | grown req/s | grown p99 (ms) | ratio | target | pass/fail |\n|---|--:|--:|--:|--:|--:|---|---|",
                st.store.as_str(),
                g.n,
                g.n,
                num(g.populate_seconds),
                num(g.cold_start_ms),
                opt(g.idle_rss_mib)
            );
            for r in &g.rows {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | ≥ {:.0} % | {} |",
                    r.scenario.name(),
                    r.connections,
                    num(r.empty_throughput),
                    opt(r.grown.as_ref().map(|s| s.throughput)),
                    opt(r.grown.as_ref().map(|s| s.p99_ms)),
                    r.ratio.map(|x| format!("{:.0} %", x * 100.0)).unwrap_or_else(|| "—".into()),
                    GROWTH_MIN_RATIO * 100.0,
                    match r.pass {
                        Some(true) => "pass",
                        Some(false) => "**FAIL**",
                        None => "**ERROR**",
                    }
                );
            }
        }
    }

    fn sweep_section(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "\n## Sweep (plotted in the PNG)\n\n| scenario | store | conns | req/s | p50 (ms) | p99 (ms) | errors | server CPU µs/op |\n|---|---|--:|--:|--:|--:|--:|--:|"
        );
        for st in &self.stores {
            for r in &st.scenarios {
                for p in r.sweep.iter().chain(r.at_80.iter()) {
                    let conns = match p.offered_rate {
                        Some(rate) => format!("{} (paced {}/s)", p.connections, num(rate)),
                        None => p.connections.to_string(),
                    };
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {} | {} | {} |",
                        r.scenario.name(),
                        st.store.as_str(),
                        conns,
                        num(p.throughput),
                        num(p.p50_ms),
                        num(p.p99_ms),
                        p.errors,
                        opt(p.server_cpu_us_per_op)
                    );
                }
            }
        }
    }
}
