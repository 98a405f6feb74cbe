//! The database connection's settings (Auth0's connection `options`): Tessera has the one
//! database connection, so its options are tenant settings.

use serde_json::json;

use super::Registry;
use crate::error::Error;

const DISABLE_SIGNUP: &str = "connection.database.disable_signup";

impl Registry {
    /// Auth0's `options.disable_signup`: when on, `/dbconnections/signup` and the hosted
    /// sign-up screen refuse new users (administrators still create them).
    pub async fn signup_disabled(&self) -> Result<bool, Error> {
        Ok(self.store.get_setting(DISABLE_SIGNUP).await?.as_deref() == Some("true"))
    }

    pub async fn set_signup_disabled(&self, disabled: bool) -> Result<(), Error> {
        self.store.put_setting(DISABLE_SIGNUP, if disabled { "true" } else { "false" }).await?;
        self.audit("connection_updated", None, None, json!({"disable_signup": disabled})).await;
        Ok(())
    }
}
