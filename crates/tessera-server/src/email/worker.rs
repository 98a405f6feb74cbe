//! The outbox worker: every [`POLL`] it claims due messages for [`LEASE`] seconds (so a
//! node that dies mid-delivery only delays them), sends each, and marks it sent or
//! reschedules it after [`tessera_core::tickets::backoff`]. Several nodes run it at once
//! safely: a claim is one statement that never hands a row to two live leases.

use std::time::Duration;

use tessera_core::tickets::backoff;

use super::smtp::Relay;
use crate::app::AppState;

pub const POLL: Duration = Duration::from_millis(500);
/// Seconds a claimed message is reserved for the claiming node.
pub const LEASE: i64 = 120;
/// Messages claimed per round.
const BATCH: i64 = 20;
/// Sent messages and dead tickets are kept this long (seconds) for support questions.
const KEEP: i64 = 7 * 86_400;

/// Runs until the task is aborted. Returns at once when there is nothing to deliver to
/// (no relay configured and not a demo): messages then wait in the outbox for a node that
/// has one.
pub async fn run(state: AppState) {
    let relay = match Relay::from_config(&state.deployment.config.email) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the SMTP relay is misconfigured; emails wait in the outbox");
            None
        }
    };
    let demo = state.demo.is_some();
    match &relay {
        Some(r) => tracing::info!(relay = %r.name, "delivering email through the SMTP relay"),
        None if demo => tracing::info!("no SMTP relay configured: the demo logs each email's links and codes instead"),
        None => {
            tracing::warn!("no SMTP relay configured (email.smtp_host): verification, reset and code emails wait in the outbox");
            return;
        }
    }
    let claim = tessera_core::crypto::random_alnum(20);
    let store = state.deployment.store.clone();
    let mut tick = tokio::time::interval(POLL);
    let mut purged_at = 0;
    loop {
        tick.tick().await;
        let now = state.now();
        let due = match store.claim_due_emails(now, now + LEASE, &claim, BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the email outbox");
                continue;
            }
        };
        for e in due {
            let outcome = match &relay {
                Some(r) => r.send(&e).await,
                None => {
                    tracing::info!(to = %e.recipient, subject = %e.subject, body = %e.text_body, "demo email (no SMTP relay)");
                    Ok(())
                }
            };
            let now = state.now();
            let recorded = match outcome {
                Ok(()) => store.mark_email_sent(&e.id, &claim, now).await,
                Err(err) => {
                    let wait = backoff(e.attempts + 1);
                    tracing::warn!(id = %e.id, attempt = e.attempts + 1, retry_in = wait, error = %err, "email delivery failed; will retry");
                    store.reschedule_email(&e.id, &claim, now + wait, &err).await
                }
            };
            if let Err(err) = recorded {
                // The lease runs out and the message is tried again: delivered at least once.
                tracing::warn!(id = %e.id, error = %err, "cannot record the email delivery outcome");
            }
        }
        if now - purged_at >= 3600 {
            purged_at = now;
            let _ = store.purge_email_state(now - KEEP).await;
        }
    }
}
