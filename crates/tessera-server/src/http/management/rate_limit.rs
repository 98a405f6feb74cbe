//! Auth0's Management API rate limit: a token bucket per calling client, with the
//! `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset` headers on every
//! answer and 429 + `Retry-After` when the bucket is empty (Auth0's SDKs retry on it).
//! Buckets live in each node's memory: with N nodes a client may make up to N times the
//! limit, which the README says.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue};

/// Buckets kept before idle (full) ones are swept out.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens left, scaled by 1000 for sub-token refill without floats.
    milli_tokens: i64,
    updated_ms: i64,
}

/// What a request was allowed, for its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: i64,
    pub remaining: i64,
    /// Unix seconds when the bucket is full again.
    pub reset: i64,
}

pub struct RateLimiter {
    /// Requests per second, which is also the burst (the bucket's size); 0 is no limit.
    per_second: i64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_second: i64) -> Self {
        Self { per_second, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `client_id` at `now_ms`: `Ok` with the quota left, or `Err`
    /// with the quota and the seconds to wait.
    pub fn take(&self, client_id: &str, now_ms: i64) -> Result<Option<Quota>, (Quota, i64)> {
        if self.per_second <= 0 {
            return Ok(None);
        }
        let full = self.per_second * 1000;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SWEEP_AT {
            let per_second = self.per_second;
            buckets.retain(|_, b| b.milli_tokens + (now_ms - b.updated_ms) * per_second < full);
        }
        let b = buckets.entry(client_id.to_string()).or_insert(Bucket { milli_tokens: full, updated_ms: now_ms });
        // Refill: per_second tokens per 1000 ms, i.e. per_second milli-tokens per ms.
        b.milli_tokens = (b.milli_tokens + (now_ms - b.updated_ms).max(0) * self.per_second).min(full);
        b.updated_ms = now_ms;
        let quota = |milli: i64| {
            let missing_ms = (full - milli) / self.per_second;
            Quota { limit: self.per_second, remaining: milli / 1000, reset: (now_ms + missing_ms + 999) / 1000 }
        };
        if b.milli_tokens >= 1000 {
            b.milli_tokens -= 1000;
            Ok(Some(quota(b.milli_tokens)))
        } else {
            let wait_ms = (1000 - b.milli_tokens) / self.per_second;
            Err((quota(b.milli_tokens), (wait_ms + 999) / 1000))
        }
    }
}

/// Auth0's rate-limit headers.
pub fn headers(h: &mut HeaderMap, q: &Quota) {
    for (name, v) in [("x-ratelimit-limit", q.limit), ("x-ratelimit-remaining", q.remaining), ("x-ratelimit-reset", q.reset)] {
        if let Ok(v) = HeaderValue::from_str(&v.to_string()) {
            h.insert(name, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn a_bucket_empties_refills_and_is_per_client() {
        let l = RateLimiter::new(2);
        let t = 1_000_000;
        assert_eq!(l.take("a", t).unwrap().unwrap().remaining, 1);
        assert_eq!(l.take("a", t).unwrap().unwrap().remaining, 0);
        let (q, retry) = l.take("a", t).unwrap_err();
        assert_eq!((q.remaining, retry), (0, 1));
        assert!(l.take("b", t).is_ok(), "another client has its own bucket");
        assert!(l.take("a", t + 500).is_ok(), "half a second refills one of two per second");
        assert!(l.take("a", t + 500).is_err());
        assert_eq!(RateLimiter::new(0).take("a", t), Ok(None), "0 is no limit");
    }
}
