//! The audit log's writer for the request path. A token exchange pushes its event into a
//! bounded in-memory queue (a mutex push, no I/O); a background task writes the queue in one
//! transaction every [`FLUSH_EVERY`], and once more at shutdown. So the token endpoint never
//! waits on a database write for its log entry; a crash loses at most the events of the
//! last interval, and a full queue drops (and counts) events rather than slowing requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tessera_core::store::{AuditEvent, Store};

pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

pub struct AuditWriter {
    queue: Mutex<Vec<AuditEvent>>,
    capacity: usize,
    dropped: AtomicU64,
}

impl AuditWriter {
    pub fn new(capacity: usize) -> Self {
        Self { queue: Mutex::new(Vec::new()), capacity, dropped: AtomicU64::new(0) }
    }

    /// Whether request-path events are logged at all (`audit.queue = 0` turns them off).
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Queues an event; drops it (counted) when the queue is full.
    pub fn push(&self, event: AuditEvent) {
        if !self.enabled() {
            return;
        }
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= self.capacity {
            drop(q);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.push(event);
    }

    /// Events dropped because the queue was full (or a batch could not be written).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is queued in one transaction; how many events were written.
    pub async fn flush(&self, store: &dyn Store) -> usize {
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return 0;
        }
        match store.record_audit_batch(&batch).await {
            Ok(()) => batch.len(),
            Err(e) => {
                // Put the batch back in front of what came since, as far as the bound allows,
                // so a short database outage loses nothing.
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                let keep = batch.len().min(self.capacity.saturating_sub(q.len()));
                let lost = batch.len() - keep;
                let mut merged = batch;
                merged.truncate(keep);
                merged.append(&mut q);
                *q = merged;
                drop(q);
                self.dropped.fetch_add(lost as u64, Ordering::Relaxed);
                tracing::warn!(error = %e, kept = keep, dropped = lost, "could not write audit events; will retry");
                0
            }
        }
    }
}
