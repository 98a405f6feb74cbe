//! Trusted issuers (RFC 7523 `jwt-bearer` grants, RFC 8693 `token-type:jwt` subjects) and
//! their keys. An issuer's JWK Set is inline or fetched from its `jwks_uri` through the
//! [`JwksFetcher`] port (the server implements it over HTTP with timeouts and a size
//! limit); fetched sets are cached here for [`JWKS_CACHE_SECONDS`], and a `kid` the cached
//! set lacks triggers at most one refetch per [`JWKS_REFETCH_SECONDS`] (key rotation at the
//! issuer) so unknown kids cannot make Tessera hammer it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::Registry;
use crate::crypto::random_alnum;
use crate::error::Error;
use crate::model::{TrustedIssuer, TrustedIssuerPatch};
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
}

impl Registry {
    /// Installs the fetcher for `jwks_uri` issuers (once, at start).
    pub fn set_jwks_fetcher(&self, fetcher: Arc<dyn JwksFetcher>) {
        let _ = self.jwks.fetcher.set(fetcher);
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
            self.forget_jwks(uri);
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

    fn forget_jwks(&self, uri: &str) {
        if let Ok(mut sets) = self.jwks.sets.lock() {
            sets.remove(uri);
        }
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

impl JwksCache {
    /// The set at `uri`, cached or fetched; `Err(None)` without a fetcher.
    async fn keys(&self, uri: &str, kid: Option<&str>, now: i64) -> Result<Arc<Vec<ClientKey>>, Option<String>> {
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
        match fetcher.fetch(uri).await.and_then(|doc| parse_client_jwks(&doc)) {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Ok(mut sets) = self.sets.lock() {
                    sets.insert(uri.to_string(), (now, keys.clone()));
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
}
