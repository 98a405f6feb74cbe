//! `POST /dbconnections/change_password` (Auth0 "Change Password"): emails a single-use,
//! expiring link to the hosted reset page. The answer is Auth0's text whether or not the
//! address has an account (no account enumeration), and it does not wait for the lookup
//! or the writes either, so its timing says nothing about the address.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::DbError;
use super::{body_object, client_and_connection, text};
use crate::app::AppState;

/// Auth0's answer, verbatim.
pub const SENT: &str = "We've just sent you an email to reset your password.";

pub async fn change_password(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, DbError> {
    let m = body_object(&headers, &body)?;
    let client = client_and_connection(&state, &m).await?;
    let email = text(&m, "email")
        .ok_or_else(|| DbError::bad_request("invalid_request", "Missing required parameter: email"))?
        .to_ascii_lowercase();
    // Off the request: the same answer, after the same work, for every address.
    tokio::spawn(async move {
        let user = match state.deployment.store.find_user_by_login(&email).await {
            Ok(u) => u,
            Err(e) => return tracing::error!(error = %e, "cannot look up the user for a password reset"),
        };
        // Only a database user with an address (and not blocked) can reset a password.
        let Some(user) =
            user.filter(|u| u.user_id.starts_with("auth0|") && u.email.as_deref() == Some(email.as_str()) && !u.blocked)
        else {
            return;
        };
        if let Err(e) = crate::email::send_password_reset(&state, &user).await {
            return tracing::error!(user_id = %user.user_id, error = %e.code, "cannot queue the password-reset email");
        }
        let registry = &state.deployment.registry;
        registry.record("password_change_requested", Some(&client.client_id), Some(&user.user_id), serde_json::json!({})).await;
    });
    let mut resp = (StatusCode::OK, SENT).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(resp)
}
