//! `GET /u/email-verification?ticket=...`: the emailed verification link. Consumes the
//! single-use ticket (one conditional UPDATE) and marks the user's email verified.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::Params;
use tessera_core::model::UserPatch;
use tessera_core::tickets::TicketKind;

use super::html::Page;
use crate::app::AppState;

pub async fn verify(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let d = &state.deployment;
    let ticket = params.get("ticket").unwrap_or_default();
    let consumed = d.store.consume_ticket(&d.keyring.hash_handle(ticket), TicketKind::EmailVerification, state.now()).await;
    let user_id = match consumed {
        Ok(Some(t)) => t.user_id,
        Ok(None) => None,
        Err(e) => return super::error::HtmlError(e.into()).into_response(),
    };
    let Some(user_id) = user_id else {
        let body = "<h1>This link cannot be used</h1><p class=\"error\" role=\"alert\">The verification link has expired \
                    or was already used.</p>"
            .to_string();
        return Page::new(StatusCode::BAD_REQUEST, "Link expired", body).into_response();
    };
    let patch = UserPatch { email_verified: Some(true), ..Default::default() };
    if let Err(e) = d.registry.update_user(&user_id, patch).await {
        return super::error::HtmlError(e).into_response();
    }
    d.registry.record("email_verified", None, Some(&user_id), serde_json::json!({})).await;
    let body = "<h1>Email verified</h1><p>Your email address is verified. You can close this page.</p>".to_string();
    Page::new(StatusCode::OK, "Email verified", body).into_response()
}
