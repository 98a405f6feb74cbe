//! What happens after the checks pass: log in, ask for consent, or issue a code.
//!
//! - OIDC Core §3.1.2.3: the user must (re-)authenticate without an active session, with
//!   `prompt=login`, or when more than `max_age` seconds passed since `auth_time`
//!   (`max_age=0` always: it is equivalent to `prompt=login`, §3.1.2.1 errata set 2).
//! - OIDC Core §3.1.2.1: a session of another user than the one an `id_token_hint` names
//!   is not used: log in again, or `login_required` with `prompt=none`.
//! - OIDC Core §3.1.2.6: with `prompt=none`, needing a login is `login_required` and
//!   needing consent is `consent_required`, sent to the client.
//!
//! The login UI is not protocol code: a [`Pending`] authorization is parked server-side in
//! a login transaction (so any node can continue it) and resumed when the user is done.

use serde::{Deserialize, Serialize};

use super::consent::needs_consent;
use super::error::AuthorizeError;
use super::request::AuthorizeRequest;
use crate::crypto::{random_token, Keyring};
use crate::error::{Error, ErrorCode};
use crate::model::Client;
use crate::state::{Consent, LoginTransaction, Session};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// Show the login page.
    NeedsLogin,
    /// The session's user must approve the scopes first.
    NeedsConsent { session: Session },
    /// Issue the code to the session's user.
    IssueCode { session: Session },
}

/// Decides the next step for a validated request. `session` is the browser's SSO session,
/// `consent` the decision remembered for its user, client and API.
pub fn decide(
    req: &AuthorizeRequest,
    client: &Client,
    session: Option<Session>,
    consent: Option<&Consent>,
    now: i64,
) -> Result<AuthorizeOutcome, AuthorizeError> {
    // OIDC Core §3.1.2.1: prompt=login and an elapsed max_age both demand a fresh login.
    // id_token_hint: answer positively only if the End-User it identifies is the one logged
    // in; otherwise SHOULD be an error such as login_required (below, with prompt=none),
    // or a login in which that user can identify themselves.
    let fresh = session.filter(|s| {
        s.is_active(now)
            && !req.prompt.login
            && within_max_age(req.max_age, s.auth_time, now)
            && req.hinted_sub.as_deref().is_none_or(|sub| sub == s.user_id)
    });
    let refuse = |code, d: &'static str| Err(AuthorizeError::redirect(Error::new(code, d), &req.reply));
    let Some(session) = fresh else {
        // OIDC Core §3.1.2.6: prompt=none and no usable session: login_required.
        if req.prompt.none {
            return refuse(ErrorCode::LoginRequired, "the user must log in");
        }
        return Ok(AuthorizeOutcome::NeedsLogin);
    };
    if needs_consent(req, client, consent) {
        // OIDC Core §3.1.2.6: prompt=none and consent missing: consent_required.
        if req.prompt.none {
            return refuse(ErrorCode::ConsentRequired, "the user must consent");
        }
        return Ok(AuthorizeOutcome::NeedsConsent { session });
    }
    Ok(AuthorizeOutcome::IssueCode { session })
}

/// OIDC Core §3.1.2.1: once more than `max_age` seconds have passed since the user last
/// authenticated, the OP MUST actively re-authenticate them. Times are whole seconds, so a
/// session whose age is exactly `max_age` may really be up to a second older: only a
/// smaller age is surely within it. This also makes `max_age=0` always demand a login, as
/// the errata (set 2) says: it is equivalent to `prompt=login`.
fn within_max_age(max_age: Option<i64>, auth_time: i64, now: i64) -> bool {
    max_age.is_none_or(|max| now - auth_time < max)
}

/// A parked authorization: the request, and the browser it belongs to (the keyed hash of
/// a cookie), so that a transaction started in one browser cannot be finished in another
/// (login CSRF).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub request: AuthorizeRequest,
    pub browser: String,
    /// RFC 8628 §3.3: the device authorization the user signs in for (the keyed hash of
    /// its user code). The login page then returns to `/activate` instead of issuing a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// A new login transaction for `pending`. Returns the transaction id handed to the browser
/// (only its keyed hash is stored) and the record; `authenticated` pre-fills the user of a
/// consent-only transaction.
pub fn park(
    pending: &Pending,
    authenticated: Option<&Session>,
    keyring: &Keyring,
    now: i64,
    lifetime: i64,
) -> Result<(String, LoginTransaction), Error> {
    let txn = random_token::<32>();
    let request = serde_json::to_string(pending).map_err(|e| Error::server_error(format!("pending request: {e}")))?;
    let record = LoginTransaction {
        txn_hash: keyring.hash_handle(&txn),
        client_id: pending.request.client_id.clone(),
        request,
        csrf: random_token::<32>(),
        user_id: authenticated.map(|s| s.user_id.clone()),
        auth_time: authenticated.map(|s| s.auth_time),
        created_at: now,
        expires_at: now + lifetime,
        completed_at: None,
    };
    Ok((txn, record))
}

/// The parked authorization of a transaction that is still usable at `now`.
pub fn resume(txn: &LoginTransaction, now: i64) -> Result<Pending, Error> {
    if txn.completed_at.is_some() || txn.expires_at <= now {
        return Err(Error::invalid_request("this login page has expired; return to the application and try again"));
    }
    serde_json::from_str(&txn.request).map_err(|e| Error::server_error(format!("parked request does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::within_max_age;

    #[test]
    fn max_age_is_judged_conservatively_in_whole_seconds() {
        // (max_age, seconds since auth_time, session usable)
        let table = [
            (None, 0, true),
            (None, 86_400, true),
            (Some(0), 0, false),
            (Some(0), 5, false),
            (Some(60), 0, true),
            (Some(60), 59, true),
            (Some(60), 60, false),
            (Some(60), 61, false),
        ];
        for (max_age, age, usable) in table {
            assert_eq!(within_max_age(max_age, 1000, 1000 + age), usable, "max_age {max_age:?}, age {age}");
        }
    }
}
