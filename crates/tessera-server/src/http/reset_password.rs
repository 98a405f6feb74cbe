//! The hosted password-reset page, `GET/POST /u/reset-password?ticket=...`, opened from the
//! emailed link. A plain HTML form (new password and its confirmation) that works without
//! JavaScript. The ticket is the form's secret (it came only by email), single use and
//! expiring: it is consumed by one conditional UPDATE when the new password is accepted,
//! and an expired or used link gets a page saying so.
//!
//! A new password ends the user's SSO sessions and revokes their refresh tokens, so whoever
//! knew the old password is logged out everywhere (OWASP ASVS 3.3.3). Auth0 leaves refresh
//! tokens alone unless a post-change-password Action revokes them: a deliberate
//! difference (README).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::Params;
use tessera_core::password::MIN_PASSWORD_LEN;
use tessera_core::routes;
use tessera_core::tickets::TicketKind;
use tessera_core::Error;

use super::html::{escape, Page};
use super::interaction::form;
use crate::app::AppState;

/// The page for a link that cannot be used (any reason: unknown, expired, used).
fn dead_link() -> Response {
    let body = "<h1>This link cannot be used</h1><p class=\"error\" role=\"alert\">The password-reset link has expired \
                or was already used. Ask for a new one from the application's login page.</p>"
        .to_string();
    Page::new(StatusCode::BAD_REQUEST, "Link expired", body).into_response()
}

fn render(state: &AppState, ticket: &str, error: Option<&str>) -> Response {
    let message = error.map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "<h1>Change your password</h1>{message}<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\
         <label for=\"password\">New password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"{MIN_PASSWORD_LEN}\" required autofocus>\
         <label for=\"password_confirmation\">Confirm the new password</label>\
         <input id=\"password_confirmation\" name=\"password_confirmation\" type=\"password\" autocomplete=\"new-password\" required>\
         <button type=\"submit\">Reset password</button></form>",
        action = escape(&routes::url(&state.issuer, routes::RESET_PASSWORD)),
        ticket = escape(ticket),
    );
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Page::new(status, "Change your password", body).into_response()
}

/// Whether the ticket is live now (the GET only looks; the POST consumes).
async fn live(state: &AppState, ticket: &str) -> Result<bool, Error> {
    let d = &state.deployment;
    let t = d.store.get_ticket(&d.keyring.hash_handle(ticket)).await?;
    Ok(t.is_some_and(|t| t.kind == TicketKind::PasswordReset && t.consumed_at.is_none() && t.expires_at > state.now()))
}

pub async fn page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let Some(ticket) = params.get("ticket") else { return dead_link() };
    match live(&state, ticket).await {
        Ok(true) => render(&state, ticket, None),
        Ok(false) => dead_link(),
        Err(e) => super::error::HtmlError(e).into_response(),
    }
}

pub async fn submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let params = match form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(ticket) = params.get("ticket") else { return dead_link() };
    let password = params.get("password").unwrap_or_default();
    // Checked before the ticket is spent, so a typo costs the user nothing.
    if password != params.get("password_confirmation").unwrap_or_default() {
        return render(&state, ticket, Some("The two passwords are not the same."));
    }
    if tessera_core::password::validate_password(password).is_err() {
        return render(&state, ticket, Some(&format!("The password must be at least {MIN_PASSWORD_LEN} characters.")));
    }
    match reset(&state, ticket, password).await {
        Ok(true) => {
            let body = "<h1>Password changed</h1><p>Your password was changed. Return to the application and log in \
                        with the new one.</p>"
                .to_string();
            Page::new(StatusCode::OK, "Password changed", body).into_response()
        }
        Ok(false) => dead_link(),
        Err(e) => super::error::HtmlError(e).into_response(),
    }
}

/// Consumes the ticket (single use) and sets the password; `false` when the link is dead.
async fn reset(state: &AppState, ticket: &str, password: &str) -> Result<bool, Error> {
    let d = &state.deployment;
    let now = state.now();
    let Some(t) = d.store.consume_ticket(&d.keyring.hash_handle(ticket), TicketKind::PasswordReset, now).await? else {
        return Ok(false);
    };
    let Some(user_id) = t.user_id else { return Ok(false) };
    let user = d.registry.set_password(&user_id, password).await?;
    // The link reached the mailbox, so the address is proven too.
    if !user.email_verified {
        let patch = tessera_core::model::UserPatch { email_verified: Some(true), ..Default::default() };
        d.registry.update_user(&user_id, patch).await?;
    }
    d.store.end_user_sessions(&user_id, now).await?;
    d.store.revoke_families(None, Some(&user_id), now, "password_changed").await?;
    d.registry.record("password_changed", None, Some(&user_id), serde_json::json!({"sessions_ended": true})).await;
    Ok(true)
}
