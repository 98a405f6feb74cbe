//! Fetching a trusted issuer's JWK Set from its `jwks_uri` (the
//! [`tessera_core::registry::JwksFetcher`] port; the registry caches what this returns).
//!
//! Bounded so that a slow or hostile URL cannot tie up the token endpoint: a connect
//! timeout, a total timeout, no redirects, and a size limit enforced while reading (a
//! missing or false `Content-Length` does not get around it).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tessera_core::registry::JwksFetcher;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Larger than any real JWK Set (a few RSA keys are a few KiB).
pub const MAX_BYTES: usize = 64 * 1024;

pub struct HttpJwksFetcher {
    client: reqwest::Client,
}

impl HttpJwksFetcher {
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // Each HTTP worker runs its own runtime; a pooled connection would be driven by
            // whichever one opened it. Fetches are rare (cached), so none is kept.
            .pool_max_idle_per_host(0)
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the JWKS HTTP client: {e}"))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl JwksFetcher for HttpJwksFetcher {
    async fn fetch(&self, url: &str) -> Result<Value, String> {
        let mut resp = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP status {}", resp.status().as_u16()));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(format!("the JWK Set is larger than {MAX_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("reading the body failed: {e}"))? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(format!("the JWK Set is larger than {MAX_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("the JWK Set is not JSON: {e}"))
    }
}
