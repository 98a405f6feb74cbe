//! SQL for background purging (issue 19): which rows of which table are gone for good, the
//! bounded batch that deletes them, and the lease that lets one node at a time do a pass.
//!
//! Correctness never depends on the lease: every purge deletes only rows that no request can
//! use any more (expired, spent, ended or revoked before a cut-off the caller sets with a
//! grace period), so two nodes purging at once delete nothing twice and lose nothing. The
//! lease only keeps N nodes from scanning the same tables N times. On PostgreSQL each batch
//! also skips rows a request holds locked (`FOR UPDATE SKIP LOCKED`), so a purge never waits
//! on, or makes wait, the request path.

use tessera_core::store::StoreResult;

use super::db::{query, Db};
use super::SqlStore;

/// A table whose expired rows background work deletes, with its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purge {
    AuthorizationCodes,
    AccessTokens,
    RefreshTokens,
    RefreshFamilies,
    Sessions,
    LoginTransactions,
    LoginThrottle,
    ReplayCache,
    PushedRequests,
    DeviceCodes,
    AuditEvents,
}

impl Purge {
    /// In pass order: refresh tokens before their families, so a family whose last token
    /// went is deleted in the same pass.
    pub const ALL: [Purge; 11] = [
        Purge::AuthorizationCodes,
        Purge::AccessTokens,
        Purge::RefreshTokens,
        Purge::RefreshFamilies,
        Purge::Sessions,
        Purge::LoginTransactions,
        Purge::LoginThrottle,
        Purge::ReplayCache,
        Purge::PushedRequests,
        Purge::DeviceCodes,
        Purge::AuditEvents,
    ];

    pub fn table(self) -> &'static str {
        match self {
            Purge::AuthorizationCodes => "authorization_codes",
            Purge::AccessTokens => "access_tokens",
            Purge::RefreshTokens => "refresh_tokens",
            Purge::RefreshFamilies => "refresh_families",
            Purge::Sessions => "sessions",
            Purge::LoginTransactions => "login_transactions",
            Purge::LoginThrottle => "login_throttle",
            Purge::ReplayCache => "replay_cache",
            Purge::PushedRequests => "pushed_requests",
            Purge::DeviceCodes => "device_codes",
            Purge::AuditEvents => "audit_events",
        }
    }

    /// The key that names a row, and when a row is gone for good: `$1` is the cut-off
    /// (a time; rows whose deciding time is before it go).
    fn rule(self) -> (&'static str, &'static str) {
        match self {
            // A code past its expiry is refused whether or not it was redeemed; a reuse of a
            // purged code is `invalid_grant` like that of an expired one.
            Purge::AuthorizationCodes => ("code_hash", "expires_at < $1"),
            // Expired access tokens fail verification on their `exp`; the row only served
            // revocation and introspection.
            Purge::AccessTokens => ("jti", "expires_at < $1"),
            // Spent (superseded) and current tokens past their idle expiry, and every token of
            // a family that expired or was revoked. A spent token is kept until its own idle
            // expiry, so presenting it again before then is still detected as reuse.
            Purge::RefreshTokens => (
                "token_hash",
                "idle_expires_at < $1 OR family_id IN \
                 (SELECT family_id FROM refresh_families WHERE absolute_expires_at < $1 OR revoked_at < $1)",
            ),
            // Families past their absolute expiry, revoked, or left without any token.
            Purge::RefreshFamilies => (
                "family_id",
                "absolute_expires_at < $1 OR revoked_at < $1 OR (created_at < $1 AND NOT EXISTS \
                 (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.family_id))",
            ),
            Purge::Sessions => ("session_hash", "idle_expires_at < $1 OR absolute_expires_at < $1 OR ended_at < $1"),
            Purge::LoginTransactions => ("txn_hash", "expires_at < $1"),
            // The caller's cut-off for this table is before the failure window: a counter
            // whose window and block have both passed counts nothing any more.
            Purge::LoginThrottle => ("key", "window_start < $1 AND (blocked_until IS NULL OR blocked_until < $1)"),
            Purge::ReplayCache => ("(namespace, jti)", "expires_at < $1"),
            Purge::PushedRequests => ("request_uri_hash", "expires_at < $1"),
            Purge::DeviceCodes => ("device_code_hash", "expires_at < $1"),
            // The caller's cut-off for this table is the retention, not the grace period.
            Purge::AuditEvents => ("id", "at < $1"),
        }
    }
}

impl SqlStore {
    /// Deletes up to `limit` rows of `what` that are gone for good before `cutoff`; how
    /// many went. One short statement: call again while it returns `limit`.
    pub async fn purge_batch(&self, what: Purge, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let (key, condition) = what.rule();
        let selected = key.trim_start_matches('(').trim_end_matches(')');
        let table = what.table();
        let skip_locked = match self.db() {
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Db::Sqlite(_) => "",
        };
        let sql = format!(
            "DELETE FROM {table} WHERE {key} IN (SELECT {selected} FROM {table} WHERE {condition} LIMIT $2{skip_locked})"
        );
        self.db().execute(query(sql).bind(cutoff).bind(limit)).await
    }

    /// Takes the lease `name` for `holder` until `until` if it is free (never taken, or
    /// expired at `now`) or already `holder`'s; whether `holder` has it now. One conditional
    /// statement: of several nodes asking at once, one gets it.
    pub async fn claim_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> StoreResult<bool> {
        self.write_one(
            query(
                "INSERT INTO leases (name, holder, lease_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
                 WHERE leases.lease_until <= $4 OR leases.holder = excluded.holder",
            )
            .bind(name)
            .bind(holder)
            .bind(until)
            .bind(now),
        )
        .await
    }
}
