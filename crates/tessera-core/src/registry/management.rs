//! The Management API's own registration: the built-in API every tenant has (Auth0's
//! "Auth0 Management API", identifier `{issuer}api/v2/`) with Auth0's scope names, and the
//! bootstrap client an operator uses to obtain the first management token.

use super::Registry;
use crate::error::{Error, ErrorCode};
use crate::model::{ApiScope, AppType, ClientPatch, ResourceServer, ResourceServerPatch};

/// Name of the client `tessera admin bootstrap` creates (found again by this name).
pub const BOOTSTRAP_CLIENT_NAME: &str = "Tessera Management API (bootstrap)";

/// The scopes of the Management API, with Auth0's names (Auth0 Management API v2 scopes).
pub const MANAGEMENT_SCOPES: &[&str] = &[
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
    "read:client_credentials",
    "create:client_credentials",
    "update:client_credentials",
    "delete:client_credentials",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:users_app_metadata",
    "update:users_app_metadata",
    "read:logs",
    "read:signing_keys",
    "create:signing_keys",
    "update:signing_keys",
    "read:refresh_tokens",
    "delete:refresh_tokens",
    "read:sessions",
    "delete:sessions",
    "read:tenant_settings",
    "update:tenant_settings",
    "read:connections",
    "update:connections",
];

/// Auth0: the Management API's audience is the tenant's domain + `/api/v2/`.
pub fn management_audience(issuer: &str) -> String {
    format!("{}/api/v2/", issuer.trim_end_matches('/'))
}

/// The bootstrap client, with its secret when it was created by this call.
#[derive(Debug, Clone)]
pub struct BootstrapClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub audience: String,
    pub created: bool,
}

impl Registry {
    /// Creates the Management API for `issuer` if it is missing and gives it every scope
    /// (idempotent; run at every start so the API always matches the issuer served).
    pub async fn ensure_management_api(&self, issuer: &str) -> Result<ResourceServer, Error> {
        let identifier = management_audience(issuer);
        let scopes: Vec<ApiScope> =
            MANAGEMENT_SCOPES.iter().map(|s| ApiScope { value: s.to_string(), description: String::new() }).collect();
        match self.get_api(&identifier).await {
            Ok(api) if MANAGEMENT_SCOPES.iter().all(|s| api.has_scope(s)) => Ok(api),
            Ok(api) => {
                let mut merged = api.scopes.clone();
                merged.extend(scopes.into_iter().filter(|s| !api.has_scope(&s.value)));
                self.update_api(&api.id, ResourceServerPatch { scopes: Some(merged), ..Default::default() }).await
            }
            Err(e) if e.code == ErrorCode::NotFound => {
                let patch = ResourceServerPatch {
                    identifier: Some(identifier),
                    name: Some("Tessera Management API".into()),
                    scopes: Some(scopes),
                    ..Default::default()
                };
                match self.create_api(patch).await {
                    // Two nodes starting together: the other one created it first.
                    Err(e) if e.code == ErrorCode::Conflict => self.get_api(&management_audience(issuer)).await,
                    other => other,
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The machine-to-machine client granted every management scope; created once. A
    /// second call finds it again (by name and grant) and returns no secret, which was shown
    /// only when it was created.
    pub async fn bootstrap_management_client(&self, issuer: &str) -> Result<BootstrapClient, Error> {
        let api = self.ensure_management_api(issuer).await?;
        let all: Vec<String> = MANAGEMENT_SCOPES.iter().map(|s| s.to_string()).collect();
        for client in self.list_clients().await? {
            if client.name != BOOTSTRAP_CLIENT_NAME {
                continue;
            }
            let grants = self.list_grants(Some(&client.client_id)).await?;
            if let Some(g) = grants.iter().find(|g| g.audience == api.identifier) {
                if g.scope != all {
                    self.update_grant(&g.id, all.clone()).await?;
                }
                return Ok(BootstrapClient {
                    client_id: client.client_id,
                    client_secret: None,
                    audience: api.identifier,
                    created: false,
                });
            }
        }
        let patch = ClientPatch {
            name: Some(BOOTSTRAP_CLIENT_NAME.into()),
            app_type: Some(AppType::NonInteractive),
            ..Default::default()
        };
        let created = self.create_client(patch).await?;
        self.create_grant(&created.client.client_id, &api.identifier, Some(all)).await?;
        Ok(BootstrapClient {
            client_id: created.client.client_id,
            client_secret: created.client_secret,
            audience: api.identifier,
            created: true,
        })
    }
}
