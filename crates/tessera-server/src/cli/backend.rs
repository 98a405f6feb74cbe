//! Where a registry command is carried out: on a local deployment through
//! [`tessera_core::registry::Registry`], or on a running server through its Management API
//! ([`super::remote`]). Each command builds its request once (a patch, an id) and prints
//! what comes back; both backends answer the same Auth0-shaped documents, built locally by
//! the same functions the API answers with (`Client::auth0_json` and its kin), so a
//! command prints the same text and `--json` either way.

use serde_json::{json, Value};
use tessera_core::model::{ClientPatch, ResourceServerPatch, SigningAlg, User, UserPatch, DATABASE_CONNECTION};
use tessera_core::tokens::SigningKeyRecord;

use super::bodies;
use super::output::fail;
use super::remote::Remote;
use crate::bootstrap::Deployment;
use crate::http::management::to_json;

pub enum Backend {
    /// Boxed: a deployment is much larger than a connection.
    Local(Box<Deployment>),
    Remote(Remote),
}

/// A client document with the secret just issued merged in (Auth0 shows it on creation
/// and rotation only).
fn with_secret(mut v: Value, secret: Option<&str>) -> Value {
    if let (Some(s), Some(obj)) = (secret, v.as_object_mut()) {
        obj.insert("client_secret".into(), s.into());
    }
    v
}

/// A key's state from Auth0's flags.
pub fn key_state(k: &Value) -> &'static str {
    let flag = |f: &str| k[f].as_bool().unwrap_or(false);
    if flag("revoked") {
        "revoked"
    } else if flag("current") {
        "current"
    } else if flag("next") {
        "next"
    } else {
        "retired"
    }
}

impl Backend {
    pub async fn close(self) {
        if let Self::Local(d) = self {
            (*d).close().await;
        }
    }

    /// The issuer the local deployment's Management API is under (`is_system` of an API).
    fn local_issuer(d: &Deployment) -> String {
        d.config.default_issuer().unwrap_or_default()
    }

    async fn user_doc(d: &Deployment, u: &User) -> Result<Value, String> {
        let (um, am) =
            d.store.get_user_metadata(&u.user_id).await.map_err(|e| fail(e.into()))?.unwrap_or_else(|| (json!({}), json!({})));
        Ok(u.auth0_json(um, am))
    }

    // --- clients ---------------------------------------------------------------------

    pub async fn create_client(&self, patch: ClientPatch) -> Result<Value, String> {
        match self {
            Self::Local(d) => {
                let c = d.registry.create_client(patch).await.map_err(fail)?;
                Ok(with_secret(c.client.auth0_json(), c.client_secret.as_deref()))
            }
            Self::Remote(r) => r.post(&["clients"], &bodies::client(&patch)).await,
        }
    }

    pub async fn list_clients(&self) -> Result<Vec<Value>, String> {
        match self {
            Self::Local(d) => Ok(d.registry.list_clients().await.map_err(fail)?.iter().map(|c| c.auth0_json()).collect()),
            Self::Remote(r) => r.list("clients", "clients", &[], 0, None).await,
        }
    }

    pub async fn get_client(&self, id: &str) -> Result<Value, String> {
        match self {
            Self::Local(d) => Ok(d.registry.get_client(id).await.map_err(fail)?.auth0_json()),
            Self::Remote(r) => r.get(&["clients", id], &[]).await,
        }
    }

    pub async fn update_client(&self, id: &str, patch: ClientPatch) -> Result<Value, String> {
        match self {
            Self::Local(d) => {
                let c = d.registry.update_client(id, patch).await.map_err(fail)?;
                Ok(with_secret(c.client.auth0_json(), c.client_secret.as_deref()))
            }
            Self::Remote(r) => r.patch(&["clients", id], &bodies::client(&patch)).await,
        }
    }

    pub async fn delete_client(&self, id: &str) -> Result<(), String> {
        match self {
            Self::Local(d) => d.registry.delete_client(id).await.map_err(fail),
            Self::Remote(r) => r.delete(&["clients", id]).await,
        }
    }

    /// A new secret; the old ones stay valid `overlap` seconds (the Management API ends
    /// them at once, so remotely only 0 is possible).
    pub async fn rotate_client_secret(&self, id: &str, overlap: i64) -> Result<String, String> {
        match self {
            Self::Local(d) => d.registry.rotate_client_secret(id, overlap).await.map_err(fail),
            Self::Remote(_) if overlap != 0 => {
                Err("--overlap is not available with --url: the Management API's rotate-secret ends the old secret at once"
                    .into())
            }
            Self::Remote(r) => {
                let v = r.post(&["clients", id, "rotate-secret"], &json!({})).await?;
                v["client_secret"].as_str().map(str::to_string).ok_or_else(|| "the server answered no client_secret".into())
            }
        }
    }

    // --- APIs ------------------------------------------------------------------------

    pub async fn create_api(&self, patch: ResourceServerPatch) -> Result<Value, String> {
        match self {
            Self::Local(d) => Ok(d.registry.create_api(patch).await.map_err(fail)?.auth0_json(&Self::local_issuer(d))),
            Self::Remote(r) => r.post(&["resource-servers"], &bodies::api(&patch)).await,
        }
    }

    pub async fn list_apis(&self) -> Result<Vec<Value>, String> {
        match self {
            Self::Local(d) => {
                let issuer = Self::local_issuer(d);
                Ok(d.registry.list_apis().await.map_err(fail)?.iter().map(|a| a.auth0_json(&issuer)).collect())
            }
            Self::Remote(r) => r.list("resource-servers", "resource_servers", &[], 0, None).await,
        }
    }

    /// By id or identifier, as both the registry and Auth0's API accept.
    pub async fn get_api(&self, api: &str) -> Result<Value, String> {
        match self {
            Self::Local(d) => Ok(d.registry.get_api(api).await.map_err(fail)?.auth0_json(&Self::local_issuer(d))),
            Self::Remote(r) => r.get(&["resource-servers", api], &[]).await,
        }
    }

    pub async fn update_api(&self, api: &str, patch: ResourceServerPatch) -> Result<Value, String> {
        match self {
            Self::Local(d) => Ok(d.registry.update_api(api, patch).await.map_err(fail)?.auth0_json(&Self::local_issuer(d))),
            Self::Remote(r) => r.patch(&["resource-servers", api], &bodies::api(&patch)).await,
        }
    }

    pub async fn delete_api(&self, api: &str) -> Result<(), String> {
        match self {
            Self::Local(d) => d.registry.delete_api(api).await.map_err(fail),
            Self::Remote(r) => r.delete(&["resource-servers", api]).await,
        }
    }

    // --- client grants ---------------------------------------------------------------

    /// `scope: None` grants every scope of the API (the API takes the list: it is read
    /// from the API first).
    pub async fn create_grant(&self, client_id: &str, audience: &str, scope: Option<Vec<String>>) -> Result<Value, String> {
        match self {
            Self::Local(d) => Ok(to_json(&d.registry.create_grant(client_id, audience, scope).await.map_err(fail)?)),
            Self::Remote(r) => {
                let scope = match scope {
                    Some(s) => s,
                    None => {
                        let api = r.get(&["resource-servers", audience], &[]).await?;
                        let all = api["scopes"].as_array().cloned().unwrap_or_default();
                        all.iter().filter_map(|s| s["value"].as_str().map(str::to_string)).collect()
                    }
                };
                r.post(&["client-grants"], &json!({"client_id": client_id, "audience": audience, "scope": scope})).await
            }
        }
    }

    pub async fn list_grants(&self, client_id: Option<&str>) -> Result<Vec<Value>, String> {
        match self {
            Self::Local(d) => Ok(d.registry.list_grants(client_id).await.map_err(fail)?.iter().map(to_json).collect()),
            Self::Remote(r) => {
                let q: Vec<(&str, String)> = client_id.map(|c| ("client_id", c.to_string())).into_iter().collect();
                r.list("client-grants", "client_grants", &q, 0, None).await
            }
        }
    }

    pub async fn get_grant(&self, id: &str) -> Result<Value, String> {
        match self {
            Self::Local(d) => Ok(to_json(&d.registry.get_grant(id).await.map_err(fail)?)),
            Self::Remote(r) => r.get(&["client-grants", id], &[]).await,
        }
    }

    pub async fn update_grant(&self, id: &str, scope: Vec<String>) -> Result<Value, String> {
        match self {
            Self::Local(d) => Ok(to_json(&d.registry.update_grant(id, scope).await.map_err(fail)?)),
            Self::Remote(r) => r.patch(&["client-grants", id], &json!({"scope": scope})).await,
        }
    }

    pub async fn delete_grant(&self, id: &str) -> Result<(), String> {
        match self {
            Self::Local(d) => d.registry.delete_grant(id).await.map_err(fail),
            Self::Remote(r) => r.delete(&["client-grants", id]).await,
        }
    }

    // --- users -----------------------------------------------------------------------

    /// The user named by `user`: a user_id, else an email (or, locally, a username), as
    /// the registry looks them up. Remotely a username cannot be looked up: the
    /// Management API's search has no username term.
    async fn remote_user(r: &Remote, user: &str) -> Result<Value, String> {
        match r.get(&["users", user], &[]).await {
            Err(e) if e.contains("(404 ") && user.contains('@') => {
                let found = r.get(&["users-by-email"], &[("email", user.to_ascii_lowercase())]).await?;
                found.as_array().and_then(|a| a.first()).cloned().ok_or_else(|| format!("user {user:?} does not exist"))
            }
            other => other,
        }
    }

    async fn remote_user_id(r: &Remote, user: &str) -> Result<String, String> {
        let u = Self::remote_user(r, user).await?;
        u["user_id"].as_str().map(str::to_string).ok_or_else(|| "the server answered a user without user_id".into())
    }

    pub async fn create_user(&self, patch: UserPatch, password: Option<&str>) -> Result<Value, String> {
        match self {
            Self::Local(d) => Self::user_doc(d, &d.registry.create_user(patch, password).await.map_err(fail)?).await,
            Self::Remote(r) => r.post(&["users"], &bodies::new_user(&patch, password)).await,
        }
    }

    /// `limit` users from position `offset`, oldest first.
    pub async fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<Value>, String> {
        match self {
            Self::Local(d) => {
                let mut out = Vec::new();
                for u in d.registry.list_users(limit, offset).await.map_err(fail)? {
                    out.push(Self::user_doc(d, &u).await?);
                }
                Ok(out)
            }
            Self::Remote(r) => {
                let (take, skip) = (limit.clamp(1, 1000) as usize, offset.max(0) as usize);
                r.list("users", "users", &[("sort", "created_at:1".into())], skip, Some(take)).await
            }
        }
    }

    pub async fn get_user(&self, user: &str) -> Result<Value, String> {
        match self {
            Self::Local(d) => Self::user_doc(d, &d.registry.get_user(user).await.map_err(fail)?).await,
            Self::Remote(r) => Self::remote_user(r, user).await,
        }
    }

    pub async fn update_user(&self, user: &str, patch: UserPatch) -> Result<Value, String> {
        match self {
            Self::Local(d) => Self::user_doc(d, &d.registry.update_user(user, patch).await.map_err(fail)?).await,
            Self::Remote(r) => r.patch(&["users", &Self::remote_user_id(r, user).await?], &bodies::user(&patch)).await,
        }
    }

    pub async fn set_password(&self, user: &str, password: &str) -> Result<Value, String> {
        match self {
            Self::Local(d) => Self::user_doc(d, &d.registry.set_password(user, password).await.map_err(fail)?).await,
            Self::Remote(r) => r.patch(&["users", &Self::remote_user_id(r, user).await?], &json!({"password": password})).await,
        }
    }

    pub async fn set_blocked(&self, user: &str, blocked: bool) -> Result<Value, String> {
        match self {
            Self::Local(d) => Self::user_doc(d, &d.registry.set_blocked(user, blocked).await.map_err(fail)?).await,
            Self::Remote(r) => r.patch(&["users", &Self::remote_user_id(r, user).await?], &json!({"blocked": blocked})).await,
        }
    }

    pub async fn delete_user(&self, user: &str) -> Result<(), String> {
        match self {
            Self::Local(d) => d.registry.delete_user(user).await.map_err(fail),
            Self::Remote(r) => r.delete(&["users", &Self::remote_user_id(r, user).await?]).await,
        }
    }

    // --- signing keys ----------------------------------------------------------------

    pub async fn list_keys(&self) -> Result<Vec<Value>, String> {
        match self {
            Self::Local(d) => Ok(d.registry.list_keys().await.map_err(fail)?.iter().map(SigningKeyRecord::auth0_json).collect()),
            Self::Remote(r) => Ok(r.get(&["keys", "signing"], &[]).await?.as_array().cloned().unwrap_or_default()),
        }
    }

    /// Rotates `alg`'s keys and answers its new current kid. The Management API's
    /// rotation (Auth0 `POST /keys/signing/rotate`) rotates every algorithm in use, so
    /// remotely the others rotate too, and an algorithm not in use is refused.
    pub async fn rotate_keys(&self, alg: SigningAlg) -> Result<String, String> {
        match self {
            Self::Local(d) => d.registry.rotate_keys(alg).await.map_err(fail),
            Self::Remote(r) => {
                let in_use =
                    |keys: &[Value]| keys.iter().any(|k| k["alg"] == alg.as_str() && !k["revoked"].as_bool().unwrap_or(false));
                if !in_use(&self.list_keys().await?) {
                    return Err(format!(
                        "the server signs with no {alg} key; the Management API rotates only the algorithms in use"
                    ));
                }
                r.post(&["keys", "signing", "rotate"], &json!({})).await?;
                let keys = self.list_keys().await?;
                let current = keys.iter().find(|k| k["alg"] == alg.as_str() && key_state(k) == "current");
                current
                    .and_then(|k| k["kid"].as_str())
                    .map(str::to_string)
                    .ok_or_else(|| format!("the server has no current {alg} key"))
            }
        }
    }

    /// Revokes a key and answers the state it was in.
    pub async fn revoke_key(&self, kid: &str) -> Result<&'static str, String> {
        match self {
            Self::Local(d) => Ok(d.registry.revoke_key(kid).await.map_err(fail)?.as_str()),
            Self::Remote(r) => {
                let was = key_state(&r.get(&["keys", "signing", kid], &[]).await?);
                r.put(&["keys", "signing", kid, "revoke"]).await?;
                Ok(was)
            }
        }
    }

    // --- tenant ----------------------------------------------------------------------

    /// The id of the one database connection (whose `disable_signup` the tenant command sets).
    async fn remote_connection_id(r: &Remote) -> Result<String, String> {
        let all = r.list("connections", "connections", &[("name", DATABASE_CONNECTION.into())], 0, None).await?;
        all.first()
            .and_then(|c| c["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| "the server has no database connection".into())
    }

    pub async fn set_default_audience(&self, audience: &str) -> Result<(), String> {
        match self {
            Self::Local(d) => d.registry.set_default_audience(Some(audience).filter(|a| !a.is_empty())).await.map_err(fail),
            Self::Remote(r) => r.patch(&["tenants", "settings"], &json!({"default_audience": audience})).await.map(|_| ()),
        }
    }

    pub async fn set_signup_disabled(&self, disabled: bool) -> Result<(), String> {
        match self {
            Self::Local(d) => d.registry.set_signup_disabled(disabled).await.map_err(fail),
            Self::Remote(r) => {
                let id = Self::remote_connection_id(r).await?;
                r.patch(&["connections", &id], &json!({"options": {"disable_signup": disabled}})).await.map(|_| ())
            }
        }
    }

    /// The tenant's default audience (`None`: none) and whether sign-up is off.
    pub async fn tenant(&self) -> Result<(Option<String>, bool), String> {
        match self {
            Self::Local(d) => {
                Ok((d.registry.default_audience().await.map_err(fail)?, d.registry.signup_disabled().await.map_err(fail)?))
            }
            Self::Remote(r) => {
                let settings = r.get(&["tenants", "settings"], &[]).await?;
                let aud = settings["default_audience"].as_str().filter(|a| !a.is_empty()).map(str::to_string);
                let id = Self::remote_connection_id(r).await?;
                let conn = r.get(&["connections", &id], &[]).await?;
                Ok((aud, conn["options"]["disable_signup"].as_bool().unwrap_or(false)))
            }
        }
    }

    // --- registration tokens ---------------------------------------------------------

    /// A new initial access token: its record with the value under `token`.
    pub async fn create_registration_token(&self, expires_in: Option<i64>, uses: Option<i64>) -> Result<Value, String> {
        match self {
            Self::Local(d) => {
                let (t, plain) = d.registry.create_registration_token(expires_in, uses).await.map_err(fail)?;
                let mut v = t.auth0_json();
                v["token"] = plain.into();
                Ok(v)
            }
            Self::Remote(r) => {
                let mut body = serde_json::Map::new();
                if let Some(e) = expires_in {
                    body.insert("expires_in".into(), e.into());
                }
                if let Some(u) = uses {
                    body.insert("uses".into(), u.into());
                }
                r.post(&["registration-tokens"], &Value::Object(body)).await
            }
        }
    }

    pub async fn list_registration_tokens(&self) -> Result<Vec<Value>, String> {
        match self {
            Self::Local(d) => {
                Ok(d.registry.list_registration_tokens().await.map_err(fail)?.iter().map(|t| t.auth0_json()).collect())
            }
            Self::Remote(r) => Ok(r.get(&["registration-tokens"], &[]).await?.as_array().cloned().unwrap_or_default()),
        }
    }

    pub async fn delete_registration_token(&self, id: &str) -> Result<(), String> {
        match self {
            Self::Local(d) => d.registry.delete_registration_token(id).await.map_err(fail),
            Self::Remote(r) => r.delete(&["registration-tokens", id]).await,
        }
    }
}
