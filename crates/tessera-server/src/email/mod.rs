//! Email delivery (issue 17): a durable outbox in the database, delivered over SMTP.
//!
//! - [`queue`] writes a rendered message ([`templates`]) to the outbox table; the request
//!   that caused it is done once the row is committed, whether or not the relay is up.
//! - [`worker`] (one per node) claims due rows under a lease, hands them to the relay
//!   ([`smtp`]), marks them sent, or reschedules them with backoff: a relay outage delays
//!   mail, it never loses it. Without a relay, `serve --demo` logs each message instead.

pub mod smtp;
pub mod templates;
pub mod worker;

use tessera_core::store::Store;
use tessera_core::tickets::OutboundEmail;
use tessera_core::Error;

/// Queues `message` for `to`; returns the outbox id.
pub async fn queue(store: &dyn Store, to: &str, message: templates::Rendered, now: i64) -> Result<String, Error> {
    let e = OutboundEmail::new(to, &message.subject, message.text, message.html, now);
    store.enqueue_email(&e).await?;
    tracing::debug!(id = %e.id, "email queued");
    Ok(e.id)
}

/// Creates a single-use ticket of `kind` for `user` and queues the email carrying its link
/// to `path` (the hosted page that redeems it).
async fn ticket_email(
    state: &crate::app::AppState,
    user: &tessera_core::model::User,
    kind: tessera_core::tickets::TicketKind,
    path: &str,
    lifetime: i64,
    render: impl FnOnce(&str) -> templates::Rendered,
) -> Result<(), Error> {
    let Some(email) = user.email.as_deref() else { return Ok(()) };
    let d = &state.deployment;
    let now = state.now();
    let value = tessera_core::crypto::random_token::<32>();
    let ticket = tessera_core::tickets::Ticket {
        ticket_hash: d.keyring.hash_handle(&value),
        kind,
        user_id: Some(user.user_id.clone()),
        email: Some(email.to_string()),
        client_id: None,
        code_hash: None,
        scope: None,
        created_at: now,
        expires_at: now + lifetime,
        consumed_at: None,
        attempts: 0,
    };
    d.store.put_ticket(&ticket).await?;
    let link = format!("{}?ticket={value}", tessera_core::routes::url(&state.issuer, path));
    queue(d.store.as_ref(), email, render(&link), now).await.map(|_| ())
}

/// The "verify your email" message after a sign-up (Auth0 sends it by default).
pub async fn send_verification(state: &crate::app::AppState, user: &tessera_core::model::User, app: &str) -> Result<(), Error> {
    let lifetime = state.deployment.config.email.verification_ticket_lifetime;
    let kind = tessera_core::tickets::TicketKind::EmailVerification;
    ticket_email(state, user, kind, tessera_core::routes::VERIFY_EMAIL, lifetime, |link| {
        templates::verification(app, link, (lifetime / 3600).max(1))
    })
    .await
}

/// The password-reset message with its single-use link.
pub async fn send_password_reset(state: &crate::app::AppState, user: &tessera_core::model::User) -> Result<(), Error> {
    let lifetime = state.deployment.config.email.reset_ticket_lifetime;
    let kind = tessera_core::tickets::TicketKind::PasswordReset;
    ticket_email(state, user, kind, tessera_core::routes::RESET_PASSWORD, lifetime, |link| {
        templates::password_reset(link, (lifetime / 60).max(1))
    })
    .await
}
