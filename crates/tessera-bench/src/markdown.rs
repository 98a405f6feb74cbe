//! The Markdown report (also printed on stdout): the headline table, one row per scenario
//! and store at its best connection count, then process checks, errors, growth and the
//! full sweep (the PNG's data).

use std::fmt::Write as _;

use crate::report::{Check, Report, GROWTH_MIN_RATIO, MGMT_P99_AT_80_MS, NODES_MIN_RATIO};

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
             warm-up {} s, {} s per point{}{}; server log level `{}`{}.\n",
            self.cores,
            s.client_threads,
            if s.client_threads == 1 { "" } else { "s" },
            s.connections,
            s.warmup_s,
            s.duration_s,
            s.requests.map(|r| format!(" or {r} requests")).unwrap_or_default(),
            if s.repeat > 1 {
                format!(", each point the best of {} runs (highest throughput; paced: lowest p99)", s.repeat)
            } else {
                String::new()
            },
            s.server_log_level,
            if s.quick { "; **quick mode** (short runs: indicative only)" } else { "" },
        );
        let _ = writeln!(
            md,
            "p99 @80 %: each paced run offers 80 % of the throughput a closed-loop run at the best connection count \
             measured just before it (the capacity of shared cores drifts within minutes).\n"
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
        self.mgmt_section(&mut md);
        self.nodes_section(&mut md);
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
            let _ = writeln!(
                md,
                "| {} | peak RSS under load without login_flow (MiB) | {} | — | — |",
                st.store.as_str(),
                opt(st.peak_rss_without_login_mib)
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

    fn mgmt_section(&self, md: &mut String) {
        for st in &self.stores {
            let Some(m) = &st.mgmt else { continue };
            let _ = writeln!(
                md,
                "\n## Management API, {}: {} users and {} audit-log entries\n\nLoaded in {} s; cold start {} ms. \
                 The `mgmt_*` rows above ran on this store; the lists' and searches' target is p99 ≤ {} ms at 80 % of peak \
                 (paced over at least 4 connections); `mgmt_clients_create` is reported only.",
                st.store.as_str(),
                m.users,
                m.log_entries,
                num(m.populate_seconds),
                num(m.cold_start_ms),
                MGMT_P99_AT_80_MS
            );
        }
    }

    fn growth_section(&self, md: &mut String) {
        for st in &self.stores {
            let Some(g) = &st.growth else { continue };
            let _ = writeln!(
                md,
                "\n## Growth, {}: {} users and {} live refresh families\n\nLoaded in {} s; cold start {} ms; idle RSS {} MiB.\n\n\
                 | scenario | conns | empty req/s | grown req/s | grown p99 (ms) | ratio | CPU µs/op empty → grown | target | pass/fail |\n\
                 |---|--:|--:|--:|--:|--:|--:|---|---|",
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
                    "| {} | {} | {} | {} | {} | {} | {} → {} | ≥ {:.0} % | {} |",
                    r.scenario.name(),
                    r.connections,
                    num(r.empty_throughput),
                    opt(r.grown.as_ref().map(|s| s.throughput)),
                    opt(r.grown.as_ref().map(|s| s.p99_ms)),
                    r.ratio.map(|x| format!("{:.0} %", x * 100.0)).unwrap_or_else(|| "—".into()),
                    opt(r.empty_cpu_us_per_op),
                    opt(r.grown.as_ref().and_then(|s| s.server_cpu_us_per_op)),
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

    fn nodes_section(&self, md: &mut String) {
        for st in &self.stores {
            let Some(nodes) = &st.nodes else { continue };
            let ready: Vec<String> = nodes.ready_ms.iter().map(|ms| num(*ms)).collect();
            let _ = writeln!(
                md,
                "\n## {} nodes on one {} database\n\n\
                 Connections dealt round robin over the nodes; one node and all nodes measured alternately with the same \
                 connections, the best run of each kept. Extra nodes ready in {} ms.\n\n\
                 | scenario | conns | one node req/s | all nodes req/s | per node req/s | CPU % per node | all / one | target | pass/fail |\n\
                 |---|--:|--:|--:|---|---|--:|---|---|",
                nodes.n,
                st.store.as_str(),
                ready.join(", ")
            );
            for r in &nodes.rows {
                let all = r.all_nodes.as_ref();
                let each = |f: fn(&crate::load::NodeStats) -> Option<f64>| {
                    all.map(|a| a.per_node.iter().map(|n| opt(f(n))).collect::<Vec<_>>().join(" + "))
                        .unwrap_or_else(|| "—".into())
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.scenario.name(),
                    r.connections,
                    opt(r.one_node.as_ref().map(|s| s.throughput)),
                    opt(all.map(|s| s.throughput)),
                    each(|n| Some(n.throughput)),
                    each(|n| n.server_cpu_pct),
                    r.ratio.map(|x| format!("{:.0} %", x * 100.0)).unwrap_or_else(|| "—".into()),
                    if r.pass.is_some() { format!("≥ {:.0} %", NODES_MIN_RATIO * 100.0) } else { "—".into() },
                    match (r.pass, &r.error) {
                        (_, Some(_)) => "**ERROR**",
                        (Some(true), _) => "pass",
                        (Some(false), _) => "**FAIL**",
                        (None, None) => "—",
                    }
                );
            }
            for r in nodes.rows.iter().filter(|r| r.error.is_some()) {
                let _ = writeln!(md, "\n- {}: {}", r.scenario.name(), r.error.as_deref().unwrap_or_default());
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
                        Some(rate) => format!(
                            "{} (paced {}/s, {} % sent late)",
                            p.connections,
                            num(rate),
                            num(100.0 * p.late as f64 / p.requests.max(1) as f64)
                        ),
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
