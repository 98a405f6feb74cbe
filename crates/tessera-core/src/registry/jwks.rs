//! Fetched JWK Sets, cached per URL: trusted issuers' `jwks_uri` and clients' `jwks_uri`
//! (`private_key_jwt`) each have one [`JwksCache`], with its own fetcher (a client-named
//! URL goes through the server's SSRF-safe fetcher; an operator-configured issuer's does
//! not need its address checks). A fetched set is used for [`JWKS_CACHE_SECONDS`]; a
//! `kid` the cached set lacks triggers at most one refetch per [`JWKS_REFETCH_SECONDS`]
//! (key rotation at the issuer or client), so unknown kids cannot make Tessera hammer the
//! URL; a failed refetch keeps the last good set while it is fresh. A failed fetch is not
//! retried for [`JWKS_REFETCH_SECONDS`] either: a client's JWK Set server that is down must
//! not make every unauthenticated assertion naming that client wait for a fetch timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;

use crate::tokens::jose::{parse_client_jwks, ClientKey};

/// How long a fetched JWK Set is used before it is fetched again.
pub const JWKS_CACHE_SECONDS: i64 = 300;
/// The least time between two fetches of one set caused by an unknown `kid`.
pub const JWKS_REFETCH_SECONDS: i64 = 30;

/// Fetches a JWK Set document; the implementation bounds the time and size.
#[async_trait]
pub trait JwksFetcher: Send + Sync {
    async fn fetch(&self, url: &str) -> Result<Value, String>;
}

/// A fetched set and when it was fetched.
type Fetched = (i64, Arc<Vec<ClientKey>>);

#[derive(Default)]
pub(crate) struct JwksCache {
    fetcher: std::sync::OnceLock<Arc<dyn JwksFetcher>>,
    sets: Mutex<HashMap<String, Fetched>>,
    /// The last failed fetch of a URL: when, and why.
    failed: Mutex<HashMap<String, (i64, String)>>,
}

impl JwksCache {
    /// Installs the fetcher (once, at start).
    pub(crate) fn install(&self, fetcher: Arc<dyn JwksFetcher>) {
        let _ = self.fetcher.set(fetcher);
    }

    /// Drops the cached set of `uri` (its owner changed).
    pub(crate) fn forget(&self, uri: &str) {
        if let Ok(mut sets) = self.sets.lock() {
            sets.remove(uri);
        }
        if let Ok(mut failed) = self.failed.lock() {
            failed.remove(uri);
        }
    }

    /// The set at `uri`, cached or fetched; `Err(None)` without a fetcher.
    pub(crate) async fn keys(&self, uri: &str, kid: Option<&str>, now: i64) -> Result<Arc<Vec<ClientKey>>, Option<String>> {
        let cached = self.sets.lock().ok().and_then(|s| s.get(uri).cloned());
        let has_kid = |keys: &[ClientKey]| kid.is_none() || keys.iter().any(|k| k.kid.as_deref() == kid);
        if let Some((at, keys)) = &cached {
            let fresh = now - at < JWKS_CACHE_SECONDS;
            let may_refetch = now - at >= JWKS_REFETCH_SECONDS;
            if fresh && (has_kid(keys) || !may_refetch) {
                return Ok(keys.clone());
            }
        }
        let fetcher = self.fetcher.get().ok_or(None)?;
        let recent_failure =
            self.failed.lock().ok().and_then(|f| f.get(uri).cloned()).filter(|(at, _)| now - at < JWKS_REFETCH_SECONDS);
        let fetched = match recent_failure {
            Some((_, e)) => Err(e),
            None => {
                let result = fetcher.fetch(uri).await.and_then(|doc| parse_client_jwks(&doc));
                if let (Err(e), Ok(mut failed)) = (&result, self.failed.lock()) {
                    failed.insert(uri.to_string(), (now, e.clone()));
                }
                result
            }
        };
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Ok(mut sets) = self.sets.lock() {
                    sets.insert(uri.to_string(), (now, keys.clone()));
                }
                if let Ok(mut failed) = self.failed.lock() {
                    failed.remove(uri);
                }
                Ok(keys)
            }
            // A failed refresh keeps the last good set for as long as it is fresh.
            Err(e) => match cached {
                Some((at, keys)) if now - at < JWKS_CACHE_SECONDS => Ok(keys),
                _ => Err(Some(e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;
    use crate::model::SigningAlg;
    use crate::tokens::SigningKey;

    struct Counting(Value, AtomicUsize);

    #[async_trait]
    impl JwksFetcher for Counting {
        async fn fetch(&self, _url: &str) -> Result<Value, String> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok(self.0.clone())
        }
    }

    #[tokio::test]
    async fn fetched_sets_are_cached_and_unknown_kids_refetch_at_most_every_30_seconds() {
        let key = SigningKey::generate(SigningAlg::ES256).unwrap();
        let mut jwk = key.public_jwk();
        jwk.insert("kid".into(), "k1".into());
        let fetcher = Arc::new(Counting(json!({"keys": [jwk]}), AtomicUsize::new(0)));
        let cache = JwksCache::default();
        let _ = cache.fetcher.set(fetcher.clone());
        let count = || fetcher.1.load(Ordering::SeqCst);
        let uri = "https://idp/jwks";
        assert_eq!(cache.keys(uri, Some("k1"), 1000).await.unwrap().len(), 1);
        assert_eq!(cache.keys(uri, Some("k1"), 1100).await.unwrap().len(), 1);
        assert_eq!(count(), 1, "cached");
        cache.keys(uri, Some("k2"), 1010).await.unwrap();
        assert_eq!(count(), 1, "an unknown kid 10 s after the fetch does not refetch");
        cache.keys(uri, Some("k2"), 1030).await.unwrap();
        assert_eq!(count(), 2, "30 s later it does");
        cache.keys(uri, Some("k1"), 1030 + JWKS_CACHE_SECONDS).await.unwrap();
        assert_eq!(count(), 3, "expired");
    }

    struct Failing(AtomicUsize);

    #[async_trait]
    impl JwksFetcher for Failing {
        async fn fetch(&self, _url: &str) -> Result<Value, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err("connection refused".into())
        }
    }

    #[tokio::test]
    async fn a_failed_fetch_is_not_retried_for_30_seconds() {
        let fetcher = Arc::new(Failing(AtomicUsize::new(0)));
        let cache = JwksCache::default();
        cache.install(fetcher.clone());
        let uri = "https://client.example/jwks";
        for now in [1000, 1001, 1029] {
            let e = cache.keys(uri, Some("k1"), now).await.unwrap_err();
            assert_eq!(e.as_deref(), Some("connection refused"), "the reason is kept");
        }
        assert_eq!(fetcher.0.load(Ordering::SeqCst), 1, "one fetch within 30 s of the failure");
        cache.keys(uri, Some("k1"), 1030).await.unwrap_err();
        assert_eq!(fetcher.0.load(Ordering::SeqCst), 2, "then one more");
        cache.forget(uri);
        cache.keys(uri, Some("k1"), 1031).await.unwrap_err();
        assert_eq!(fetcher.0.load(Ordering::SeqCst), 3, "a changed owner is fetched at once");
    }
}
