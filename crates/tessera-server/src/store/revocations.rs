//! Revoked access tokens, mirrored in memory so that checking a presented access token
//! (token exchange, introspection, userinfo, the management API) costs no database read.
//!
//! RFC 7009 §2 lets the authorization server invalidate a token at once; issue 20 asks token
//! exchange to cost no more than client_credentials, and a read per exchange cost it a
//! quarter of its throughput on PostgreSQL. The mirror keeps the guarantee a read gave:
//! - on the node that revokes, the revoked `jti`s enter the mirror as the transaction
//!   commits (before the revoking request is answered);
//! - every revocation transaction on PostgreSQL also sends `NOTIFY` on
//!   [`REVOCATION_CHANNEL`], on which every node re-reads the recent revocations at once;
//! - every node re-reads them every second as the backstop (a lost listener, the CLI or
//!   another process writing the SQLite file);
//! - the mirror answers only while its last re-read started less than [`FRESH_FOR`] ago;
//!   otherwise (the database is down, the sync stopped, a CLI process that never syncs)
//!   the check reads the database as before, so a stale mirror never lets a token through.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The channel revocations are announced on (PostgreSQL `NOTIFY`).
pub const REVOCATION_CHANNEL: &str = "tessera_revocations";

/// How long after a re-read began the mirror may answer without another one.
pub const FRESH_FOR: Duration = Duration::from_secs(3);

/// Each re-read looks this far behind the previous one: `revoked_at` comes from the
/// revoking node's clock (within the deployment's clock leeway of ours) and is set when its
/// transaction ran, which commits within the statement timeout.
const OVERLAP_SECONDS: i64 = 120;

#[derive(Default)]
pub struct Revocations {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Revoked `jti` → the token's `exp`; dropped once expired (the token fails on `exp`).
    revoked: HashMap<String, i64>,
    /// When the last successful re-read began.
    synced_at: Option<Instant>,
    /// The `revoked_at` from which the next re-read reads.
    read_from: i64,
}

impl Revocations {
    /// `Some(revoked)` while the mirror is fresh, `None` when the caller must read the store.
    pub fn check(&self, jti: &str) -> Option<bool> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = inner.synced_at.is_some_and(|t| t.elapsed() < FRESH_FOR);
        fresh.then(|| inner.revoked.contains_key(jti))
    }

    /// Records revocations this node just committed.
    pub fn note(&self, revoked: impl IntoIterator<Item = (String, i64)>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.revoked.extend(revoked);
    }

    /// Where the next re-read starts.
    pub fn read_from(&self) -> i64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).read_from
    }

    /// Merges a re-read that began at `began` (its rows revoked at or after
    /// [`Revocations::read_from`]) and drops what has expired by `now`.
    pub fn merge(&self, rows: Vec<(String, i64)>, began: Instant, now: i64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.revoked.extend(rows);
        inner.revoked.retain(|_, exp| *exp > now);
        inner.read_from = inner.read_from.max(now - OVERLAP_SECONDS);
        if inner.synced_at.is_none_or(|t| t < began) {
            inner.synced_at = Some(began);
        }
    }

    /// How many revoked, unexpired access tokens the mirror holds.
    pub fn count(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).revoked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_while_fresh_and_forgets_expired_tokens() {
        let r = Revocations::default();
        assert_eq!(r.check("a"), None, "never synced: the caller reads the store");
        r.note([("a".to_string(), 100)]);
        assert_eq!(r.check("a"), None, "a note alone does not make the mirror fresh");
        r.merge(vec![("b".into(), 200)], Instant::now(), 50);
        assert_eq!(r.check("a"), Some(true));
        assert_eq!(r.check("b"), Some(true));
        assert_eq!(r.check("c"), Some(false));
        assert_eq!(r.read_from(), 0, "the first re-read read everything; the next looks back from now");
        r.merge(vec![], Instant::now(), 150);
        assert_eq!(r.check("a"), Some(false), "expired at 100: dropped");
        assert_eq!(r.check("b"), Some(true));
        assert_eq!(r.read_from(), 150 - OVERLAP_SECONDS);
        r.merge(vec![], Instant::now() - FRESH_FOR - Duration::from_millis(1), 150);
        assert_eq!(r.check("b"), Some(true), "an older re-read does not make the mirror stale");
        let stale = Revocations::default();
        stale.merge(vec![], Instant::now() - FRESH_FOR - Duration::from_millis(1), 0);
        assert_eq!(stale.check("x"), None, "a re-read older than FRESH_FOR is not trusted");
    }
}
