//! Runs jobs in the background. Every node polls; a job is claimed with one conditional
//! UPDATE (see `store::jobs`), so exactly one node runs it. The claim is a lease, renewed
//! by each committed batch: a node that stops mid-job leaves it to be taken over once the
//! lease has run out, and the next node resumes at the job's cursor.

use std::time::Duration;

use tessera_core::crypto::random_token;
use tessera_core::model::{JobKind, JobStatus};

use crate::app::AppState;

/// How often an idle node looks for work.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long a claim holds without progress before another node may take the job over.
pub const LEASE_SECONDS: i64 = 60;

/// Claims and runs jobs until none is waiting.
pub async fn run_pending(state: &AppState) {
    loop {
        let claim = random_token::<16>();
        let now = state.now();
        let job = match state.deployment.store.claim_job(&claim, now, now + LEASE_SECONDS).await {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim a job");
                return;
            }
        };
        tracing::info!(job = %job.id, kind = job.kind.as_str(), cursor = job.cursor, "running job");
        let outcome = match job.kind {
            JobKind::UsersImport => super::import::run(state, &job, &claim).await,
            JobKind::UsersExport => super::export::run(state, &job).await,
        };
        let (status, result, failure) = match outcome {
            Ok(Outcome::Done(result)) => (JobStatus::Completed, result, None),
            Ok(Outcome::Failed(why)) => (JobStatus::Failed, None, Some(why)),
            // Another node holds the job now (this one was too slow): leave it.
            Ok(Outcome::LostClaim) => continue,
            Err(e) => {
                // A store outage: the lease runs out and the job is taken up again.
                tracing::warn!(job = %job.id, error = %e, "job interrupted; it will be resumed");
                return;
            }
        };
        let store = &state.deployment.store;
        match store.finish_job(&job.id, &claim, status, result.as_deref(), failure.as_deref(), state.now()).await {
            Ok(true) => tracing::info!(job = %job.id, status = status.as_str(), "job finished"),
            Ok(false) => {}
            Err(e) => tracing::warn!(job = %job.id, error = %e, "cannot record a finished job; it will be resumed"),
        }
    }
}

/// How a job's run ended.
pub enum Outcome {
    /// Completed, with an export's output.
    Done(Option<String>),
    /// Failed as a whole (Auth0's `status: failed`), with why.
    Failed(String),
    LostClaim,
}

/// The background loop `serve` runs.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        run_pending(&state).await;
    }
}
