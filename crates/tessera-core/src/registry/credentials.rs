//! Client credentials: the public keys of `private_key_jwt` clients (Auth0's
//! `/clients/{id}/credentials`). The credential table is the store of record; the keys a
//! client's assertion is checked against are computed per request from the credentials
//! enabled on the client and still unexpired ([`ClientEntry::credential_keys`]), plus its
//! JWK Set, inline or by `jwks_uri` ([`Registry::client_keys`]).

use serde_json::json;

use super::{ClientEntry, Registry};
use crate::crypto::random_alnum;
use crate::error::Error;
use crate::model::{ClientCredential, NewCredential};
use crate::tokens::jose::ClientKey;

/// Auth0's credential ids: `cred_` and 22 alphanumerics.
pub(super) fn new_credential_id() -> String {
    format!("cred_{}", random_alnum(22))
}

fn credential_not_found(id: &str) -> Error {
    Error::not_found(format!("credential {id:?} does not exist"))
}

impl ClientEntry {
    /// The credential keys a `private_key_jwt` assertion of this client may verify with at
    /// `now`: every credential enabled for the method that has not expired (a deleted
    /// credential is gone from both the table and the client's list).
    pub fn credential_keys(&self, now: i64) -> Result<Vec<ClientKey>, String> {
        let mut keys = Vec::new();
        for c in &self.credentials {
            if self.client.private_key_jwt_credentials.contains(&c.id) && c.is_valid_at(now) {
                keys.push(c.client_key()?);
            }
        }
        Ok(keys)
    }
}

impl Registry {
    pub async fn create_credential(&self, client_id: &str, new: NewCredential) -> Result<ClientCredential, Error> {
        self.get_client(client_id).await?;
        let credential = new.build(new_credential_id(), client_id, self.now())?;
        if !self.store.insert_client_credential(&credential).await? {
            return Err(Error::not_found(format!("client {client_id:?} does not exist")));
        }
        self.registry_changed().await;
        self.audit(
            "client_credential_created",
            Some(client_id),
            None,
            json!({"credential_id": credential.id, "kid": credential.kid}),
        )
        .await;
        Ok(credential)
    }

    pub async fn list_credentials(&self, client_id: &str) -> Result<Vec<ClientCredential>, Error> {
        self.get_client(client_id).await?;
        Ok(self.store.client_credentials(client_id).await?)
    }

    pub async fn get_credential(&self, client_id: &str, id: &str) -> Result<ClientCredential, Error> {
        self.store.get_client_credential(client_id, id).await?.ok_or_else(|| credential_not_found(id))
    }

    /// Auth0's PATCH of a credential: only its expiry changes (`None`: never expires).
    pub async fn set_credential_expiry(
        &self,
        client_id: &str,
        id: &str,
        expires_at: Option<i64>,
    ) -> Result<ClientCredential, Error> {
        if !self.store.set_client_credential_expiry(client_id, id, expires_at, self.now()).await? {
            return Err(credential_not_found(id));
        }
        self.registry_changed().await;
        self.audit("client_credential_updated", Some(client_id), None, json!({"credential_id": id, "expires_at": expires_at}))
            .await;
        self.get_credential(client_id, id).await
    }

    pub async fn delete_credential(&self, client_id: &str, id: &str) -> Result<(), Error> {
        if !self.store.delete_client_credential(client_id, id, self.now()).await? {
            return Err(credential_not_found(id));
        }
        self.registry_changed().await;
        self.audit("client_credential_deleted", Some(client_id), None, json!({"credential_id": id})).await;
        Ok(())
    }

    /// Checks that every id a client patch enables for `private_key_jwt` is one of the
    /// client's credentials (Auth0: a PATCH names credentials created on the client).
    pub(super) async fn check_credential_ids(&self, client_id: &str, ids: &[String]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let known = self.store.client_credentials(client_id).await?;
        match ids.iter().find(|id| !known.iter().any(|c| &c.id == *id)) {
            Some(id) => Err(Error::invalid_body(format!("credential {id:?} is not a credential of this client"))),
            None => Ok(()),
        }
    }
}
