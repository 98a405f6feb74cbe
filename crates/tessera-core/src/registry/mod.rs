//! The registry service: applications, APIs, client grants, users and signing keys.
//!
//! Both the CLI and the management API call this layer, so validation, secret handling
//! and audit events are the same whichever door a change comes through. It returns plain
//! secrets exactly once (at creation or rotation); the store only ever sees hashes or
//! ciphertexts.

mod apis;
mod cache;
mod clients;
mod connections;
mod credentials;
mod issuers;
mod jwks;
mod keys;
mod management;
mod registration;
pub mod signup;
mod users;

use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::Keyring;
use crate::error::Error;
use crate::store::{AuditEvent, Store};

pub use cache::ClientEntry;

/// Tenant setting: the API a client_credentials request without `audience` gets (Auth0's
/// "Default Audience").
pub const DEFAULT_AUDIENCE: &str = "default_audience";
pub use clients::CreatedClient;
pub use jwks::{JwksFetcher, JWKS_CACHE_SECONDS, JWKS_REFETCH_SECONDS};
pub use keys::required_algorithms;
pub use management::{management_audience, BootstrapClient, BOOTSTRAP_CLIENT_NAME, MANAGEMENT_SCOPES};
pub use registration::{Registered, TOUCH_INTERVAL};

#[derive(Clone)]
pub struct Registry {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) cache: Arc<cache::RegistryCache>,
    /// Trusted issuers' fetched JWK Sets.
    pub(crate) jwks: Arc<jwks::JwksCache>,
    /// Clients' fetched JWK Sets (`private_key_jwt` with a `jwks_uri`).
    pub(crate) client_jwks: Arc<jwks::JwksCache>,
    /// RFC 8628 §3.5 poll pacing, per node (see [`crate::device::polls`] for why in memory).
    pub(crate) device_polls: Arc<crate::device::polls::Polls>,
    /// Clients identified by a metadata document (off until installed at start).
    pub(crate) metadata: Arc<crate::client_metadata::MetadataResolver>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, keyring: Arc<Keyring>) -> Self {
        Self {
            store,
            clock,
            keyring,
            cache: Arc::default(),
            jwks: Arc::default(),
            client_jwks: Arc::default(),
            device_polls: Arc::default(),
            metadata: Arc::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Sets (or with `None` clears) the tenant's default audience; it must name an API.
    pub async fn set_default_audience(&self, audience: Option<&str>) -> Result<(), Error> {
        let value = match audience {
            Some(a) => self.get_api(a).await?.identifier,
            None => String::new(),
        };
        self.store.put_setting(DEFAULT_AUDIENCE, &value).await?;
        self.audit("tenant_default_audience_set", None, None, serde_json::json!({"default_audience": value})).await;
        Ok(())
    }

    pub async fn default_audience(&self) -> Result<Option<String>, Error> {
        Ok(self.store.get_setting(DEFAULT_AUDIENCE).await?.filter(|v| !v.is_empty()))
    }

    /// Turns on client ID metadata documents (once, at start).
    pub fn install_metadata_documents(
        &self,
        policy: crate::client_metadata::MetadataPolicy,
        fetcher: Arc<dyn crate::client_metadata::DocumentFetcher>,
    ) {
        self.metadata.install(policy, fetcher)
    }

    /// The tenant's policy over metadata-document clients, when the feature is on.
    pub fn metadata_policy(&self) -> Option<&crate::client_metadata::MetadataPolicy> {
        self.metadata.policy()
    }

    pub fn device_polls(&self) -> &crate::device::polls::Polls {
        &self.device_polls
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Records an audit event from protocol code (failed authentication, code reuse, ...).
    pub async fn record(&self, kind: &str, client_id: Option<&str>, user_id: Option<&str>, detail: serde_json::Value) {
        self.audit(kind, client_id, user_id, detail).await
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Records an audit event; a failure to record is logged, never fatal to the caller's
    /// already-committed change.
    pub(crate) async fn audit(&self, kind: &str, client_id: Option<&str>, user_id: Option<&str>, detail: serde_json::Value) {
        let event = AuditEvent {
            at: self.now(),
            kind: kind.to_string(),
            client_id: client_id.map(str::to_string),
            user_id: user_id.map(str::to_string),
            ip: None,
            detail,
        };
        if let Err(e) = self.store.record_audit(&event).await {
            tracing::warn!(error = %e, kind, "could not record audit event");
        }
    }
}
