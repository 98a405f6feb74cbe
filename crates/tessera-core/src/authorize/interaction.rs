//! What happens after the checks pass: log in, ask for consent, or issue a code.
//!
//! - OIDC Core §3.1.2.3: the user must (re-)authenticate without an active session, with
//!   `prompt=login`, or when more than `max_age` seconds passed since `auth_time`.
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
    let fresh =
        session.filter(|s| s.is_active(now) && !req.prompt.login && req.max_age.is_none_or(|max| now - s.auth_time <= max));
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

/// A parked authorization: the request, and the browser it belongs to (the keyed hash of
/// a cookie), so that a transaction started in one browser cannot be finished in another
/// (login CSRF).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub request: AuthorizeRequest,
    pub browser: String,
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
