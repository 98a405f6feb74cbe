//! The hosted login page, `GET /u/login` and `POST /u/login` (Auth0 Universal Login's
//! place). A plain HTML form that works without JavaScript: username or email, password,
//! and the hidden transaction id and CSRF token.
//!
//! After the POST the browser is sent on with 303 (RFC 9110 §15.4.4): back to the form
//! with a message that does not say whether the user exists, to the consent page, or to
//! the client with its code. Too many failures answer 429 with a page saying so.
//! Every login starts a new SSO session (new cookie, new `sid`).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::{self, Params};
use tessera_core::login::{self, Begin, LoginResult};
use tessera_core::{routes, Error};

use super::error::HtmlError;
use super::html::{self, escape, Page};
use super::interaction::{self, form, issue_code, login_policy, open_txn, session_cookie, ClientIp, Txn};
use crate::app::AppState;

pub async fn page(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    match open_txn(&state, &params, &headers, false).await {
        Ok(txn) => render(&state, &txn, params.get("error")).await,
        Err(e) => e.into_response(),
    }
}

async fn client_name(state: &AppState, client_id: &str) -> Result<String, HtmlError> {
    match super::interaction::client_of(state, client_id).await? {
        // A metadata-document client names itself; the page also names the host behind it.
        Some(c) if c.is_metadata_document() => {
            let host = tessera_core::client_metadata::host_of(&c.client_id).unwrap_or_default();
            Ok(format!("{} ({host})", c.name))
        }
        Some(c) => Ok(c.name.clone()),
        None => Err(Error::invalid_request("the application no longer exists").into()),
    }
}

async fn render(state: &AppState, txn: &Txn, error: Option<&str>) -> Response {
    let name = match client_name(state, &txn.record.client_id).await {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let message = match error {
        Some("credentials") => "<p class=\"error\" role=\"alert\">Wrong username or password.</p>",
        Some("missing") => "<p class=\"error\" role=\"alert\">Enter your username or email and your password.</p>",
        _ => "",
    };
    let hint = txn.pending.request.login_hint.as_deref().unwrap_or("");
    let body = format!(
        "<h1>Log in</h1><p>to continue to <strong>{name}</strong></p>{message}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"txn\" value=\"{txn}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"username\">Username or email</label>\
         <input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" value=\"{hint}\" required autofocus>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Continue</button></form>\
         <p>Don't have an account? <a href=\"{signup}\">Sign up</a></p>",
        name = escape(&name),
        action = escape(&routes::url(&state.issuer, routes::LOGIN)),
        txn = escape(&txn.id),
        csrf = escape(&txn.record.csrf),
        hint = escape(hint),
        signup = escape(&format!("{}?txn={}", routes::url(&state.issuer, routes::SIGNUP), txn.id)),
    );
    let mut page = Page::new(StatusCode::OK, "Log in", body);
    // Chrome applies form-action to the redirect that follows the POST: allow the client.
    page.form_targets = html::origin_of(&txn.pending.request.reply.redirect_uri).into_iter().collect();
    page.into_response()
}

/// Back to the form with a message (303, so a reload does not resubmit the password).
fn again(state: &AppState, txn: &str, error: &str) -> Response {
    html::redirect(true, &format!("{}?txn={txn}&error={error}", routes::url(&state.issuer, routes::LOGIN)))
}

fn blocked(state: &AppState, until: i64) -> Response {
    let wait = (until - state.now()).max(1);
    let minutes = (wait + 59) / 60;
    let body = format!(
        "<h1>Too many attempts</h1><p class=\"error\" role=\"alert\">Too many failed logins. \
         Logging in is blocked for this account from your network for about {minutes} minute{}.</p>",
        if minutes == 1 { "" } else { "s" }
    );
    let mut resp = Page::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", body).into_response();
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

pub async fn submit(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    match try_submit(&state, &ip, &headers, &body).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn try_submit(state: &AppState, ip: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response, HtmlError> {
    let params = form(headers, body)?;
    let txn = open_txn(state, &params, headers, true).await?;
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        return Ok(again(state, &txn.id, "missing"));
    };
    let d = &state.deployment;
    let store = d.store.as_ref();
    let policy = login_policy(state);
    let now = state.now();
    let attempt = match login::begin(store, &policy, username, ip, Some(&txn.record.client_id), now).await? {
        Begin::Blocked { until } => return Ok(blocked(state, until)),
        Begin::Verify(attempt) => attempt,
    };
    // Argon2id takes tens of milliseconds of CPU: keep it off the async workers.
    let ok = state.passwords.verify(password.to_string(), attempt.phc()).await;
    let user = match attempt.finish(store, &policy, ok, now).await? {
        LoginResult::Success(user) => user,
        LoginResult::Failed => return Ok(again(state, &txn.id, "credentials")),
        LoginResult::Blocked { until } => return Ok(blocked(state, until)),
    };
    complete(state, headers, &txn, &user).await
}

/// After the user authenticated in `txn` (login, or sign-up on the hosted screen): a new
/// SSO session, then consent, `/activate` or the client's answer.
pub async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    txn: &Txn,
    user: &tessera_core::model::User,
) -> Result<Response, HtmlError> {
    let d = &state.deployment;
    let store = d.store.as_ref();
    let now = state.now();
    // A new session at every login; the one the browser had (if any) ends.
    let (cookie, new_session) = interaction::new_session(state, headers, &user.user_id).await?;
    if !store.set_login_user(&txn.record.txn_hash, &user.user_id, now, now).await.map_err(Error::from)? {
        return Err(Error::invalid_request("this login page has expired; return to the application and try again").into());
    }

    // RFC 8628 §3.3: a device authorization continues on /activate, where the user approves.
    if txn.pending.device.is_some() {
        let mut resp = html::redirect(true, &format!("{}?txn={}", routes::url(&state.issuer, routes::ACTIVATE), txn.id));
        if let Some(v) = session_cookie(state, &cookie) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        return Ok(resp);
    }
    let req = &txn.pending.request;
    let client = super::interaction::client_of(state, &req.client_id).await?;
    let Some(client) = client else { return Err(Error::invalid_request("the application no longer exists").into()) };
    let consent = store.get_consent(&user.user_id, &client.client_id, req.consent_audience()).await.map_err(Error::from)?;
    let mut resp = if authorize::needs_consent(req, &client, consent.as_ref()) {
        html::redirect(true, &format!("{}?txn={}", routes::url(&state.issuer, routes::CONSENT), txn.id))
    } else if store.complete_login(&txn.record.txn_hash, now).await.map_err(Error::from)? {
        issue_code(state, req, &new_session, true).await
    } else {
        return Err(Error::invalid_request("this login page has expired; return to the application and try again").into());
    };
    if let Some(v) = session_cookie(state, &cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}
