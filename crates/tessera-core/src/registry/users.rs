//! Users of the hosted login.

use serde_json::json;

use super::Registry;
use crate::crypto::random_hex;
use crate::error::Error;
use crate::model::{User, UserPatch};
use crate::password::{hash_password, validate_password};

impl Registry {
    pub async fn create_user(&self, patch: UserPatch, password: Option<&str>) -> Result<User, Error> {
        let mut user = User::create(format!("auth0|{}", random_hex::<12>()), patch, self.now())?;
        if let Some(p) = password {
            validate_password(p)?;
            user.password_hash = Some(hash_password(p)?);
        }
        self.store.insert_user(&user).await?;
        self.audit("user_created", None, Some(&user.user_id), json!({})).await;
        Ok(user)
    }

    /// By `user_id`, or by email/username for convenience at the CLI.
    pub async fn get_user(&self, id_or_login: &str) -> Result<User, Error> {
        if let Some(u) = self.store.get_user(id_or_login).await? {
            return Ok(u);
        }
        self.store
            .find_user_by_login(&id_or_login.to_ascii_lowercase())
            .await?
            .or(self.store.find_user_by_login(id_or_login).await?)
            .ok_or_else(|| Error::not_found(format!("user {id_or_login:?} does not exist")))
    }

    pub async fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<User>, Error> {
        Ok(self.store.list_users(limit.clamp(1, 1000), offset.max(0)).await?)
    }

    async fn save_user(&self, user: &User) -> Result<(), Error> {
        if !self.store.update_user(user).await? {
            return Err(Error::not_found(format!("user {:?} does not exist", user.user_id)));
        }
        Ok(())
    }

    pub async fn update_user(&self, id: &str, patch: UserPatch) -> Result<User, Error> {
        let mut user = self.get_user(id).await?;
        user.apply(patch, self.now())?;
        self.save_user(&user).await?;
        self.audit("user_updated", None, Some(&user.user_id), json!({})).await;
        Ok(user)
    }

    pub async fn set_password(&self, id: &str, password: &str) -> Result<User, Error> {
        validate_password(password)?;
        let mut user = self.get_user(id).await?;
        user.password_hash = Some(hash_password(password)?);
        user.updated_at = self.now();
        self.save_user(&user).await?;
        self.audit("user_password_set", None, Some(&user.user_id), json!({})).await;
        Ok(user)
    }

    pub async fn set_blocked(&self, id: &str, blocked: bool) -> Result<User, Error> {
        let mut user = self.get_user(id).await?;
        user.blocked = blocked;
        user.updated_at = self.now();
        self.save_user(&user).await?;
        if blocked {
            // A blocked user keeps no refresh tokens (issue 5).
            self.store.revoke_families(None, Some(&user.user_id), self.now(), "user_blocked").await?;
        }
        self.audit(if blocked { "user_blocked" } else { "user_unblocked" }, None, Some(&user.user_id), json!({})).await;
        Ok(user)
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), Error> {
        let user = self.get_user(id).await?;
        self.store.revoke_families(None, Some(&user.user_id), self.now(), "user_deleted").await?;
        if !self.store.delete_user(&user.user_id).await? {
            return Err(Error::not_found(format!("user {id:?} does not exist")));
        }
        self.audit("user_deleted", None, Some(&user.user_id), json!({})).await;
        Ok(())
    }
}
