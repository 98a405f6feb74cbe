//! The per-address limit on registrations: a fixed window per client IP address, in each
//! node's memory (with N nodes an address may register up to N times the limit, which the
//! README says). Time comes from the deployment's clock, so tests move it instead of
//! waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Windows kept before expired ones are swept out.
const SWEEP_AT: usize = 10_000;

pub struct RegistrationLimiter {
    limit: i64,
    window: i64,
    /// Per address: the window's start and the registrations counted in it.
    windows: Mutex<HashMap<IpAddr, (i64, i64)>>,
}

impl RegistrationLimiter {
    pub fn new(limit: i64, window: i64) -> Self {
        Self { limit, window: window.max(1), windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one registration from `ip` at `now`: `Err(seconds to wait)` over the limit.
    pub fn take(&self, ip: IpAddr, now: i64) -> Result<(), i64> {
        if self.limit <= 0 {
            return Ok(());
        }
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            let window = self.window;
            windows.retain(|_, (start, _)| now < *start + window);
        }
        let w = windows.entry(ip).or_insert((now, 0));
        if now >= w.0 + self.window {
            *w = (now, 0);
        }
        if w.1 >= self.limit {
            return Err((w.0 + self.window - now).max(1));
        }
        w.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_per_address() {
        let l = RegistrationLimiter::new(2, 60);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert_eq!((l.take(a, 100), l.take(a, 110), l.take(a, 120)), (Ok(()), Ok(()), Err(40)));
        assert_eq!(l.take(b, 120), Ok(()));
        assert_eq!(l.take(a, 160), Ok(()));
    }
}
