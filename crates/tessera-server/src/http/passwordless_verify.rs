//! `GET /passwordless/verify_redirect`: where the magic link of `/passwordless/start` with
//! `send: link` lands (Auth0's path and parameters: `client_id`, `connection=email`,
//! `email`, `verification_code`, then the request's `authParams`).
//!
//! - The link's secret is checked as the OTP grant checks a code: the guess is counted
//!   first (one atomic increment, at most `email.otp_max_attempts`), compared in constant
//!   time, and consumed by one conditional UPDATE, so a link works once, also when two
//!   tabs open it at the same time.
//! - A good link starts a new SSO session for the address's user (a new passwordless user
//!   of the `email` connection on the first login, as Auth0 makes one) and sends the
//!   browser on to `/authorize` with the link's other parameters, where the request gets
//!   every check, consent when it needs it, and the application its answer.
//! - A bad, used or expired link is an error page, never a redirect: nothing about the
//!   request has been verified yet.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::Params;
use tessera_core::crypto::ct_eq;
use tessera_core::grants::passwordless_otp::find_or_create_user;
use tessera_core::model::{GrantType, PASSWORDLESS_CONNECTION};
use tessera_core::tickets::otp_key;
use tessera_core::{routes, Error};

use super::error::HtmlError;
use super::html;
use super::interaction::{self, session_cookie};
use super::passwordless::LINK_OWN;
use crate::app::AppState;

const INVALID: &str = "This login link is invalid, has been used or has expired. Ask the application for a new one.";

pub async fn verify_redirect(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    match verify(&state, &headers, &query.unwrap_or_default()).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn verify(state: &AppState, headers: &HeaderMap, query: &str) -> Result<Response, HtmlError> {
    let params = Params::parse(query.as_bytes());
    if let Some(name) = LINK_OWN.iter().find(|n| params.is_repeated(n)) {
        return Err(Error::invalid_request(format!("{name} is repeated")).into());
    }
    let (Some(client_id), Some(email), Some(code)) =
        (params.get("client_id"), params.get("email"), params.get("verification_code"))
    else {
        return Err(Error::invalid_request("this login link is incomplete: open the whole link from the email").into());
    };
    if params.get("connection") != Some(PASSWORDLESS_CONNECTION) {
        return Err(Error::invalid_request("the connection of a login link is email").into());
    }
    let d = &state.deployment;
    let client = interaction::client_of(state, client_id).await?;
    // Auth0: the application must have the passwordless grant enabled.
    let Some(client) = client.filter(|c| c.allows_grant(GrantType::PasswordlessOtp)) else {
        return Err(Error::invalid_request(INVALID).into());
    };
    let email = email.trim().to_ascii_lowercase();
    let now = state.now();
    let key = d.keyring.hash_handle(&otp_key(&client.client_id, &email));
    // Count the guess before comparing: at most otp_max_attempts are ever compared.
    let Some(ticket) = d.store.count_otp_attempt(&key, d.config.email.otp_max_attempts, now).await.map_err(Error::from)? else {
        return Err(Error::invalid_request(INVALID).into());
    };
    let code_hash = d.keyring.hash_handle(code.trim());
    if !ticket.code_hash.as_deref().is_some_and(|h| ct_eq(h.as_bytes(), code_hash.as_bytes())) {
        return Err(Error::invalid_request(INVALID).into());
    }
    // Single use: of two parallel openings one consumes it; a newer link replaced it.
    if !d.store.consume_otp(&key, &code_hash, now).await.map_err(Error::from)? {
        return Err(Error::invalid_request(INVALID).into());
    }
    let user = find_or_create_user(&d.registry, &email, now).await?;
    if user.blocked {
        return Err(Error::access_denied("this account is blocked").into());
    }
    d.registry
        .record("login_succeeded", Some(&client.client_id), Some(&user.user_id), serde_json::json!({"connection": "email"}))
        .await;

    // A new SSO session, as every login starts one; the browser's previous one ends.
    let (cookie, _) = interaction::new_session(state, headers, &user.user_id).await?;

    // On to /authorize with every parameter but the link's own (client_id stays).
    let mut forward = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "client_id" || !LINK_OWN.contains(&k.as_ref()) {
            forward.append_pair(&k, &v);
        }
    }
    let location = format!("{}?{}", routes::url(&state.issuer, routes::AUTHORIZE), forward.finish());
    let mut resp = html::redirect(false, &location);
    if let Some(v) = session_cookie(state, &cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}
