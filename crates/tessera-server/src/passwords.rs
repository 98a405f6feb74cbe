//! A fixed pool of threads for Argon2id verification. Each verification needs ~19 MiB and
//! tens of milliseconds of CPU: running them on the async workers would stall every other
//! request, and running them on tokio's unbounded blocking pool lets a burst of logins
//! allocate hundreds of megabytes. Here at most one verification per core runs at once,
//! each worker reusing its own buffer, so login memory is bounded by cores × 19 MiB.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use tessera_core::password::Verified;
use tokio::sync::oneshot;

struct Job {
    password: String,
    phc: String,
    reply: oneshot::Sender<Verified>,
}

#[derive(Clone)]
pub struct PasswordPool {
    jobs: Sender<Job>,
}

impl PasswordPool {
    pub fn new(workers: usize) -> Self {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("tessera-argon2-{i}")).spawn(move || worker(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password worker");
            }
        }
        Self { jobs: tx }
    }

    /// One worker per available core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Verifies `password` against a stored hash (Argon2id, or one brought in by an
    /// import, which then comes with its Argon2id replacement); not ok on mismatch or if the
    /// pool is gone.
    pub async fn verify(&self, password: String, phc: String) -> Verified {
        let (reply, answer) = oneshot::channel();
        if self.jobs.send(Job { password, phc, reply }).is_err() {
            return Verified::default();
        }
        answer.await.unwrap_or_default()
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    let mut memory = Vec::new();
    loop {
        // Hold the lock only to take a job, not while hashing.
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let ok = tessera_core::password::verify_password_in(&job.password, &job.phc, &mut memory);
        let _ = job.reply.send(ok);
    }
}

/// The password grants verify on the same pool as the login page.
#[async_trait::async_trait]
impl tessera_core::grants::password::PasswordVerifier for PasswordPool {
    async fn verify(&self, password: String, phc: String) -> Verified {
        PasswordPool::verify(self, password, phc).await
    }
}
