//! `POST /passwordless/start` (Auth0 "Get Code or Link") for the `email` connection:
//! `send: code` emails a 6-digit one-time code that the client redeems at `/oauth/token`
//! with the grant `http://auth0.com/oauth/grant-type/passwordless/otp`; `send: link` (the
//! default, as at Auth0) emails a magic link to `/passwordless/verify_redirect` that logs the
//! user in and continues to `/authorize` with the request's `authParams`.
//!
//! - The client authenticates as at the token endpoint (a public client by `client_id`,
//!   a confidential one with its secret or assertion) and must have the passwordless grant
//!   enabled, as Auth0 requires.
//! - A new code replaces the address's previous one for this client; codes are stored as
//!   keyed hashes, expire after `email.otp_lifetime`, and survive `email.otp_max_attempts`
//!   wrong guesses.
//! - The answer is Auth0's `{_id, email, email_verified}` whether or not the address has an
//!   account (the account, if new, is made at the first login).
//! - At most `email.otp_max_sends` codes per address and application per window of
//!   `login.block_seconds` (one atomic count in the store, shared by every node); more get
//!   429 `too_many_requests`. Without it a new code every three guesses would make the
//!   attempt limit meaningless, and the endpoint a way to flood a mailbox.
//! - A link's `authParams` are the /authorize parameters it carries; its redirect URI is
//!   checked here as /authorize checks it, so no link is mailed that would redirect
//!   anywhere the application did not register. A link's secret is 128 random bits.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tessera_core::grants::Params;
use tessera_core::model::{Client, GrantType, PASSWORDLESS_CONNECTION};
use tessera_core::tickets::{link_code, otp_code, otp_key, Ticket, TicketKind};
use tessera_core::{routes, Error, ErrorCode};

use super::dbconnections::body_object;
use super::error::HttpError;
use crate::app::AppState;

/// Auth0 answers this endpoint's refusals as `{error, error_description}`.
fn refuse(code: &'static str, description: impl Into<String>) -> Response {
    let body = json!({"error": code, "error_description": description.into()});
    (axum::http::StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

pub async fn start(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let m = match body_object(&headers, &body) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    // The string fields, as the token endpoint's client authentication reads them.
    let params: Params =
        m.iter().filter_map(|(k, v)| v.as_str().filter(|s| !s.is_empty()).map(|s| (k.clone(), s.to_string()))).collect();
    let client = match super::client_auth::authenticate(&state, routes::PASSWORDLESS_START, &headers, &params).await {
        Ok(c) => c.client,
        Err(e) => return e.into_response(),
    };
    if params.get("connection").map(String::as_str) != Some(PASSWORDLESS_CONNECTION) {
        return refuse("bad.connection", "Connection does not exist");
    }
    if !client.allows_grant(GrantType::PasswordlessOtp) {
        let grant = GrantType::PasswordlessOtp.as_str();
        return HttpError::from(Error::new(
            ErrorCode::UnauthorizedClient,
            format!("Grant type '{grant}' not allowed for the client."),
        ))
        .into_response();
    }
    // Auth0: `send` is `link` (the default) or `code`.
    let link = match params.get("send").map(String::as_str).unwrap_or("link") {
        "code" => None,
        "link" => match link_params(&client, m.get("authParams")) {
            Ok(p) => Some(p),
            Err(description) => return refuse("bad.authParams", description),
        },
        other => return refuse("bad.send", format!("send must be code or link, got {other:?}")),
    };
    let Some(email) = params.get("email").map(|e| e.trim().to_ascii_lowercase()) else {
        return refuse("bad.email", "Missing required parameter: email");
    };
    let valid = tessera_core::model::User::create(
        "x".into(),
        tessera_core::model::UserPatch { email: Some(email.clone()), ..Default::default() },
        0,
    );
    if valid.is_err() {
        return refuse("bad.email", "email is invalid");
    }
    let (max, window) = (state.deployment.config.email.otp_max_sends, state.deployment.config.login.block_seconds);
    let key = format!("otp_send|{}|{email}", client.client_id);
    let now = state.now();
    match state.deployment.store.record_failure(&key, now, window, max, window).await {
        Ok(counted) if counted.failures <= max => {}
        Ok(_) => {
            let body = json!({"error": "too_many_requests", "error_description": "Too many codes were sent to this address; try again later."});
            return (axum::http::StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        }
        Err(e) => return HttpError::from(Error::from(e)).into_response(),
    }
    let scope = m.get("authParams").and_then(|p| p.get("scope")).and_then(Value::as_str).map(str::to_string);
    match send(&state, &client, &email, scope, link).await {
        Ok(()) => axum::Json(json!({"_id": tessera_core::crypto::random_hex::<12>(), "email": email, "email_verified": false}))
            .into_response(),
        Err(e) => HttpError::from(e).into_response(),
    }
}

/// The /authorize parameters a magic link carries: Auth0's `authParams` (string or number
/// members), `response_type` defaulting to `code`. Parameters the link itself supplies or
/// that would undo it (`prompt`: the link is the login) are refused, and the redirect URI
/// gets /authorize's own check (RFC 6749 §3.1.2.3: registered, or the only one).
fn link_params(client: &Client, auth: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let auth = match auth {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err("authParams must be an object".into()),
    };
    let mut pairs = Vec::new();
    for (k, v) in auth {
        if LINK_OWN.contains(&k.as_str()) || k == "prompt" || k == "request" || k == "request_uri" {
            return Err(format!("authParams must not set {k}"));
        }
        let v = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("authParams.{k} must be a string")),
        };
        pairs.push((k, v));
    }
    if !pairs.iter().any(|(k, _)| k == "response_type") {
        pairs.push(("response_type".into(), "code".into()));
    }
    let asked = tessera_core::authorize::Params::from_pairs(pairs.iter().cloned());
    tessera_core::authorize::check_redirect_uri::run(client, &asked).map_err(|e| match e {
        tessera_core::authorize::AuthorizeError::Page(e) => e.description().to_string(),
        _ => "redirect_uri is not registered for this client".to_string(),
    })?;
    Ok(pairs)
}

/// The parameters a link names itself, besides `client_id`.
pub const LINK_OWN: [&str; 4] = ["client_id", "connection", "email", "verification_code"];

async fn send(
    state: &AppState,
    client: &Client,
    email: &str,
    scope: Option<String>,
    link: Option<Vec<(String, String)>>,
) -> Result<(), Error> {
    let d = &state.deployment;
    let now = state.now();
    let cfg = &d.config.email;
    let code = if link.is_some() { link_code() } else { otp_code() };
    let ticket = Ticket {
        ticket_hash: d.keyring.hash_handle(&otp_key(&client.client_id, email)),
        kind: TicketKind::Otp,
        user_id: None,
        email: Some(email.to_string()),
        client_id: Some(client.client_id.clone()),
        code_hash: Some(d.keyring.hash_handle(&code)),
        scope,
        created_at: now,
        expires_at: now + cfg.otp_lifetime,
        consumed_at: None,
        attempts: 0,
    };
    d.store.put_ticket(&ticket).await?;
    let minutes = (cfg.otp_lifetime / 60).max(1);
    let (message, kind) = match link {
        None => (crate::email::templates::one_time_code(&client.name, &code, minutes), "code"),
        Some(pairs) => {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            let own = [("client_id", client.client_id.as_str()), ("connection", PASSWORDLESS_CONNECTION), ("email", email)];
            q.extend_pairs(own).append_pair("verification_code", &code).extend_pairs(pairs);
            let url = format!("{}?{}", routes::url(&state.issuer, routes::PASSWORDLESS_VERIFY), q.finish());
            (crate::email::templates::magic_link(&client.name, &url, minutes), "link")
        }
    };
    crate::email::queue(d.store.as_ref(), email, message, now).await?;
    d.registry
        .record("passwordless_code_sent", Some(&client.client_id), None, json!({"connection": "email", "send": kind}))
        .await;
    Ok(())
}
