//! The signing bound: how many access tokens per second this machine can sign with one
//! algorithm when that is all it does, on every core.
//!
//! It uses the server's own code path, `tessera_core`'s [`SigningKey::sign_jwt`] with a key
//! parsed once (as the server's key cache holds it), over claims shaped like a real access
//! token. A token endpoint cannot beat this figure; how close it gets is the efficiency of
//! everything around the signature (HTTP, parsing, client authentication, the store).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_core::model::SigningAlg;
use tessera_core::tokens::SigningKey;

/// Claims the size and shape of a client_credentials access token.
fn typical_claims(i: u64) -> serde_json::Value {
    json!({
        "iss": "http://127.0.0.1:8080/",
        "sub": "Qw3rTy8uIoPaSdFgHjKlZxCvBnM12345@clients",
        "aud": "https://bench-rs256",
        "iat": 1_700_000_000u64 + i,
        "exp": 1_700_086_400u64 + i,
        "jti": format!("{i:022}"),
        "client_id": "Qw3rTy8uIoPaSdFgHjKlZxCvBnM12345",
        "azp": "Qw3rTy8uIoPaSdFgHjKlZxCvBnM12345",
        "scope": "read:bench",
        "gty": "client-credentials",
    })
}

/// Signatures per second for `alg` on `threads` threads over `duration` (after a short
/// warm-up per thread).
pub fn sign_rate(alg: SigningAlg, threads: usize, duration: Duration) -> Result<f64, String> {
    let key = Arc::new(SigningKey::generate(alg).map_err(|e| format!("cannot generate a {alg} key: {e:?}"))?);
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..threads.max(1) {
        let (key, stop, measuring, count) = (key.clone(), stop.clone(), measuring.clone(), count.clone());
        handles.push(std::thread::spawn(move || {
            let mut i = 0u64;
            let mut mine = 0u64;
            let mut counting = false;
            while !stop.load(Ordering::Relaxed) {
                let token = key.sign_jwt("at+jwt", &typical_claims(i));
                std::hint::black_box(token);
                i += 1;
                if counting {
                    mine += 1;
                } else if measuring.load(Ordering::Relaxed) {
                    counting = true;
                }
            }
            count.fetch_add(mine, Ordering::Relaxed);
        }));
    }
    std::thread::sleep(Duration::from_millis(200));
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for h in handles {
        h.join().map_err(|_| "a signing thread panicked".to_string())?;
    }
    Ok(count.load(Ordering::Relaxed) as f64 / elapsed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn eddsa_signs_fast_enough_to_measure() {
        let rate = super::sign_rate(super::SigningAlg::EdDSA, 1, std::time::Duration::from_millis(100)).unwrap();
        assert!(rate > 100.0, "{rate}");
    }
}
