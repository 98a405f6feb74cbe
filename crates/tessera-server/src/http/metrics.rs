//! Prometheus metrics in the text exposition format: requests and latency per route and
//! status, tokens issued per grant, errors per RFC code. Routes are labelled by their
//! template (`MatchedPath`), never the raw path, so label cardinality stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use tessera_core::ErrorCode;

use crate::store::housekeeping::Purge;

/// Latency bucket bounds in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Data {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    tokens: BTreeMap<&'static str, u64>,
    errors: BTreeMap<&'static str, u64>,
    purged: BTreeMap<&'static str, u64>,
    purge_failures: BTreeMap<&'static str, u64>,
    purge_passes: u64,
    purge_last_pass: i64,
    clock_offset_ms: i64,
    clock_correction: i64,
}

/// One short critical section per request: cheaper than the signature it accompanies.
#[derive(Default)]
pub struct Metrics {
    data: Mutex<Data>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        match self.data.lock() {
            Ok(mut d) => f(&mut d),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.with(|d| {
            // Look up before inserting: after the first request per key nothing allocates.
            match d.requests.iter_mut().find(|((r, m, s), _)| r == route && m == method && *s == status) {
                Some((_, n)) => *n += 1,
                None => {
                    d.requests.insert((route.to_string(), method.to_string(), status), 1);
                }
            }
            if !d.latency.contains_key(route) {
                d.latency.insert(route.to_string(), Histogram::default());
            }
            let Some(h) = d.latency.get_mut(route) else { return };
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        });
    }

    pub fn token_issued(&self, grant_type: &'static str) {
        self.with(|d| *d.tokens.entry(grant_type).or_default() += 1);
    }

    pub fn error(&self, code: ErrorCode) {
        self.with(|d| *d.errors.entry(code.as_str()).or_default() += 1);
    }

    /// Background purging (crate::housekeeping): `n` rows of `table` deleted by this node.
    pub fn purged(&self, table: &'static str, n: u64) {
        self.with(|d| *d.purged.entry(table).or_default() += n);
    }

    pub fn purge_failed(&self, table: &'static str) {
        self.with(|d| *d.purge_failures.entry(table).or_default() += 1);
    }

    /// A pass this node made (it held the lease), finished at `at` (Unix seconds).
    pub fn purge_pass(&self, at: i64) {
        self.with(|d| {
            d.purge_passes += 1;
            d.purge_last_pass = at;
        });
    }

    /// The database server's clock minus this node's (crate::clock_sync), and the seconds
    /// this node's clock is moved forward by.
    pub fn clock_offset(&self, offset_ms: i64, correction: i64) {
        self.with(|d| {
            d.clock_offset_ms = offset_ms;
            d.clock_correction = correction;
        });
    }

    pub fn render(&self) -> String {
        self.with(|d| {
            let mut out = String::new();
            out.push_str("# HELP tessera_http_requests_total HTTP requests by route template, method and status.\n");
            out.push_str("# TYPE tessera_http_requests_total counter\n");
            for ((route, method, status), n) in &d.requests {
                let _ = writeln!(
                    out,
                    "tessera_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                    escape(route),
                    escape(method)
                );
            }
            out.push_str("# HELP tessera_http_request_duration_seconds Request latency by route template.\n");
            out.push_str("# TYPE tessera_http_request_duration_seconds histogram\n");
            for (route, h) in &d.latency {
                let r = escape(route);
                for (i, bound) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "tessera_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{bound}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(out, "tessera_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "tessera_http_request_duration_seconds_sum{{route=\"{r}\"}} {}", h.sum);
                let _ = writeln!(out, "tessera_http_request_duration_seconds_count{{route=\"{r}\"}} {}", h.count);
            }
            out.push_str("# HELP tessera_tokens_issued_total Token responses by grant type.\n");
            out.push_str("# TYPE tessera_tokens_issued_total counter\n");
            for (g, n) in &d.tokens {
                let _ = writeln!(out, "tessera_tokens_issued_total{{grant_type=\"{}\"}} {n}", escape(g));
            }
            out.push_str("# HELP tessera_oauth_errors_total Protocol error responses by RFC error code.\n");
            out.push_str("# TYPE tessera_oauth_errors_total counter\n");
            for code in ErrorCode::ALL {
                let n = d.errors.get(code.as_str()).copied().unwrap_or(0);
                let _ = writeln!(out, "tessera_oauth_errors_total{{error=\"{}\"}} {n}", code.as_str());
            }
            out.push_str("# HELP tessera_purged_rows_total Expired rows this node's background purge deleted, by table.\n");
            out.push_str("# TYPE tessera_purged_rows_total counter\n");
            for p in Purge::ALL {
                let n = d.purged.get(p.table()).copied().unwrap_or(0);
                let _ = writeln!(out, "tessera_purged_rows_total{{table=\"{}\"}} {n}", p.table());
            }
            out.push_str("# HELP tessera_purge_failures_total Purge batches that failed (tried again next pass), by table.\n");
            out.push_str("# TYPE tessera_purge_failures_total counter\n");
            for p in Purge::ALL {
                let n = d.purge_failures.get(p.table()).copied().unwrap_or(0);
                let _ = writeln!(out, "tessera_purge_failures_total{{table=\"{}\"}} {n}", p.table());
            }
            out.push_str("# HELP tessera_purge_passes_total Purge passes this node made while holding the lease.\n");
            out.push_str("# TYPE tessera_purge_passes_total counter\n");
            let _ = writeln!(out, "tessera_purge_passes_total {}", d.purge_passes);
            out.push_str("# HELP tessera_purge_last_pass_timestamp_seconds When this node last finished a purge pass.\n");
            out.push_str("# TYPE tessera_purge_last_pass_timestamp_seconds gauge\n");
            let _ = writeln!(out, "tessera_purge_last_pass_timestamp_seconds {}", d.purge_last_pass);
            out.push_str(
                "# HELP tessera_database_clock_offset_seconds The PostgreSQL server's clock minus this node's, last measured.\n",
            );
            out.push_str("# TYPE tessera_database_clock_offset_seconds gauge\n");
            let _ = writeln!(out, "tessera_database_clock_offset_seconds {}", d.clock_offset_ms as f64 / 1000.0);
            out.push_str(
                "# HELP tessera_clock_correction_seconds Seconds this node's clock is moved forward to the database's.\n",
            );
            out.push_str("# TYPE tessera_clock_correction_seconds gauge\n");
            let _ = writeln!(out, "tessera_clock_correction_seconds {}", d.clock_correction);
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::new();
        m.observe_request("/oauth/token", "POST", 200, 0.002);
        m.observe_request("/oauth/token", "POST", 200, 0.2);
        m.token_issued("authorization_code");
        m.error(ErrorCode::InvalidGrant);
        let text = m.render();
        assert!(text.contains("tessera_http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"200\"} 2\n"));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{route=\"/oauth/token\",le=\"0.0025\"} 1\n"));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{route=\"/oauth/token\",le=\"0.25\"} 2\n"));
        assert!(text.contains("tessera_http_request_duration_seconds_count{route=\"/oauth/token\"} 2\n"));
        assert!(text.contains("tessera_tokens_issued_total{grant_type=\"authorization_code\"} 1\n"));
        assert!(text.contains("tessera_oauth_errors_total{error=\"invalid_grant\"} 1\n"));
        assert!(text.contains("tessera_oauth_errors_total{error=\"invalid_client\"} 0\n"));
        m.purged("sessions", 3);
        m.purged("sessions", 2);
        m.purge_pass(1_700_000_000);
        let text = m.render();
        assert!(text.contains("tessera_purged_rows_total{table=\"sessions\"} 5\n"));
        assert!(text.contains("tessera_purged_rows_total{table=\"refresh_tokens\"} 0\n"));
        assert!(text.contains("tessera_purge_passes_total 1\n"));
        assert!(text.contains("tessera_purge_last_pass_timestamp_seconds 1700000000\n"));
    }
}
