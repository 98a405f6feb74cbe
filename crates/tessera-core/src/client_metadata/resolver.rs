//! Resolving a metadata-document client: fetch through the [`DocumentFetcher`] port (the
//! server's SSRF-safe fetcher: https only, no redirects, private addresses refused after
//! DNS, timeouts, a size limit), validate, and keep the client in this node's memory for
//! as long as the document's HTTP caching allows within the tenant's bounds
//! ([`super::MetadataPolicy::cache_seconds`]). Nothing is written to the database: every
//! node fetches for itself, and codes, refresh tokens and consents name the client by its
//! URL as they name any client.
//!
//! Failures are not cached (a fixed document works on the next request); the cache holds
//! at most [`MAX_CLIENTS`] documents, so a flood of new URLs cannot grow it without bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;

use super::{check_client_id, check_document, client_from, MetadataPolicy};
use crate::registry::ClientEntry;

/// Most documents kept at once on a node.
pub const MAX_CLIENTS: usize = 10_000;

/// A fetched document and what its HTTP caching headers allow (`Cache-Control: max-age`;
/// `no-store` / `no-cache` give 0).
#[derive(Debug, Clone)]
pub struct FetchedDocument {
    pub body: Vec<u8>,
    pub max_age: Option<i64>,
}

/// Fetches a client-named URL under the deployment's outbound policy.
#[async_trait]
pub trait DocumentFetcher: Send + Sync {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, String>;
}

struct Installed {
    policy: MetadataPolicy,
    fetcher: Arc<dyn DocumentFetcher>,
}

#[derive(Default)]
pub struct MetadataResolver {
    installed: OnceLock<Installed>,
    /// URL → (used until, client).
    cache: Mutex<HashMap<String, (i64, Arc<ClientEntry>)>>,
}

impl MetadataResolver {
    /// Turns the feature on (once, at start) with its policy and fetcher.
    pub fn install(&self, policy: MetadataPolicy, fetcher: Arc<dyn DocumentFetcher>) {
        if policy.enabled {
            let _ = self.installed.set(Installed { policy, fetcher });
        }
    }

    pub fn policy(&self) -> Option<&MetadataPolicy> {
        self.installed.get().map(|i| &i.policy)
    }

    /// The client `client_id` names: `Ok(None)` when the feature is off; an error that says
    /// why the document cannot be used otherwise.
    pub async fn resolve(&self, client_id: &str, now: i64) -> Result<Option<Arc<ClientEntry>>, String> {
        let Some(installed) = self.installed.get() else { return Ok(None) };
        if let Some((until, entry)) = self.lock().get(client_id) {
            if now < *until {
                return Ok(Some(entry.clone()));
            }
        }
        let host = check_client_id(client_id)?;
        installed.policy.host_allowed(&host)?;
        let doc = installed.fetcher.fetch(client_id).await?;
        let (obj, jwks_uri) = check_document(client_id, &doc.body)?;
        let jwks = match jwks_uri {
            Some(uri) => {
                let set = installed.fetcher.fetch(&uri).await.map_err(|e| format!("its jwks_uri: {e}"))?;
                Some(serde_json::from_slice(&set.body).map_err(|e| format!("its jwks_uri is not JSON: {e}"))?)
            }
            None => None,
        };
        let client = client_from(client_id, obj, jwks, now)?;
        let entry = Arc::new(ClientEntry { client: Arc::new(client), secrets: vec![], credentials: vec![] });
        let until = now + installed.policy.cache_seconds(doc.max_age);
        let mut cache = self.lock();
        if cache.len() >= MAX_CLIENTS {
            cache.retain(|_, (u, _)| now < *u);
            if cache.len() >= MAX_CLIENTS {
                cache.clear();
            }
        }
        cache.insert(client_id.to_string(), (until, entry.clone()));
        Ok(Some(entry))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Arc<ClientEntry>)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    const ID: &str = "https://mcp.example.com/client.json";

    struct Counting(AtomicUsize, Option<i64>);

    #[async_trait]
    impl DocumentFetcher for Counting {
        async fn fetch(&self, url: &str) -> Result<FetchedDocument, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let body = json!({"client_id": url, "redirect_uris": ["https://mcp.example.com/cb"]}).to_string().into_bytes();
            Ok(FetchedDocument { body, max_age: self.1 })
        }
    }

    #[tokio::test]
    async fn off_by_default_then_cached_within_the_policy_bounds() {
        let r = MetadataResolver::default();
        assert!(r.resolve(ID, 0).await.unwrap().is_none(), "not installed: off");
        let fetcher = Arc::new(Counting(AtomicUsize::new(0), Some(300)));
        r.install(MetadataPolicy { enabled: true, ..Default::default() }, fetcher.clone());
        let count = || fetcher.0.load(Ordering::SeqCst);
        assert_eq!(r.resolve(ID, 1000).await.unwrap().unwrap().client.client_id, ID);
        r.resolve(ID, 1299).await.unwrap();
        assert_eq!(count(), 1, "max-age 300 honoured");
        r.resolve(ID, 1300).await.unwrap();
        assert_eq!(count(), 2, "expired");
        let denied = MetadataResolver::default();
        denied.install(
            MetadataPolicy { enabled: true, denied_domains: vec!["example.com".into()], ..Default::default() },
            fetcher.clone(),
        );
        assert!(denied.resolve(ID, 0).await.unwrap_err().contains("not accepted"));
        assert_eq!(count(), 2, "a denied domain is never fetched");
        assert!(r.resolve("https://mcp.example.com/", 0).await.unwrap_err().contains("path"));
    }
}
