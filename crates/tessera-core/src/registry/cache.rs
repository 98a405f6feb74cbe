//! In-memory cache of what every token request reads: clients with their secrets, APIs,
//! client grants (DESIGN decision 10: the client_credentials path does no database round
//! trip). Only hits are cached, so unknown ids sprayed at the endpoint cannot grow it.
//!
//! Invalidation: every registry change bumps a version number in the database and clears
//! this node's cache at once; other nodes (and a server whose registry was changed by the
//! CLI) notice the new version on their next [`Registry::sync_cache`] poll and clear theirs.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use super::Registry;
use crate::error::Error;
use crate::model::{Client, ClientCredential, ClientGrant, ClientSecret, ResourceServer, TokenEndpointAuthMethod};

/// A client with its secrets, as client authentication needs them.
#[derive(Debug)]
pub struct ClientEntry {
    /// Shared with every request that authenticates as this client (no per-request copy).
    pub client: Arc<Client>,
    pub secrets: Vec<ClientSecret>,
    /// The client's credentials, read for `private_key_jwt` clients only (see
    /// [`ClientEntry::credential_keys`]).
    pub credentials: Vec<ClientCredential>,
}

struct Map<K, V>(RwLock<HashMap<K, Arc<V>>>);

impl<K: Eq + Hash, V> Map<K, V> {
    fn new() -> Self {
        Self(RwLock::new(HashMap::new()))
    }
    fn get<Q>(&self, k: &Q) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self.0.read() {
            Ok(m) => m.get(k).cloned(),
            Err(p) => p.into_inner().get(k).cloned(),
        }
    }
    fn put(&self, k: K, v: Arc<V>) {
        match self.0.write() {
            Ok(mut m) => m.insert(k, v),
            Err(p) => p.into_inner().insert(k, v),
        };
    }
    fn clear(&self) {
        match self.0.write() {
            Ok(mut m) => m.clear(),
            Err(p) => p.into_inner().clear(),
        }
    }
}

pub struct RegistryCache {
    /// The database version the cached entries belong to; -1 before the first sync.
    version: AtomicI64,
    clients: Map<String, ClientEntry>,
    apis: Map<String, ResourceServer>,
    grants: Map<(String, String), ClientGrant>,
}

impl Default for RegistryCache {
    fn default() -> Self {
        Self { version: AtomicI64::new(-1), clients: Map::new(), apis: Map::new(), grants: Map::new() }
    }
}

impl RegistryCache {
    fn clear(&self, version: i64) {
        self.clients.clear();
        self.apis.clear();
        self.grants.clear();
        self.version.store(version, Ordering::SeqCst);
    }
}

impl Registry {
    /// A client and its secrets, from the cache or the store.
    pub async fn client_entry(&self, client_id: &str) -> Result<Option<Arc<ClientEntry>>, Error> {
        if let Some(e) = self.cache.clients.get(client_id) {
            return Ok(Some(e));
        }
        let Some(client) = self.store.get_client(client_id).await? else {
            // Not registered: perhaps a client ID metadata document's URL (kept in its own
            // cache, with the document's lifetime; see crate::client_metadata).
            if !crate::client_metadata::names_document(client_id) {
                return Ok(None);
            }
            return self
                .metadata
                .resolve(client_id, self.now())
                .await
                .map_err(|e| Error::new(crate::error::ErrorCode::InvalidClient, format!("client metadata document: {e}")));
        };
        let secrets = self.store.client_secrets(client_id).await?;
        let credentials = if client.token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt
            && !client.private_key_jwt_credentials.is_empty()
        {
            self.store.client_credentials(client_id).await?
        } else {
            vec![]
        };
        let entry = Arc::new(ClientEntry { client: Arc::new(client), secrets, credentials });
        self.cache.clients.put(client_id.to_string(), entry.clone());
        Ok(Some(entry))
    }

    /// An API by identifier (the `audience` value), from the cache or the store.
    pub async fn api_by_identifier(&self, identifier: &str) -> Result<Option<Arc<ResourceServer>>, Error> {
        if let Some(a) = self.cache.apis.get(identifier) {
            return Ok(Some(a));
        }
        let Some(api) = self.store.get_api_by_identifier(identifier).await? else { return Ok(None) };
        let api = Arc::new(api);
        self.cache.apis.put(identifier.to_string(), api.clone());
        Ok(Some(api))
    }

    /// The client grant of `client_id` for `audience`, from the cache or the store.
    pub async fn client_grant(&self, client_id: &str, audience: &str) -> Result<Option<Arc<ClientGrant>>, Error> {
        let key = (client_id.to_string(), audience.to_string());
        if let Some(g) = self.cache.grants.get(&key) {
            return Ok(Some(g));
        }
        let Some(grant) = self.store.find_grant(client_id, audience).await? else { return Ok(None) };
        let grant = Arc::new(grant);
        self.cache.grants.put(key, grant.clone());
        Ok(Some(grant))
    }

    /// Called after every registry write: bumps the shared version and clears this node.
    pub(crate) async fn registry_changed(&self) {
        match self.store.bump_registry_version().await {
            Ok(v) => self.cache.clear(v),
            Err(e) => {
                // The write itself committed; without the bump other nodes would serve the
                // old entry until their next successful sync, so log loudly.
                tracing::error!(error = %e, "could not bump the registry version; other nodes may serve stale entries");
                self.cache.clear(-1);
            }
        }
    }

    /// The registry version this node's cache holds: it moves on every change, made here
    /// or (after [`Registry::sync_cache`]) elsewhere.
    pub fn cached_version(&self) -> i64 {
        self.cache.version.load(Ordering::SeqCst)
    }

    /// Clears the cache if the registry changed elsewhere. Run periodically by the server.
    pub async fn sync_cache(&self) -> Result<bool, Error> {
        let v = self.store.registry_version().await?;
        if v != self.cache.version.load(Ordering::SeqCst) {
            self.cache.clear(v);
            return Ok(true);
        }
        Ok(false)
    }
}
