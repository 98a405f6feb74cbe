//! Token introspection, RFC 7662. The caller is an authenticated client; it learns about
//! tokens issued to itself, and about access tokens whose audience is an API it holds a
//! client grant for (the usual "API introspects its callers' tokens" setup). Anything else —
//! revoked, expired, unknown or foreign — is `{"active": false}` (RFC 7662 §2.2).

use serde_json::{json, Map, Value};

use crate::client_auth::AuthenticatedClient;
use crate::error::Error;
use crate::registry::Registry;
use crate::tokens::lookup::{find_token, FoundToken};
use crate::tokens::KeySet;

pub async fn introspect(
    registry: &Registry,
    keys: &KeySet,
    issuer: &str,
    client: &AuthenticatedClient,
    token: &str,
    hint: Option<&str>,
    now: i64,
) -> Result<Value, Error> {
    let store = registry.store();
    let me = &client.client.client_id;
    let inactive = json!({"active": false});
    match find_token(registry, keys, issuer, token, hint, now).await? {
        Some(FoundToken::Access(at)) => {
            let mut allowed = &at.client_id == me;
            if !allowed {
                for g in store.list_grants(Some(me)).await? {
                    allowed |= at.has_audience(&g.audience);
                }
            }
            if !allowed || store.is_access_token_revoked(&at.jti).await? {
                return Ok(inactive);
            }
            let mut out = Map::new();
            out.insert("active".into(), true.into());
            for k in ["scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "cnf", "auth_time", "gty"] {
                if let Some(v) = at.claims.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            let token_type = if at.jkt().is_some() { "DPoP" } else { "Bearer" };
            out.insert("token_type".into(), token_type.into());
            Ok(Value::Object(out))
        }
        Some(FoundToken::Refresh(found)) => {
            let (t, f) = *found;
            let live = &f.client_id == me
                && f.revoked_at.is_none()
                && f.absolute_expires_at > now
                && t.superseded_at.is_none()
                && t.idle_expires_at > now;
            if !live {
                return Ok(inactive);
            }
            let mut out = json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": f.scope,
                "client_id": f.client_id,
                "sub": f.user_id,
                "iss": issuer,
                "iat": t.created_at,
                "exp": t.idle_expires_at.min(f.absolute_expires_at),
            });
            if let Some(aud) = &f.audience {
                out["aud"] = aud.clone().into();
            }
            if let Some(jkt) = &f.dpop_jkt {
                out["cnf"] = json!({"jkt": jkt});
            }
            Ok(out)
        }
        None => Ok(inactive),
    }
}
