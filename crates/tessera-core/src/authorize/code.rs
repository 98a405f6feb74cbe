//! Issuing the authorization code (RFC 6749 §4.1.2): 256 random bits (after the time, see
//! [`crate::crypto::ordered_handle`]) for the client, only their keyed hash stored, with
//! everything the token request is checked against (RFC 6749 §4.1.3 redirect_uri, RFC 7636
//! §4.4 challenge, RFC 9449 §10 dpop_jkt, OIDC nonce, auth_time and sid).

use super::request::AuthorizeRequest;
use crate::crypto::{ordered_handle, Keyring};
use crate::state::{AuthorizationCode, Session};

/// The code to hand out and the record to store. `lifetime` is at most 600 seconds
/// (RFC 6749 §4.1.2: a maximum lifetime of 10 minutes is recommended).
pub fn issue_code(
    req: &AuthorizeRequest,
    session: &Session,
    keyring: &Keyring,
    now: i64,
    lifetime: i64,
) -> (String, AuthorizationCode) {
    let code = ordered_handle();
    let record = AuthorizationCode {
        code_hash: keyring.hash_handle(&code),
        client_id: req.client_id.clone(),
        user_id: session.user_id.clone(),
        redirect_uri: req.redirect_uri_sent.then(|| req.reply.redirect_uri.clone()),
        scope: req.scope.to_string(),
        audience: req.audience.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        code_challenge_method: req.code_challenge_method.clone(),
        dpop_jkt: req.dpop_jkt.clone(),
        auth_time: session.auth_time,
        sid: Some(session.sid.clone()),
        created_at: now,
        expires_at: now + lifetime,
        consumed_at: None,
        family_id: None,
    };
    (code, record)
}
