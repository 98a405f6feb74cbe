//! Self-service sign-up into the database connection (Auth0 `/dbconnections/signup` and
//! the hosted sign-up screen share it): the connection's `disable_signup`, the password
//! policy, uniqueness of email and username, and Auth0's `user_metadata` limits.

use serde_json::{json, Value};

use super::Registry;
use crate::error::{Error, ErrorCode};
use crate::model::{User, UserPatch};
use crate::password::{validate_password, MIN_PASSWORD_LEN};

/// What a person signing up sends.
#[derive(Debug, Default)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub username: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub user_metadata: Option<Value>,
}

/// Why a sign-up was refused.
#[derive(Debug)]
pub enum Refusal {
    /// The connection's `disable_signup` is on.
    Disabled,
    /// The password fails the policy (at least [`MIN_PASSWORD_LEN`] characters).
    WeakPassword,
    /// The email or username is taken (not saying which).
    Exists,
    /// A field is malformed.
    Invalid(Error),
    /// The store failed.
    Failed(Error),
}

impl Registry {
    pub async fn sign_up(&self, s: SignUp) -> Result<User, Refusal> {
        if self.signup_disabled().await.map_err(Refusal::Failed)? {
            return Err(Refusal::Disabled);
        }
        if s.password.chars().count() < MIN_PASSWORD_LEN || validate_password(&s.password).is_err() {
            return Err(Refusal::WeakPassword);
        }
        if let Some(m) = &s.user_metadata {
            check_metadata(m).map_err(Refusal::Invalid)?;
        }
        let patch = UserPatch {
            email: Some(s.email),
            username: s.username,
            given_name: s.given_name,
            family_name: s.family_name,
            name: s.name,
            picture: s.picture,
            email_verified: Some(false),
        };
        let user = match self.create_user(patch, Some(&s.password)).await {
            Ok(u) => u,
            Err(e) if e.code == ErrorCode::Conflict => return Err(Refusal::Exists),
            Err(e) if e.code == ErrorCode::InvalidBody => return Err(Refusal::Invalid(e)),
            Err(e) => return Err(Refusal::Failed(e)),
        };
        if let Some(m) = &s.user_metadata {
            self.store.put_user_metadata(&user.user_id, m, &json!({})).await.map_err(|e| Refusal::Failed(e.into()))?;
        }
        self.audit("user_signed_up", None, Some(&user.user_id), json!({})).await;
        Ok(user)
    }
}

/// Auth0: `user_metadata` is an object of at most ten properties, names of at most 100
/// characters, values strings of at most 500.
fn check_metadata(m: &Value) -> Result<(), Error> {
    let Some(obj) = m.as_object() else { return Err(Error::invalid_body("user_metadata must be an object")) };
    if obj.len() > 10 {
        return Err(Error::invalid_body("user_metadata may have at most 10 properties"));
    }
    for (k, v) in obj {
        let ok = k.chars().count() <= 100 && v.as_str().is_some_and(|s| s.chars().count() <= 500);
        if !ok {
            return Err(Error::invalid_body(format!(
                "user_metadata.{k}: names are at most 100 characters and values strings of at most 500"
            )));
        }
    }
    Ok(())
}
