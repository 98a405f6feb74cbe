//! Background purging (issue 19): every node runs this loop; each pass first takes a lease
//! in the database, so with N nodes one of them does a pass per interval instead of N. A
//! pass deletes, table by table, in bounded batches, what no request can use any more
//! (the rules are in [`crate::store::housekeeping`]), and counts it in `/metrics`.
//!
//! The lease is an optimisation, not a guard: a node that lost its lease in a pause and a
//! node that took it over may both purge for a while, and delete nothing twice.

use std::time::Duration;

use crate::app::AppState;
use crate::store::housekeeping::Purge;

/// The lease's name in the `leases` table.
const LEASE: &str = "purge";

/// Batches per table per pass at most, so that a backlog (a node that was down for a week)
/// is worked off over several passes instead of one long one.
const MAX_BATCHES: u32 = 100;

/// The cut-off for `what`: rows whose deciding time is before it are gone for good.
fn cutoff(state: &AppState, what: Purge, now: i64) -> i64 {
    let config = &state.deployment.config;
    let grace = config.housekeeping.grace;
    match what {
        Purge::AuditEvents => now - config.audit.retention_days * 86_400,
        // A counter's failures are forgotten `block_seconds` after its window opened.
        Purge::LoginThrottle => now - config.login.block_seconds - grace,
        _ => now - grace,
    }
}

/// One pass over every table; how many rows went in all.
pub async fn pass(state: &AppState) -> u64 {
    let sql = &state.deployment.sql;
    let batch = state.deployment.config.housekeeping.batch;
    let mut total = 0;
    for what in Purge::ALL {
        let cut = cutoff(state, what, state.now());
        for _ in 0..MAX_BATCHES {
            match sql.purge_batch(what, cut, batch).await {
                Ok(n) => {
                    if n > 0 {
                        state.metrics.purged(what.table(), n);
                    }
                    total += n;
                    if n < batch as u64 {
                        break;
                    }
                    // Between batches, let the request path's writes in (SQLite has one writer).
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    state.metrics.purge_failed(what.table());
                    tracing::warn!(table = what.table(), error = %e, "cannot purge expired rows; trying again next pass");
                    break;
                }
            }
        }
    }
    state.metrics.purge_pass(state.now());
    total
}

/// Runs a pass every `housekeeping.interval` seconds while this node holds the lease.
pub async fn run(state: AppState) {
    let interval = state.deployment.config.housekeeping.interval;
    let holder = tessera_core::crypto::random_token::<16>();
    let mut tick = tokio::time::interval(Duration::from_secs(interval as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = state.now();
        // Held for a little less than the interval, so the holder's next tick renews it and
        // another node takes over within an interval once the holder is gone.
        let until = now + (interval - 1).max(1);
        match state.deployment.sql.claim_lease(LEASE, &holder, now, until).await {
            Ok(true) => {
                let purged = pass(&state).await;
                if purged > 0 {
                    tracing::debug!(purged, "purged expired rows");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot take the purge lease; trying again next interval"),
        }
    }
}
