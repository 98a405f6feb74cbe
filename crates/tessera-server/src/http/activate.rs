//! `/activate` (RFC 8628 §3.3, Auth0's path): where the user enters the code a device
//! shows, signs in (the hosted login page and SSO session), sees which application asks
//! for what, and approves or denies. Plain HTML forms; no JavaScript.
//!
//! 1. `GET /activate[?user_code=…]` (the `verification_uri[_complete]`): the code form.
//!    Its CSRF token is a MAC of the browser-binding cookie (set here if missing).
//! 2. `POST /activate` with `user_code`: wrong codes are limited per browser and per IP
//!    address (`tessera_core::device::activation`). A pending code parks a login
//!    transaction for the device; the browser goes to the login page, or, with a session,
//!    straight to step 3. The login page sends device transactions back here.
//! 3. `GET /activate?txn=…`: the application's name, the scopes, Approve / Deny.
//! 4. `POST /activate` with `txn` and `decision`: the transaction completes once, and the
//!    decision is recorded once (a user code is single use); the device's next poll sees it.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tessera_core::authorize::{self, Params, Pending};
use tessera_core::crypto::{ct_eq, random_token};
use tessera_core::device::activation::{self, ActivationPolicy, Lookup};
use tessera_core::{routes, Error};

use super::cookies;
use super::error::HtmlError;
use super::html::{self, escape, Page};
use super::interaction::{current_session, form, open_txn, ClientIp, Txn};
use crate::app::AppState;

fn policy(state: &AppState) -> ActivationPolicy {
    let d = &state.deployment.config.device;
    ActivationPolicy { max_failures: d.max_failures, ip_max_failures: d.ip_max_failures, block_seconds: d.block_seconds }
}

fn action(state: &AppState) -> String {
    routes::url(&state.issuer, routes::ACTIVATE)
}

/// The code form's CSRF token: bound to the browser's binding cookie, stateless.
fn code_csrf(state: &AppState, binding: &str) -> String {
    URL_SAFE_NO_PAD.encode(state.deployment.keyring.mac(format!("activate-form:{binding}").as_bytes()))
}

fn expired() -> HtmlError {
    HtmlError(Error::invalid_request("this activation page has expired; enter the code again"))
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let result = match params.get("txn") {
        Some(_) => confirm_page(&state, &headers, &params).await,
        None => Ok(code_page(&state, &headers, params.get("user_code").unwrap_or(""), None, StatusCode::OK)),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

pub async fn submit(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    let result = match form(&headers, &body) {
        Ok(params) if params.get("txn").is_some() => decide(&state, &headers, &params).await,
        Ok(params) => enter_code(&state, &ip, &headers, &params).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The form where the user types the code.
fn code_page(state: &AppState, headers: &HeaderMap, prefill: &str, message: Option<&str>, status: StatusCode) -> Response {
    let c = super::interaction::cookies(state);
    let existing = cookies::get(headers, c.browser_name());
    let binding = existing.clone().unwrap_or_else(random_token::<32>);
    let message = message.map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "<h1>Connect a device</h1><p>Enter the code shown on your device.</p>{message}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"user_code\">Code</label>\
         <input id=\"user_code\" name=\"user_code\" type=\"text\" autocomplete=\"off\" autocapitalize=\"characters\" \
         spellcheck=\"false\" placeholder=\"XXXX-XXXX\" value=\"{prefill}\" required autofocus>\
         <button type=\"submit\">Continue</button></form>",
        action = escape(&action(state)),
        csrf = escape(&code_csrf(state, &binding)),
        prefill = escape(prefill),
    );
    let mut resp = Page::new(status, "Connect a device", body).into_response();
    if existing.is_none() {
        if let Some(v) = c.set(c.browser_name(), &binding, None) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn blocked(state: &AppState, until: i64) -> Response {
    let wait = (until - state.now()).max(1);
    let minutes = (wait + 59) / 60;
    let body = format!(
        "<h1>Too many attempts</h1><p class=\"error\" role=\"alert\">Too many wrong codes. \
         Entering codes is blocked from your browser or network for about {minutes} minute{}.</p>",
        if minutes == 1 { "" } else { "s" }
    );
    let mut resp = Page::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", body).into_response();
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

async fn enter_code(state: &AppState, ip: &str, headers: &HeaderMap, params: &Params) -> Result<Response, HtmlError> {
    if let Some(name) = params.repeated().next() {
        return Err(Error::invalid_request(format!("parameter {name} is repeated")).into());
    }
    let d = &state.deployment;
    let c = super::interaction::cookies(state);
    let binding = cookies::get(headers, c.browser_name()).ok_or_else(expired)?;
    // The form came from this browser (no cross-site submission of guesses or codes).
    if !params.get("csrf").is_some_and(|t| ct_eq(t.as_bytes(), code_csrf(state, &binding).as_bytes())) {
        return Err(expired());
    }
    let browser = d.keyring.hash_handle(&binding);
    let typed = params.get("user_code").unwrap_or("");
    let now = state.now();
    let code = match activation::find(d.store.as_ref(), &d.keyring, &policy(state), typed, &browser, ip, now).await? {
        Lookup::Blocked { until } => return Ok(blocked(state, until)),
        Lookup::Wrong => {
            let m = "That code is not valid or has expired. Check the code on your device and try again.";
            return Ok(code_page(state, headers, typed, Some(m), StatusCode::OK));
        }
        Lookup::Found(code) => code,
    };
    let request = activation::activation_request(&code, &action(state))?;
    let pending = Pending { request, browser, device: Some(code.user_code_hash.clone()) };
    let session = current_session(state, headers).await?;
    let (txn, record) = authorize::park(&pending, session.as_ref(), &d.keyring, now, d.config.login.transaction_lifetime)?;
    d.store.insert_login(&record).await.map_err(Error::from)?;
    // Signed in already: straight to the approval page; otherwise the login page first.
    let next = if session.is_some() { routes::ACTIVATE } else { routes::LOGIN };
    Ok(html::redirect(true, &format!("{}?txn={txn}", routes::url(&state.issuer, next))))
}

/// A device transaction whose user is the browser's session user.
async fn device_txn(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    check_csrf: bool,
) -> Result<(Txn, String), HtmlError> {
    let txn = open_txn(state, params, headers, check_csrf).await?;
    let Some(user_code_hash) = txn.pending.device.clone() else { return Err(expired()) };
    let session = current_session(state, headers).await?;
    match (&session, &txn.record.user_id) {
        (Some(s), Some(user)) if &s.user_id == user => Ok((txn, user_code_hash)),
        _ => Err(expired()),
    }
}

async fn confirm_page(state: &AppState, headers: &HeaderMap, params: &Params) -> Result<Response, HtmlError> {
    let (txn, _) = device_txn(state, headers, params, false).await?;
    let store = state.deployment.store.as_ref();
    let req = &txn.pending.request;
    let client = super::interaction::client_of(state, &req.client_id).await?.ok_or_else(expired)?;
    let api = match &req.audience {
        Some(a) => store.get_api_by_identifier(a).await.map_err(Error::from)?,
        None => None,
    };
    let items: String =
        req.scope.iter().map(|s| format!("<li>{}</li>", escape(&super::consent::describe(s, api.as_ref())))).collect();
    let api_line = api.as_ref().map(|a| format!(" and to <strong>{}</strong>", escape(&a.name))).unwrap_or_default();
    let body = format!(
        "<h1>Connect {name}</h1><p>A device running <strong>{name}</strong> is asking for access to your account{api_line}:</p>\
         <ul>{items}</ul><p>Only approve if you started this on your own device.</p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"txn\" value=\"{txn}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Approve</button></form>",
        name = escape(&client.name),
        action = escape(&action(state)),
        txn = escape(&txn.id),
        csrf = escape(&txn.record.csrf),
    );
    Ok(Page::new(StatusCode::OK, "Connect a device", body).into_response())
}

async fn decide(state: &AppState, headers: &HeaderMap, params: &Params) -> Result<Response, HtmlError> {
    let (txn, user_code_hash) = device_txn(state, headers, params, true).await?;
    let approved = match params.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(Error::invalid_request("decision must be allow or deny").into()),
    };
    let Some(session) = current_session(state, headers).await? else { return Err(expired()) };
    let store = state.deployment.store.as_ref();
    let now = state.now();
    if !store.complete_login(&txn.record.txn_hash, now).await.map_err(Error::from)? {
        return Err(expired());
    }
    // RFC 8628 §3.3: the user's decision, recorded once while the code is pending.
    let recorded = store
        .decide_device_code(&user_code_hash, approved, &session.user_id, session.auth_time, Some(&session.sid), now)
        .await
        .map_err(Error::from)?;
    if !recorded {
        return Err(Error::invalid_request("this code has expired or was already used; start again on your device").into());
    }
    let kind = if approved { "device_authorization_approved" } else { "device_authorization_denied" };
    let client_id = &txn.pending.request.client_id;
    state.deployment.registry.record(kind, Some(client_id), Some(&session.user_id), serde_json::json!({})).await;
    let body = if approved {
        "<h1>Device connected</h1><p>You can return to your device; it will continue on its own.</p>"
    } else {
        "<h1>Request denied</h1><p>The device was not given access. You can close this page.</p>"
    };
    Ok(Page::new(StatusCode::OK, if approved { "Device connected" } else { "Request denied" }, body.into()).into_response())
}
