//! The load generator: a fixed number of keep-alive connections, each a closed loop (send,
//! wait for the answer, record, repeat), or, when a rate is given, each paced on its own
//! fixed schedule (open loop). A paced request is released within one timer tick of its
//! slot (the timer cannot wake more precisely, and slots at high rates are closer than a
//! tick) and timed from when it is sent; one that is late because an earlier answer was
//! slow is timed from its slot, so that delay is charged to the server (no coordinated
//! omission).
//!
//! A run always ends by itself: at the deadline, after the request budget, or when a
//! scenario runs out of prepared material. Operations that start during the warm-up are
//! not recorded. Server CPU time is read at the end of the warm-up and at the end of the
//! run; resident memory is sampled every 100 ms throughout.
//!
//! The load can be spread over several nodes of one deployment ([`Target`]s): connection
//! `i` goes to node `i mod N` (round robin), CPU is the sum over the nodes, and each node's
//! share is reported ([`NodeStats`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use crate::http::Conn;
use crate::procstat::{self, RssSampler};
use crate::scenarios::{Outcome, Work};

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Measured operations to send in all (shared by the connections); the duration still
    /// bounds the run.
    pub requests: Option<u64>,
    /// Total operations per second, for a paced (open-loop) run.
    pub rate: Option<f64>,
}

/// One server process the load goes to.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    pub pid: u32,
}

/// One node's share of a run spread over several.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStats {
    pub port: u16,
    pub connections: usize,
    pub throughput: f64,
    /// This node's CPU over the measured part, in % of one core.
    pub server_cpu_pct: Option<f64>,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunStats {
    pub connections: usize,
    /// Paced runs: the offered rate.
    pub offered_rate: Option<f64>,
    /// Measured operations, answered or not.
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Server CPU over the measured part, in % of one core.
    pub server_cpu_pct: Option<f64>,
    /// Server CPU per operation, in microseconds.
    pub server_cpu_us_per_op: Option<f64>,
    /// Peak server RSS during the run (warm-up included), MiB.
    pub server_rss_peak_mib: Option<f64>,
    /// Paced runs: measured operations sent behind their slot (an earlier answer was slow),
    /// timed from the slot.
    pub late: u64,
    /// A run cut short because prepared material (codes, refresh chains) ran out.
    pub exhausted: bool,
    pub first_error: Option<String>,
    /// Runs over several nodes: each node's share (empty for one node).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_node: Vec<NodeStats>,
}

/// The resolution of tokio's timer: a sleep ends on the first tick at or after its deadline.
const TIMER_TICK: Duration = Duration::from_millis(1);

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 60 s at 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| unreachable!())
}

struct ConnResult {
    hist: Histogram<u64>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    late: u64,
    exhausted: bool,
    finished: Instant,
}

fn cpu_ticks(targets: &[Target]) -> Option<Vec<u64>> {
    targets.iter().map(|t| procstat::cpu_ticks(t.pid)).collect()
}

/// Runs one plan with one [`Work`] per connection, the connections dealt round robin over
/// `targets` (at least one); returns the stats and the works (so a scenario can take back
/// what they hold). Peak RSS is the first target's.
pub async fn run(targets: &[Target], plan: Plan, works: Vec<Work>) -> Result<(RunStats, Vec<Work>), String> {
    let first = *targets.first().ok_or("no server to load")?;
    let mut conns = Vec::with_capacity(works.len());
    for i in 0..works.len() {
        conns.push(Conn::open(targets[i % targets.len()].addr).await?);
    }
    let n = works.len().max(1);
    let budget = Arc::new(AtomicI64::new(plan.requests.map(|r| r as i64).unwrap_or(i64::MAX)));
    let sampler = RssSampler::start(first.pid);
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let interval = plan.rate.map(|r| Duration::from_secs_f64(n as f64 / r.max(0.001)));

    let mut tasks = Vec::with_capacity(n);
    for (i, (mut work, mut conn)) in works.into_iter().zip(conns).enumerate() {
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = ConnResult {
                hist: new_histogram(),
                ok: 0,
                errors: 0,
                first_error: None,
                late: 0,
                exhausted: false,
                finished: start,
            };
            // Paced connections start staggered over one interval.
            let mut next = interval.map(|iv| start + iv.mul_f64(i as f64 / n as f64));
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let (t0, late) = match (next.as_mut(), interval) {
                    (Some(at), Some(iv)) => {
                        if *at >= end {
                            break;
                        }
                        let scheduled = *at;
                        *at += iv;
                        if now + TIMER_TICK < scheduled {
                            // Ahead: wait until one timer tick before the slot. The timer
                            // fires on its millisecond ticks, so a wait for the slot itself
                            // would end up to a tick after it, and the next slot, due sooner
                            // than that at high rates, would charge our oversleep to the
                            // server. Released within a tick of its slot instead, a request
                            // keeps the offered rate (the schedule is fixed) and its clock
                            // starts when it is sent.
                            tokio::time::sleep_until(scheduled - TIMER_TICK).await;
                            (Instant::now(), false)
                        } else if now < scheduled {
                            // Within a tick of the slot: send now.
                            (now, false)
                        } else {
                            // Behind schedule because an earlier answer was slow: the wait
                            // since the slot is the server's (no coordinated omission).
                            (scheduled, true)
                        }
                    }
                    _ => (now, false),
                };
                let measured = t0 >= measure_from;
                if measured && budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
                    break;
                }
                let outcome = work.op(&mut conn).await;
                let latency = Instant::now().duration_since(t0);
                match outcome {
                    Outcome::Exhausted => {
                        r.exhausted = true;
                        break;
                    }
                    _ if !measured => {}
                    Outcome::Ok => {
                        r.ok += 1;
                        r.late += u64::from(late);
                        r.hist.saturating_record(latency.as_micros().max(1) as u64);
                    }
                    Outcome::Failed(e) => {
                        r.errors += 1;
                        r.late += u64::from(late);
                        r.hist.saturating_record(latency.as_micros().max(1) as u64);
                        r.first_error.get_or_insert(e);
                    }
                }
            }
            r.finished = Instant::now();
            (work, r)
        }));
    }

    // Server CPU over the measured part only.
    tokio::time::sleep_until(measure_from).await;
    let cpu0 = cpu_ticks(targets);
    let mut results = Vec::with_capacity(n);
    for t in tasks {
        results.push(t.await.map_err(|e| format!("a load connection failed: {e}"))?);
    }
    let cpu1 = cpu_ticks(targets);
    let rss_peak = sampler.finish(first.pid).await;

    let finished = results.iter().map(|(_, r)| r.finished).max().unwrap_or(end);
    let seconds = finished.saturating_duration_since(measure_from).as_secs_f64().max(1e-9);
    let mut hist = new_histogram();
    let (mut ok, mut errors, mut late, mut exhausted, mut first_error) = (0, 0, 0, false, None);
    let mut works = Vec::with_capacity(n);
    let mut node_ok = vec![0u64; targets.len()];
    for (i, (work, r)) in results.into_iter().enumerate() {
        node_ok[i % targets.len()] += r.ok;
        let _ = hist.add(&r.hist);
        ok += r.ok;
        errors += r.errors;
        late += r.late;
        exhausted |= r.exhausted;
        if first_error.is_none() {
            first_error = r.first_error;
        }
        works.push(work);
    }
    let requests = ok + errors;
    let ms = |q: f64| {
        if hist.is_empty() {
            0.0
        } else {
            hist.value_at_quantile(q) as f64 / 1000.0
        }
    };
    // Per node, then in all.
    let node_cpu: Option<Vec<f64>> = match (&cpu0, &cpu1) {
        (Some(a), Some(b)) => {
            Some(a.iter().zip(b).map(|(a, b)| b.saturating_sub(*a) as f64 / procstat::ticks_per_second()).collect())
        }
        _ => None,
    };
    let cpu_seconds = node_cpu.as_ref().map(|c| c.iter().sum::<f64>());
    let per_node = if targets.len() < 2 {
        Vec::new()
    } else {
        targets
            .iter()
            .enumerate()
            .map(|(k, t)| NodeStats {
                port: t.addr.port(),
                connections: (0..n).filter(|i| i % targets.len() == k).count(),
                throughput: node_ok[k] as f64 / seconds,
                server_cpu_pct: node_cpu.as_ref().map(|c| 100.0 * c[k] / seconds),
            })
            .collect()
    };
    let stats = RunStats {
        connections: n,
        offered_rate: plan.rate,
        requests,
        errors,
        seconds,
        throughput: ok as f64 / seconds,
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: if hist.is_empty() { 0.0 } else { hist.max() as f64 / 1000.0 },
        server_cpu_pct: cpu_seconds.map(|c| 100.0 * c / seconds),
        server_cpu_us_per_op: cpu_seconds.filter(|_| requests > 0).map(|c| 1e6 * c / requests as f64),
        server_rss_peak_mib: (rss_peak > 0).then(|| rss_peak as f64 / 1024.0),
        late,
        exhausted,
        first_error,
        per_node,
    };
    Ok((stats, works))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::flows::Flows;
    use crate::scenarios::{Pools, Scenario};
    use crate::seed::Seed;

    /// A keep-alive HTTP/1.1 server that answers every request with a fixed 200.
    async fn tiny_server() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut pending = Vec::new();
                    loop {
                        let Ok(n) = sock.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            pending.drain(..end + 4);
                            let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if sock.write_all(resp).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    fn target(addr: SocketAddr) -> Target {
        Target { addr, pid: std::process::id() }
    }

    fn works(addr: SocketAddr, n: usize) -> Vec<Work> {
        let seed = Seed {
            m2m_client_id: String::new(),
            m2m_client_secret: String::new(),
            web_client_id: String::new(),
            web_client_secret: String::new(),
            device_client_id: String::new(),
            user_email: String::new(),
            user_password: String::new(),
            mgmt: None,
        };
        let flows = Flows::new(addr, seed);
        let pools = Arc::new(Pools::default());
        (0..n).map(|_| Work::new(Scenario::HttpFloor, &flows, &pools)).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_loop_counts_and_ends_on_time() {
        let addr = tiny_server().await;
        let plan = Plan {
            connections: 2,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(400),
            requests: None,
            rate: None,
        };
        let started = std::time::Instant::now();
        let (s, back) = run(&[target(addr)], plan, works(addr, 2)).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(back.len(), 2);
        assert_eq!(s.errors, 0, "{:?}", s.first_error);
        assert!(s.requests > 100 && s.throughput > 100.0, "{s:?}");
        assert!((0.35..1.5).contains(&s.seconds), "{s:?}");
        assert!(s.p50_ms <= s.p99_ms && s.p99_ms <= s.max_ms);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn request_budget_stops_the_run() {
        let addr = tiny_server().await;
        let plan =
            Plan { connections: 3, warmup: Duration::ZERO, duration: Duration::from_secs(20), requests: Some(300), rate: None };
        let started = std::time::Instant::now();
        let (s, _) = run(&[target(addr)], plan, works(addr, 3)).await.unwrap();
        assert_eq!(s.requests, 300);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_are_dealt_round_robin_over_the_nodes() {
        let nodes = [target(tiny_server().await), target(tiny_server().await)];
        let plan = Plan {
            connections: 5,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(400),
            requests: None,
            rate: None,
        };
        let (s, _) = run(&nodes, plan, works(nodes[0].addr, 5)).await.unwrap();
        assert_eq!(s.errors, 0, "{:?}", s.first_error);
        let ports: Vec<u16> = s.per_node.iter().map(|n| n.port).collect();
        assert_eq!(ports, [nodes[0].addr.port(), nodes[1].addr.port()]);
        assert_eq!(s.per_node.iter().map(|n| n.connections).collect::<Vec<_>>(), [3, 2]);
        let sum: f64 = s.per_node.iter().map(|n| n.throughput).sum();
        assert!((sum - s.throughput).abs() < 1e-6 * s.throughput.max(1.0), "{s:?}");
        assert!(s.per_node.iter().all(|n| n.throughput > 50.0), "both nodes served: {s:?}");
        // One node: no breakdown.
        let (one, _) = run(&nodes[..1], plan, works(nodes[0].addr, 2)).await.unwrap();
        assert!(one.per_node.is_empty());
    }

    /// A paced run of 2 connections for 1 s against the tiny server.
    async fn paced(rate: f64) -> RunStats {
        let addr = tiny_server().await;
        let plan = Plan {
            connections: 2,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(1000),
            requests: None,
            rate: Some(rate),
        };
        run(&[target(addr)], plan, works(addr, 2)).await.unwrap().0
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn paced_runs_hold_the_rate_without_inflating_latency() {
        let s = paced(400.0).await;
        assert!((300.0..=420.0).contains(&s.throughput), "{s:?}");
        // An idle loopback server answers in well under a millisecond; timer lateness
        // must not be charged to it.
        assert!(s.p50_ms < 1.0, "{s:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn paced_runs_faster_than_the_timer_tick_hold_the_rate() {
        // Each connection's slots are 1/3 ms apart, closer than the timer can wake. Waiting
        // for each slot would leave every connection a tick behind and charge that to the
        // server; released within a tick, the rate holds and the answers stay fast.
        let s = paced(6000.0).await;
        assert!((4500.0..=6100.0).contains(&s.throughput), "{s:?}");
        // An idle server keeps up, so most requests go out on time (waiting for each slot
        // itself, about four in five went out late).
        assert!(s.late * 3 < s.requests, "{s:?}");
    }
}
