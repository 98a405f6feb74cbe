//! Users of the hosted login (Auth0's database-connection user). `user_id` is the stable
//! `sub` claim.

use serde::{Deserialize, Serialize};

/// Auth0's default database connection, the one Tessera's password users live in (the name
/// Auth0's SDKs and docs send as `connection` / `realm`).
pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";
/// Auth0's email passwordless connection (`connection: email`, `realm: email`).
pub const PASSWORDLESS_CONNECTION: &str = "email";

use crate::error::Error;

#[derive(Clone, PartialEq, Serialize)]
pub struct User {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// Argon2id PHC string. Never serialized.
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub blocked: bool,
    #[serde(serialize_with = "super::time::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "super::time::serialize")]
    pub updated_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("username", &self.username)
            .field("blocked", &self.blocked)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
}

fn non_empty(v: String) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl User {
    /// The user as Auth0's Management API shows it: its fields, its metadata and its one
    /// identity in the database connection (what `GET /api/v2/users/{id}` answers and
    /// `tessera users … --json` prints).
    pub fn auth0_json(&self, user_metadata: serde_json::Value, app_metadata: serde_json::Value) -> serde_json::Value {
        use serde_json::{json, Value};
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("user_metadata".into(), user_metadata);
            obj.insert("app_metadata".into(), app_metadata);
            let id = self.user_id.strip_prefix("auth0|").unwrap_or(&self.user_id);
            obj.insert(
                "identities".into(),
                json!([{"connection": DATABASE_CONNECTION, "provider": "auth0", "user_id": id, "isSocial": false}]),
            );
        }
        v
    }

    pub fn create(user_id: String, patch: UserPatch, now: i64) -> Result<Self, Error> {
        let mut u = User {
            user_id,
            email: None,
            email_verified: false,
            username: None,
            name: None,
            given_name: None,
            family_name: None,
            picture: None,
            password_hash: None,
            blocked: false,
            created_at: now,
            updated_at: now,
        };
        u.apply(patch, now)?;
        if u.name.is_none() {
            u.name = u.email.clone().or_else(|| u.username.clone());
        }
        Ok(u)
    }

    pub fn apply(&mut self, p: UserPatch, now: i64) -> Result<(), Error> {
        if let Some(v) = p.email {
            // Emails compare case-insensitively at login; store them lower-cased.
            self.email = non_empty(v).map(|e| e.to_ascii_lowercase());
        }
        if let Some(v) = p.email_verified {
            self.email_verified = v;
        }
        if let Some(v) = p.username {
            self.username = non_empty(v);
        }
        if let Some(v) = p.name {
            self.name = non_empty(v);
        }
        if let Some(v) = p.given_name {
            self.given_name = non_empty(v);
        }
        if let Some(v) = p.family_name {
            self.family_name = non_empty(v);
        }
        if let Some(v) = p.picture {
            self.picture = non_empty(v);
        }
        self.updated_at = now;
        self.validate()
    }

    pub fn validate(&self) -> Result<(), Error> {
        if self.email.is_none() && self.username.is_none() {
            return Err(Error::invalid_body("a user needs an email or a username"));
        }
        if let Some(e) = &self.email {
            let valid = e.len() <= 254
                && !e.chars().any(|c| c.is_whitespace() || c.is_control())
                && matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@'));
            if !valid {
                return Err(Error::invalid_body(format!("{e:?} is not a valid email address")));
            }
        }
        if let Some(u) = &self.username {
            let valid = (1..=128).contains(&u.len()) && u.chars().all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
            if !valid {
                return Err(Error::invalid_body("username must be 1 to 128 characters of A-Z a-z 0-9 _ . + -"));
            }
        }
        for (field, v) in [("name", &self.name), ("given_name", &self.given_name), ("family_name", &self.family_name)] {
            if v.as_ref().is_some_and(|s| s.chars().count() > 300 || s.chars().any(char::is_control)) {
                return Err(Error::invalid_body(format!("{field} must be at most 300 printable characters")));
            }
        }
        if let Some(p) = &self.picture {
            if !(p.starts_with("https://") || p.starts_with("http://")) || p.len() > 2048 {
                return Err(Error::invalid_body("picture must be an http(s) URL"));
            }
        }
        Ok(())
    }
}
