//! Protocol state records: what the server remembers between requests. Handles given to
//! clients and browsers (codes, refresh tokens, session cookies, login transactions) are
//! stored only as keyed hashes (`*_hash`, see [`crate::crypto::Keyring::hash_handle`]).

use serde::{Deserialize, Serialize};

/// An issued authorization code (RFC 6749 §4.1.2) with everything the token request must
/// be checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    /// The `redirect_uri` sent to /authorize, if one was sent (RFC 6749 §4.1.3).
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub audience: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// RFC 9449 §10: the DPoP key thumbprint the code is bound to.
    pub dpop_jkt: Option<String>,
    pub auth_time: i64,
    /// The session's public id (`sid` claim).
    pub sid: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub family_id: Option<String>,
}

/// A refresh-token family: every refresh token descending from one authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub audience: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub sid: Option<String>,
    pub dpop_jkt: Option<String>,
    pub created_at: i64,
    pub absolute_expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub family_id: String,
    pub generation: i64,
    pub created_at: i64,
    pub idle_expires_at: i64,
    pub superseded_at: Option<i64>,
    pub successor_hash: Option<String>,
    /// The successor token, encrypted, so a retry inside the reuse interval gets the same one.
    pub successor_token: Option<String>,
}

/// An access token issued from a code or a refresh family, recorded so reuse detection and
/// revocation can reach it (client_credentials tokens are not recorded: no write on that path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub jti: String,
    pub client_id: String,
    pub family_id: Option<String>,
    pub code_hash: Option<String>,
    pub expires_at: i64,
}

/// What a successful code redemption writes, in the same transaction as the consumption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    pub access_token: AccessTokenRecord,
    pub refresh: Option<(RefreshFamily, RefreshTokenRecord)>,
}

/// A browser's single sign-on session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub session_hash: String,
    /// Public session id, for the ID token's `sid` and logout.
    pub sid: String,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub ended_at: Option<i64>,
}

impl Session {
    pub fn is_active(&self, now: i64) -> bool {
        self.ended_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// A login (and consent) in progress: the validated /authorize request, parked server-side
/// so that any node can continue it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginTransaction {
    pub txn_hash: String,
    pub client_id: String,
    /// The validated authorization request, JSON.
    pub request: String,
    /// CSRF token bound to this transaction (compared in constant time).
    pub csrf: String,
    /// Set once the user has authenticated in this transaction.
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

/// A remembered consent decision: user × client × API, with the scopes granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub user_id: String,
    pub client_id: String,
    /// The API identifier, or "" for OpenID-only requests.
    pub audience: String,
    pub scope: String,
    pub granted_at: i64,
}

/// The state of a brute-force counter after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: i64,
    pub blocked_until: Option<i64>,
}

/// A pushed authorization request (RFC 9126 §2): the request as `/authorize` validated it
/// at push time, waiting for the browser to bring its `request_uri`. Single use, bound to
/// the client that pushed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    /// Keyed hash of the opaque part of the `request_uri`.
    pub request_uri_hash: String,
    pub client_id: String,
    /// The validated [`crate::authorize::AuthorizeRequest`], JSON.
    pub request: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

/// Where a device authorization stands (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// The user has not decided yet: polls get `authorization_pending`.
    Pending,
    /// The user approved; the next poll gets the tokens.
    Approved,
    /// The user denied: polls get `access_denied`.
    Denied,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

/// A device authorization (RFC 8628 §3.2): the device code and the user code, both stored
/// only as keyed hashes, what the client asked for, and the user's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub device_code_hash: String,
    /// Keyed hash of the normalized user code (upper case, no dash).
    pub user_code_hash: String,
    pub client_id: String,
    /// The scope granted (as /authorize would grant it) and the API.
    pub scope: String,
    pub audience: Option<String>,
    pub status: DeviceStatus,
    /// Seconds the client must wait between polls, as first announced (RFC 8628 §3.2).
    pub interval: i64,
    /// Set by the user's decision.
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub sid: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// When the tokens were issued (single use).
    pub consumed_at: Option<i64>,
}
impl ThrottleState {
    /// Whether the attempt that was just counted (and left this state) may have its password
    /// checked: it is one of the first `max_failures` in the window, and the key was not
    /// blocked before it (the attempt that reaches the limit sets the block and is checked).
    pub fn permits(&self, max_failures: i64, now: i64) -> bool {
        self.failures <= max_failures && (self.failures == max_failures || self.blocked_until.is_none_or(|t| t <= now))
    }
}
