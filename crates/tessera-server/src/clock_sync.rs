//! Clock skew between nodes (issue 19, fault test 5). Nodes sharing a PostgreSQL database
//! decide expiry with their own clocks: a node whose clock lags by S seconds would accept a
//! code, a refresh token or a client assertion S seconds after it expired. So every node
//! compares its clock with the database server's, every [`EVERY`], and runs on the
//! database's time when it lags ([`CorrectedClock`]): no node is behind the shared clock,
//! and a node ahead of it only refuses a little early. Replay caches stay safe either way:
//! an entry is kept until the `exp` it guards plus the leeway, whatever clock wrote it, and
//! purged only `housekeeping.grace` later.
//!
//! The measurement is the database's `clock_timestamp()` against the midpoint of the
//! round trip; only the whole seconds of lag that are certain (beyond half the round trip)
//! are corrected. SQLite has one node and nothing to compare with.

use std::time::Duration;

use tessera_core::clock::{system_millis, CorrectedClock};

use crate::app::AppState;
use crate::store::SqlStore;

/// How often the offset is measured.
pub const EVERY: Duration = Duration::from_secs(10);

/// A lag (or lead) at least this large is logged as a warning: the node's time service is
/// not doing its job.
const WARN_AT_MS: i64 = 2_000;

/// The database's clock minus this node's, in milliseconds, and the uncertainty (half the
/// round trip); `None` on SQLite.
pub async fn measure(sql: &SqlStore) -> Result<Option<(i64, i64)>, String> {
    let sent = system_millis();
    let Some(db) = sql.database_millis().await.map_err(|e| e.to_string())? else { return Ok(None) };
    let received = system_millis();
    let midpoint = sent + (received - sent) / 2;
    Ok(Some((db - midpoint, (received - sent + 1) / 2)))
}

/// The correction for a measured offset: the whole seconds this node certainly lags.
pub fn correction(offset_ms: i64, uncertainty_ms: i64) -> i64 {
    (offset_ms - uncertainty_ms).max(0) / 1000
}

/// Measures now and every [`EVERY`] after, correcting `clock`.
pub async fn run(state: AppState, clock: CorrectedClock) {
    let mut tick = tokio::time::interval(EVERY);
    let mut warned = false;
    loop {
        tick.tick().await;
        match measure(&state.deployment.sql).await {
            Ok(Some((offset, uncertainty))) => {
                let seconds = correction(offset, uncertainty);
                if seconds != clock.correction() {
                    tracing::info!(correction_seconds = seconds, offset_ms = offset, "following the database server's clock");
                }
                clock.set_correction(seconds);
                state.metrics.clock_offset(offset, seconds);
                let far = offset.abs() >= WARN_AT_MS;
                if far && !warned {
                    let (way, fix) = if offset > 0 {
                        ("behind", "running on the database's time")
                    } else {
                        ("ahead of", "it refuses expiring requests early")
                    };
                    tracing::warn!(
                        offset_ms = offset,
                        "this node's clock is {} ms {way} the database server's; {fix}; check its time service (NTP)",
                        offset.abs()
                    );
                }
                warned = far;
            }
            Ok(None) => return,
            Err(e) => tracing::debug!(error = %e, "cannot read the database server's clock; keeping the last correction"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::correction;

    #[test]
    fn only_certain_whole_seconds_of_lag_are_corrected() {
        assert_eq!(correction(8_400, 3), 8);
        assert_eq!(correction(999, 0), 0);
        assert_eq!(correction(1_200, 300), 0, "lag within the round trip's uncertainty");
        assert_eq!(correction(-5_000, 2), 0, "a node ahead is not moved back");
        assert_eq!(correction(60_000, 10), 59);
    }
}
