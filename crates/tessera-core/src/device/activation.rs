//! The user's side of a device authorization (RFC 8628 §3.3): finding the authorization a
//! typed user code names, with brute-force limits, and the parked request the login page
//! and the approval page share.
//!
//! RFC 8628 §5.1: user codes have little entropy (34.6 bits here), so guesses must be
//! rate-limited. Wrong codes are counted per browser and per IP address (database-backed
//! counters, shared by every node, as login failures are); past either limit the page is
//! blocked for a while. A code that is expired, already decided or malformed counts as
//! wrong: the page never says which codes exist.

use crate::authorize::{AuthorizeRequest, Prompt, Reply, ResponseMode};
use crate::crypto::Keyring;
use crate::error::Error;
use crate::scope::Scope;
use crate::state::{DeviceCode, DeviceStatus};
use crate::store::Store;

use super::user_code;

#[derive(Debug, Clone, Copy)]
pub struct ActivationPolicy {
    /// Wrong codes per browser before it is blocked.
    pub max_failures: i64,
    /// Wrong codes per IP address, all browsers together.
    pub ip_max_failures: i64,
    /// How long a block lasts; failures older than this are forgotten.
    pub block_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Too many wrong codes from this browser or address.
    Blocked { until: i64 },
    /// No pending authorization has this code (counted as a failure).
    Wrong,
    /// The pending authorization, with the keyed hash of its user code.
    Found(Box<DeviceCode>),
}

/// Looks up what the user typed. `browser` is the keyed hash of the browser's binding
/// cookie, `ip` the peer address.
pub async fn find(
    store: &dyn Store,
    keyring: &Keyring,
    policy: &ActivationPolicy,
    typed: &str,
    browser: &str,
    ip: &str,
    now: i64,
) -> Result<Lookup, Error> {
    let browser_key = format!("activate:browser:{browser}");
    let ip_key = format!("activate:ip:{ip}");
    if let Some(until) = store.blocked_until(&[&browser_key, &ip_key], now).await? {
        return Ok(Lookup::Blocked { until });
    }
    let found = match user_code::normalize(typed) {
        Some(code) => store.find_device_code_by_user_code(&keyring.hash_handle(&code)).await?,
        None => None,
    };
    match found {
        Some(code) if code.status == DeviceStatus::Pending && code.expires_at > now => Ok(Lookup::Found(Box::new(code))),
        _ => {
            // RFC 8628 §5.1: rate-limit guesses, per browser and per address.
            let window = policy.block_seconds;
            let per_browser = store.record_failure(&browser_key, now, window, policy.max_failures, policy.block_seconds).await?;
            let per_ip = store.record_failure(&ip_key, now, window, policy.ip_max_failures, policy.block_seconds).await?;
            match [per_browser.blocked_until, per_ip.blocked_until].into_iter().flatten().filter(|t| *t > now).max() {
                Some(until) => Ok(Lookup::Blocked { until }),
                None => Ok(Lookup::Wrong),
            }
        }
    }
}

/// The request parked in the login transaction while the user signs in and approves: the
/// client and what it asked for, answered on `activate_url` (no code is ever issued from
/// it: the login page sends a device transaction back to the approval page).
pub fn activation_request(code: &DeviceCode, activate_url: &str) -> Result<AuthorizeRequest, Error> {
    Ok(AuthorizeRequest {
        client_id: code.client_id.clone(),
        response_type: crate::authorize::ResponseType::Code,
        reply: Reply {
            redirect_uri: activate_url.to_string(),
            response_mode: ResponseMode::Query,
            state: None,
            web_message_origin: None,
        },
        redirect_uri_sent: false,
        scope: Scope::parse(&code.scope)?,
        audience: code.audience.clone(),
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        prompt: Prompt::default(),
        max_age: None,
        login_hint: None,
        hinted_sub: None,
        dpop_jkt: None,
    })
}
