//! Single sign-on sessions: what the browser's session cookie points to.
//!
//! - A new session (new cookie value, new `sid`) at every login, so a session id planted
//!   before login is worthless after it (OWASP session fixation).
//! - The cookie value is 256 random bits; the store keeps only its keyed hash.
//! - An idle lifetime that each use slides, and an absolute one that nothing extends.

use crate::crypto::{random_token, Keyring};
use crate::error::Error;
use crate::state::Session;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_lifetime: i64,
    pub absolute_lifetime: i64,
}

/// A new session for `user_id`, authenticated at `now`: the cookie value and the record.
pub fn start(user_id: &str, now: i64, policy: &SessionPolicy, keyring: &Keyring) -> (String, Session) {
    let cookie = random_token::<32>();
    let absolute = now + policy.absolute_lifetime;
    let session = Session {
        session_hash: keyring.hash_handle(&cookie),
        sid: random_token::<16>(),
        user_id: user_id.to_string(),
        auth_time: now,
        created_at: now,
        last_seen_at: now,
        idle_expires_at: (now + policy.idle_lifetime).min(absolute),
        absolute_expires_at: absolute,
        ended_at: None,
    };
    (cookie, session)
}

/// The active session a cookie names, its idle expiry slid forward; `None` if there is
/// none, it ended or expired, or its user was deleted or blocked (which ends it).
pub async fn resume(
    store: &dyn Store,
    keyring: &Keyring,
    cookie: &str,
    now: i64,
    policy: &SessionPolicy,
) -> Result<Option<Session>, Error> {
    let hash = keyring.hash_handle(cookie);
    let Some(mut session) = store.get_session(&hash).await? else { return Ok(None) };
    if !session.is_active(now) {
        return Ok(None);
    }
    if store.get_user(&session.user_id).await?.is_none_or(|u| u.blocked) {
        store.end_session(&hash, now).await?;
        return Ok(None);
    }
    let idle = (now + policy.idle_lifetime).min(session.absolute_expires_at);
    store.touch_session(&hash, now, idle).await?;
    session.last_seen_at = now;
    session.idle_expires_at = idle;
    Ok(Some(session))
}

/// Ends the session a cookie names; `true` if it was active.
pub async fn end(store: &dyn Store, keyring: &Keyring, cookie: &str, now: i64) -> Result<bool, Error> {
    Ok(store.end_session(&keyring.hash_handle(cookie), now).await?)
}
