//! Password login for the hosted login page, with brute-force protection.
//!
//! - Users are found by username or email; an unknown user is verified against a dummy
//!   Argon2id hash and a blocked user fails like a wrong password, so neither the answer
//!   nor its timing reveals whether an account exists (OWASP ASVS 2.2.1, 3.2).
//! - Every attempt is counted per (user, IP) and per IP in the store *before* the slow
//!   hash, one atomic statement each, and only the first `max_failures` of a window have
//!   their password checked: however many attempts run at once on any number of nodes,
//!   at most the limit are verified (OWASP ASVS 2.2.1). Reaching the limit blocks the key
//!   for `block_seconds`; while blocked, even the right password is refused and the
//!   attempt still counts. A successful login takes its own attempt back; earlier
//!   failures in the window stay counted (a success does not reset them, or a parallel
//!   burst could be given a fresh allowance mid-way).
//! - Audit events: `login_failed` for each refused attempt, `login_blocked` when a key
//!   reaches its limit, `login_succeeded`.
//!
//! Verification is split in two ([`begin`], then [`Attempt::finish`]) so the server can run
//! the slow hash off the async executor.

use serde_json::json;

use crate::error::Error;
use crate::model::User;
use crate::password::Verified;
use crate::state::ThrottleState;
use crate::store::{AuditEvent, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Failures per (user, IP) before that pair is blocked.
    pub max_failures: i64,
    /// Failures per IP (all users) before the IP is blocked.
    pub ip_max_failures: i64,
    /// How long a block lasts; also the window in which failures add up.
    pub block_seconds: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LoginResult {
    Success(Box<User>),
    /// Wrong username or password (deliberately not saying which).
    Failed,
    /// Too many failures: refused until `until`.
    Blocked {
        until: i64,
    },
}

/// A login attempt, already counted, whose password still has to be verified against
/// [`Attempt::phc`].
#[derive(Debug)]
pub struct Attempt {
    user: Option<User>,
    login: String,
    user_key: String,
    ip_key: String,
    ip: String,
    client_id: Option<String>,
    /// The counters after this attempt was counted.
    counted: [ThrottleState; 2],
}

pub enum Begin {
    Verify(Box<Attempt>),
    Blocked { until: i64 },
}

/// Looks the user up and counts the attempt on both keys; refuses at once unless it is
/// within the limit of both.
pub async fn begin(
    store: &dyn Store,
    policy: &LoginPolicy,
    login: &str,
    ip: &str,
    client_id: Option<&str>,
    now: i64,
) -> Result<Begin, Error> {
    let login: String = login.trim().chars().take(256).collect();
    // Emails are stored lower-cased; usernames compare exactly.
    let lookup = if login.contains('@') { login.to_ascii_lowercase() } else { login.clone() };
    let user = store.find_user_by_login(&lookup).await?;
    let who = user.as_ref().map(|u| u.user_id.clone()).unwrap_or_else(|| lookup.to_ascii_lowercase());
    let (user_key, ip_key) = (format!("user:{who}|ip:{ip}"), format!("ip:{ip}"));
    // Counted before the hash, one conditional statement per key: concurrent attempts each
    // get their own count, so no more than the limit reach the password check.
    let window = policy.block_seconds;
    let per_user = store.record_failure(&user_key, now, window, policy.max_failures, policy.block_seconds).await?;
    let per_ip = store.record_failure(&ip_key, now, window, policy.ip_max_failures, policy.block_seconds).await?;
    let attempt = Attempt {
        user,
        login,
        user_key,
        ip_key,
        ip: ip.to_string(),
        client_id: client_id.map(str::to_string),
        counted: [per_user, per_ip],
    };
    if !(per_user.permits(policy.max_failures, now) && per_ip.permits(policy.ip_max_failures, now)) {
        attempt.audit(store, "login_failed", json!({"reason": "blocked", "login": attempt.login}), now).await;
        let until = attempt.blocked_until(now).unwrap_or(now + policy.block_seconds);
        return Ok(Begin::Blocked { until });
    }
    Ok(Begin::Verify(Box::new(attempt)))
}

impl Attempt {
    /// The hash to verify the password against: the user's, or a dummy one so that an
    /// unknown user costs the same time.
    pub fn phc(&self) -> String {
        match self.user.as_ref().and_then(|u| u.password_hash.clone()) {
            Some(h) => h,
            None => crate::password::dummy_hash().to_string(),
        }
    }

    /// Concludes the attempt with the outcome of the password verification. A password that
    /// matched an imported hash has that hash replaced by its Argon2id rehash here, with one
    /// conditional update (if the stored hash changed meanwhile, the newer one stays).
    pub async fn finish(
        self,
        store: &dyn Store,
        policy: &LoginPolicy,
        verified: impl Into<Verified>,
        now: i64,
    ) -> Result<LoginResult, Error> {
        let verified = verified.into();
        let mut user = match &self.user {
            Some(u) if verified.ok && u.password_hash.is_some() && !u.blocked => u.clone(),
            _ => return Ok(self.fail(store, policy, now).await),
        };
        if let (Some(old), Some(new)) = (user.password_hash.clone(), verified.rehash) {
            if crate::password::is_imported(&old) && store.replace_password_hash(&user.user_id, &old, &new, now).await? {
                user.password_hash = Some(new);
                user.updated_at = now;
            }
        }
        store.refund_attempt(&self.user_key, policy.max_failures).await?;
        store.refund_attempt(&self.ip_key, policy.ip_max_failures).await?;
        self.audit(store, "login_succeeded", json!({}), now).await;
        Ok(LoginResult::Success(Box::new(user)))
    }

    /// The latest block of either key still in force.
    fn blocked_until(&self, now: i64) -> Option<i64> {
        self.counted.iter().filter_map(|s| s.blocked_until).filter(|t| *t > now).max()
    }

    async fn fail(&self, store: &dyn Store, policy: &LoginPolicy, now: i64) -> LoginResult {
        self.audit(store, "login_failed", json!({"reason": "wrong_credentials", "login": self.login}), now).await;
        // Exactly one attempt sees each counter reach its limit: one event per block.
        let [per_user, per_ip] = self.counted;
        for (state, max, scope) in [(per_user, policy.max_failures, "user_ip"), (per_ip, policy.ip_max_failures, "ip")] {
            if state.failures == max {
                self.audit(store, "login_blocked", json!({"scope": scope, "login": self.login, "failures": max}), now).await;
            }
        }
        match self.blocked_until(now) {
            Some(until) => LoginResult::Blocked { until },
            None => LoginResult::Failed,
        }
    }

    async fn audit(&self, store: &dyn Store, kind: &str, detail: serde_json::Value, now: i64) {
        let event = AuditEvent {
            at: now,
            kind: kind.to_string(),
            client_id: self.client_id.clone(),
            user_id: self.user.as_ref().map(|u| u.user_id.clone()),
            ip: Some(self.ip.clone()),
            detail,
        };
        if let Err(e) = store.record_audit(&event).await {
            tracing::warn!(error = %e, kind, "could not record audit event");
        }
    }
}
