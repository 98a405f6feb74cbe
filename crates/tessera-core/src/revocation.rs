//! Token revocation, RFC 7009.
//!
//! - A refresh token revokes its whole family (and the access tokens recorded for it),
//!   RFC 7009 §2.1 ("SHOULD also invalidate all access tokens based on the same grant").
//! - An access token is recorded as revoked by `jti` until it expires; /userinfo and
//!   introspection consult that record.
//! - A token of another client, or an unknown one, is left alone and answered 200
//!   (RFC 7009 §2.2: invalid tokens do not cause an error), so the endpoint reveals nothing.
//! - A storage failure is an error (503), never a false success.

use serde_json::json;

use crate::client_auth::AuthenticatedClient;
use crate::error::Error;
use crate::registry::Registry;
use crate::tokens::lookup::{find_token, FoundToken};
use crate::tokens::KeySet;

pub struct RevocationRequest<'a> {
    pub token: &'a str,
    pub hint: Option<&'a str>,
}

pub async fn revoke(
    registry: &Registry,
    keys: &KeySet,
    issuer: &str,
    client: &AuthenticatedClient,
    req: &RevocationRequest<'_>,
    now: i64,
) -> Result<(), Error> {
    let store = registry.store();
    let me = &client.client.client_id;
    match find_token(registry, keys, issuer, req.token, req.hint, now).await? {
        Some(FoundToken::Refresh(found)) if &found.1.client_id == me => {
            let family = &found.1;
            store.revoke_family(&family.family_id, now, "revoked_by_client").await?;
            registry
                .record("refresh_token_revoked", Some(me), Some(&family.user_id), json!({"family_id": family.family_id}))
                .await;
        }
        Some(FoundToken::Access(at)) if &at.client_id == me => {
            store.revoke_access_token(&at.jti, me, at.exp, now).await?;
            registry.record("access_token_revoked", Some(me), Some(&at.sub), json!({"jti": at.jti})).await;
        }
        Some(_) => {
            registry.record("revocation_of_foreign_token_ignored", Some(me), None, json!({})).await;
        }
        None => {}
    }
    Ok(())
}
