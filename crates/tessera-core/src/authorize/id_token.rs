//! The implicit flow's response (OIDC Core §3.2.2.5, §3.2.2.10): an ID token for the
//! session's user, carrying the request's `nonce` (§3.2.2.11 requires it), the session's
//! `auth_time` and `sid`, and, there being no access token to read /userinfo with, the
//! claims of the granted `profile`/`email` scopes. No `at_hash`: no access token is ever
//! issued in the front channel (RFC 9700 §2.1.2).

use super::request::AuthorizeRequest;
use crate::model::User;
use crate::state::Session;
use crate::tokens::claims::{sign_id_token, IdTokenSpec};
use crate::tokens::SigningKey;

pub fn issue_id_token(
    req: &AuthorizeRequest,
    session: &Session,
    user: &User,
    key: &SigningKey,
    issuer: &str,
    now: i64,
    lifetime: i64,
) -> String {
    sign_id_token(
        key,
        &IdTokenSpec {
            issuer,
            user,
            client_id: &req.client_id,
            scope: &req.scope,
            now,
            lifetime,
            auth_time: session.auth_time,
            nonce: req.nonce.as_deref(),
            sid: Some(&session.sid),
            access_token: None,
        },
    )
}
