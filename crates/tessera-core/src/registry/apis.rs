//! APIs (resource servers) and client grants.

use serde_json::json;

use super::Registry;
use crate::crypto::{random_alnum, random_hex};
use crate::error::Error;
use crate::model::{ClientGrant, ResourceServer, ResourceServerPatch};
use crate::scope::is_scope_token;

impl Registry {
    pub async fn create_api(&self, patch: ResourceServerPatch) -> Result<ResourceServer, Error> {
        let api = ResourceServer::create(random_hex::<12>(), patch, self.now())?;
        self.store.insert_api(&api).await?;
        // An API signing with a new algorithm needs keys for it before its first token.
        self.ensure_signing_keys(&[api.signing_alg]).await?;
        self.registry_changed().await;
        self.audit("api_created", None, None, json!({"identifier": api.identifier})).await;
        Ok(api)
    }

    /// Finds an API by its id or by its identifier (audience), as Auth0's API accepts both.
    pub async fn get_api(&self, id_or_identifier: &str) -> Result<ResourceServer, Error> {
        if let Some(api) = self.store.get_api(id_or_identifier).await? {
            return Ok(api);
        }
        self.store
            .get_api_by_identifier(id_or_identifier)
            .await?
            .ok_or_else(|| Error::not_found(format!("API {id_or_identifier:?} does not exist")))
    }

    pub async fn list_apis(&self) -> Result<Vec<ResourceServer>, Error> {
        Ok(self.store.list_apis().await?)
    }

    pub async fn update_api(&self, id_or_identifier: &str, patch: ResourceServerPatch) -> Result<ResourceServer, Error> {
        let mut api = self.get_api(id_or_identifier).await?;
        api.apply(patch, self.now())?;
        if !self.store.update_api(&api).await? {
            return Err(Error::not_found(format!("API {id_or_identifier:?} does not exist")));
        }
        self.ensure_signing_keys(&[api.signing_alg]).await?;
        self.registry_changed().await;
        self.audit("api_updated", None, None, json!({"identifier": api.identifier})).await;
        Ok(api)
    }

    pub async fn delete_api(&self, id_or_identifier: &str) -> Result<(), Error> {
        let api = self.get_api(id_or_identifier).await?;
        if !self.store.delete_api(&api.id).await? {
            return Err(Error::not_found(format!("API {id_or_identifier:?} does not exist")));
        }
        self.registry_changed().await;
        self.audit("api_deleted", None, None, json!({"identifier": api.identifier})).await;
        Ok(())
    }

    fn check_grant_scopes(api: &ResourceServer, scope: &[String]) -> Result<(), Error> {
        for s in scope {
            if !is_scope_token(s) || !api.has_scope(s) {
                return Err(Error::invalid_body(format!("scope {s:?} is not defined by API {:?}", api.identifier)));
            }
        }
        Ok(())
    }

    /// Authorizes `client_id` to get tokens for `audience` with `scope` (default: every scope
    /// the API defines).
    pub async fn create_grant(&self, client_id: &str, audience: &str, scope: Option<Vec<String>>) -> Result<ClientGrant, Error> {
        let client = self.get_client(client_id).await?;
        let api = self.get_api(audience).await?;
        let scope = scope.unwrap_or_else(|| api.scopes.iter().map(|s| s.value.clone()).collect());
        Self::check_grant_scopes(&api, &scope)?;
        let grant =
            ClientGrant { id: format!("cgr_{}", random_alnum(16)), client_id: client.client_id, audience: api.identifier, scope };
        self.store.insert_grant(&grant).await?;
        self.registry_changed().await;
        self.audit("client_grant_created", Some(client_id), None, json!({"audience": grant.audience})).await;
        Ok(grant)
    }

    pub async fn get_grant(&self, id: &str) -> Result<ClientGrant, Error> {
        self.store.get_grant(id).await?.ok_or_else(|| Error::not_found(format!("client grant {id:?} does not exist")))
    }

    pub async fn list_grants(&self, client_id: Option<&str>) -> Result<Vec<ClientGrant>, Error> {
        Ok(self.store.list_grants(client_id).await?)
    }

    pub async fn update_grant(&self, id: &str, scope: Vec<String>) -> Result<ClientGrant, Error> {
        let mut grant = self.get_grant(id).await?;
        let api = self.get_api(&grant.audience).await?;
        Self::check_grant_scopes(&api, &scope)?;
        grant.scope = scope;
        if !self.store.update_grant(&grant).await? {
            return Err(Error::not_found(format!("client grant {id:?} does not exist")));
        }
        self.registry_changed().await;
        self.audit("client_grant_updated", Some(&grant.client_id), None, json!({"audience": grant.audience})).await;
        Ok(grant)
    }

    pub async fn delete_grant(&self, id: &str) -> Result<(), Error> {
        let grant = self.get_grant(id).await?;
        if !self.store.delete_grant(id).await? {
            return Err(Error::not_found(format!("client grant {id:?} does not exist")));
        }
        self.registry_changed().await;
        self.audit("client_grant_deleted", Some(&grant.client_id), None, json!({"audience": grant.audience})).await;
        Ok(())
    }
}
