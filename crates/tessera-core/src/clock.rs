//! The time source. Every expiry decision takes `now` from a [`Clock`] so that tests can
//! move time instead of sleeping. `SystemTime::now()` appears in this file only.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch. Tokens (`iat`, `exp`) and the store use whole seconds.
pub type Timestamp = i64;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
}

/// The wall clock in milliseconds, to measure its offset from another clock.
pub fn system_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The wall clock moved forward by a correction: the whole seconds it is known to run
/// behind a reference every node shares (the PostgreSQL server's clock; issue 19). Nodes
/// whose clocks lag then decide expiry like the others instead of accepting what expired
/// seconds ago; a node that runs ahead is not moved back (it only refuses a little early).
#[derive(Debug, Clone, Default)]
pub struct CorrectedClock(Arc<AtomicI64>);

impl CorrectedClock {
    pub fn new() -> Self {
        Self::default()
    }
    /// Seconds added to the wall clock from now on (never negative).
    pub fn set_correction(&self, seconds: i64) {
        self.0.store(seconds.max(0), Ordering::Relaxed);
    }
    pub fn correction(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Clock for CorrectedClock {
    fn now(&self) -> Timestamp {
        SystemClock.now() + self.correction()
    }
}

/// A clock that only moves when told to; shared between a test and the server it drives.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }
    /// Starts at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
    pub fn set(&self, at: Timestamp) {
        self.0.store(at, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}
