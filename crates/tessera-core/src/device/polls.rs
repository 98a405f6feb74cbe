//! Polling pace for the device code grant (RFC 8628 §3.5): a poll sooner than the interval
//! after the previous one gets `slow_down`, and the interval grows by 5 seconds for it and
//! every later poll.
//!
//! Why in memory: a poll before the user decides must cost no database write (issue 20:
//! only the indexed read of the device code), yet telling that a poll came too soon needs
//! the time of the previous one. Writing it would turn every poll into a durable commit;
//! computing it without any state is impossible. So each node remembers, per device code
//! hash, the last poll and the current interval, in a bounded map that forgets expired
//! codes. The trade-off: with several nodes behind a round-robin balancer each node paces
//! the polls it sees, so a client that ignores the interval can poll up to once per
//! interval per node before being slowed down; the device code's lifetime and the user
//! code's own brute-force limits are unaffected, and nothing an honest client does
//! depends on it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{Error, ErrorCode};

/// RFC 8628 §3.5: the interval grows by 5 seconds with every slow_down.
pub const SLOW_DOWN_STEP: i64 = 5;

/// Entries kept before the expired ones are swept out; past [`MAX_ENTRIES`] new device
/// codes are not paced (a flood of device codes cannot grow the map without bound).
const SWEEP_AT: usize = 4096;
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Pace {
    last_poll: i64,
    interval: i64,
    expires_at: i64,
}

#[derive(Debug, Default)]
pub struct Polls {
    paces: Mutex<HashMap<String, Pace>>,
}

impl Polls {
    /// Records a poll of the device code `hash` at `now`. `Err(slow_down)` when it came
    /// sooner than the interval after the previous poll; the interval then grows.
    pub fn poll(&self, hash: &str, now: i64, interval: i64, expires_at: i64) -> Result<(), Error> {
        let mut paces = match self.paces.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(p) = paces.get_mut(hash) {
            let too_soon = now - p.last_poll < p.interval;
            p.last_poll = now;
            if too_soon {
                p.interval += SLOW_DOWN_STEP;
                return Err(Error::new(
                    ErrorCode::SlowDown,
                    format!("polling too fast: wait at least {} seconds between requests", p.interval),
                ));
            }
            return Ok(());
        }
        if paces.len() >= SWEEP_AT {
            paces.retain(|_, p| p.expires_at > now);
        }
        if paces.len() < MAX_ENTRIES {
            paces.insert(hash.to_string(), Pace { last_poll: now, interval, expires_at });
        }
        Ok(())
    }

    /// The interval a device code is now held to (for tests and the log).
    pub fn interval(&self, hash: &str) -> Option<i64> {
        self.paces.lock().ok()?.get(hash).map(|p| p.interval)
    }

    /// Forgets a device code once its tokens are issued.
    pub fn forget(&self, hash: &str) {
        if let Ok(mut paces) = self.paces.lock() {
            paces.remove(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_sooner_than_the_interval_slow_down_and_the_interval_grows() {
        let polls = Polls::default();
        // (seconds since start, expected answer, interval afterwards)
        let table = [(0, true, 5), (5, true, 5), (9, false, 10), (19, true, 10), (28, false, 15), (43, true, 15)];
        for (t, ok, interval) in table {
            let got = polls.poll("h", 1000 + t, 5, 5000);
            assert_eq!(got.is_ok(), ok, "poll at +{t}");
            if let Err(e) = got {
                assert_eq!(e.code, ErrorCode::SlowDown);
            }
            assert_eq!(polls.interval("h"), Some(interval), "interval after +{t}");
        }
        polls.forget("h");
        assert_eq!(polls.interval("h"), None);
    }

    #[test]
    fn expired_codes_are_swept() {
        let polls = Polls::default();
        for i in 0..SWEEP_AT {
            polls.poll(&format!("old{i}"), 100, 5, 200).unwrap();
        }
        polls.poll("new", 300, 5, 900).unwrap();
        assert_eq!(polls.paces.lock().unwrap().len(), 1);
    }
}
