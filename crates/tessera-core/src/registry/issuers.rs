//! Trusted issuers (RFC 7523 `jwt-bearer` grants, RFC 8693 `token-type:jwt` subjects) and
//! their keys. An issuer's JWK Set is inline or fetched from its `jwks_uri` through the
//! [`JwksFetcher`] port (the server implements it over HTTP with timeouts and a size
//! limit) and cached by [`super::jwks::JwksCache`].

use std::sync::Arc;

use serde_json::json;

use super::jwks::JwksFetcher;
use super::Registry;
use crate::crypto::random_alnum;
use crate::error::Error;
use crate::model::{TrustedIssuer, TrustedIssuerPatch};
use crate::tokens::jose::{parse_client_jwks, ClientKey};

impl Registry {
    /// Installs the fetcher for `jwks_uri` issuers (once, at start).
    pub fn set_jwks_fetcher(&self, fetcher: Arc<dyn JwksFetcher>) {
        self.jwks.install(fetcher);
    }

    async fn check_clients_exist(&self, t: &TrustedIssuer) -> Result<(), Error> {
        for c in &t.clients {
            if self.store.get_client(c).await?.is_none() {
                return Err(Error::invalid_body(format!("client {c:?} does not exist")));
            }
        }
        Ok(())
    }

    pub async fn create_trusted_issuer(&self, patch: TrustedIssuerPatch) -> Result<TrustedIssuer, Error> {
        let t = TrustedIssuer::create(format!("iss_{}", random_alnum(16)), patch, self.now())?;
        self.check_clients_exist(&t).await?;
        self.store.insert_trusted_issuer(&t).await?;
        self.audit("trusted_issuer_created", None, None, json!({"issuer": t.issuer})).await;
        Ok(t)
    }

    /// By id or by `iss` value.
    pub async fn get_trusted_issuer(&self, id_or_issuer: &str) -> Result<TrustedIssuer, Error> {
        if let Some(t) = self.store.get_trusted_issuer(id_or_issuer).await? {
            return Ok(t);
        }
        self.store
            .find_trusted_issuer(id_or_issuer)
            .await?
            .ok_or_else(|| Error::not_found(format!("trusted issuer {id_or_issuer:?} does not exist")))
    }

    pub async fn list_trusted_issuers(&self) -> Result<Vec<TrustedIssuer>, Error> {
        Ok(self.store.list_trusted_issuers().await?)
    }

    pub async fn update_trusted_issuer(&self, id_or_issuer: &str, patch: TrustedIssuerPatch) -> Result<TrustedIssuer, Error> {
        let mut t = self.get_trusted_issuer(id_or_issuer).await?;
        t.apply(patch, self.now())?;
        self.check_clients_exist(&t).await?;
        if !self.store.update_trusted_issuer(&t).await? {
            return Err(Error::not_found(format!("trusted issuer {id_or_issuer:?} does not exist")));
        }
        if let Some(uri) = &t.jwks_uri {
            self.jwks.forget(uri);
        }
        self.audit("trusted_issuer_updated", None, None, json!({"issuer": t.issuer})).await;
        Ok(t)
    }

    pub async fn delete_trusted_issuer(&self, id_or_issuer: &str) -> Result<(), Error> {
        let t = self.get_trusted_issuer(id_or_issuer).await?;
        if !self.store.delete_trusted_issuer(&t.id).await? {
            return Err(Error::not_found(format!("trusted issuer {id_or_issuer:?} does not exist")));
        }
        self.audit("trusted_issuer_deleted", None, None, json!({"issuer": t.issuer})).await;
        Ok(())
    }

    /// The issuer's verification keys that may have signed a token with `kid`.
    pub async fn trusted_issuer_keys(
        &self,
        t: &TrustedIssuer,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Arc<Vec<ClientKey>>, Error> {
        if let Some(jwks) = &t.jwks {
            return parse_client_jwks(jwks).map(Arc::new).map_err(|e| Error::server_error(format!("trusted issuer jwks: {e}")));
        }
        let Some(uri) = &t.jwks_uri else {
            return Err(Error::server_error(format!("trusted issuer {} has no keys", t.issuer)));
        };
        self.jwks.keys(uri, kid, now).await.map_err(|e| match e {
            Some(e) => Error::temporarily_unavailable(format!("cannot fetch the JWK Set of {}: {e}", t.issuer)),
            None => Error::server_error("no JWKS fetcher is installed"),
        })
    }
}
