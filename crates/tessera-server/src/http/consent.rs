//! The consent page, `GET /u/consent` and `POST /u/consent` (OIDC Core §3.1.2.4): a
//! third-party client's requested scopes and API, and Allow / Deny buttons. Allowing is
//! remembered per user × client × API; denying sends `access_denied` to the client
//! (RFC 6749 §4.1.2.1). The transaction completes once, so a second submission of the
//! same form cannot mint a second code.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::{self, AuthorizeError, Params};
use tessera_core::model::ResourceServer;
use tessera_core::state::Session;
use tessera_core::{routes, Error};

use super::error::HtmlError;
use super::html::{self, escape, Page};
use super::interaction::{current_session, form, issue_code, open_txn, reply_error, Txn};
use crate::app::AppState;

fn expired() -> HtmlError {
    HtmlError(Error::invalid_request("this consent page has expired; return to the application and try again"))
}

/// The transaction's user must be the browser's session user.
async fn session_for(state: &AppState, headers: &HeaderMap, txn: &Txn) -> Result<Session, HtmlError> {
    let session = current_session(state, headers).await?;
    match (session, &txn.record.user_id) {
        (Some(s), Some(user)) if &s.user_id == user => Ok(s),
        _ => Err(expired()),
    }
}

/// What each scope lets the application do, in words (also on the device approval page).
pub(super) fn describe(scope: &str, api: Option<&ResourceServer>) -> String {
    match scope {
        "openid" => "Know who you are (your user id)".into(),
        "profile" => "See your profile: name, nickname and picture".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Keep access while you are away (refresh tokens)".into(),
        other => api
            .and_then(|a| a.scopes.iter().find(|s| s.value == other))
            .filter(|s| !s.description.is_empty())
            .map(|s| format!("{} ({})", s.description, s.value))
            .unwrap_or_else(|| other.to_string()),
    }
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    match render(&state, &headers, &params).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn render(state: &AppState, headers: &HeaderMap, params: &Params) -> Result<Response, HtmlError> {
    let txn = open_txn(state, params, headers, false).await?;
    // A device authorization is approved on /activate, never here (no code is issued for it).
    if txn.pending.device.is_some() {
        return Err(expired());
    }
    session_for(state, headers, &txn).await?;
    let store = state.deployment.store.as_ref();
    let req = &txn.pending.request;
    let client = super::interaction::client_of(state, &req.client_id).await?.ok_or_else(expired)?;
    let api = match &req.audience {
        Some(a) => store.get_api_by_identifier(a).await.map_err(Error::from)?,
        None => None,
    };
    // Issue 21 (step-up): a re-request with more scopes asks only for the scopes not yet
    // granted to this client; those already granted are named as such, not asked again.
    let user_id = txn.record.user_id.as_deref().unwrap_or_default();
    let previous = store.get_consent(user_id, &req.client_id, req.consent_audience()).await.map_err(Error::from)?;
    let granted = previous.and_then(|c| tessera_core::scope::Scope::parse(&c.scope).ok()).unwrap_or_default();
    let (kept, asked): (Vec<&str>, Vec<&str>) = req.scope.iter().partition(|s| granted.contains(s));
    let list = |scopes: &[&str]| -> String {
        scopes.iter().map(|s| format!("<li>{}</li>", escape(&describe(s, api.as_ref())))).collect()
    };
    let mut items = list(&asked);
    if !kept.is_empty() && !asked.is_empty() {
        items = format!("{items}</ul><p>Already allowed:</p><ul class=\"granted\">{}", list(&kept));
    } else if asked.is_empty() {
        items = list(&kept);
    }
    let api_line = api.as_ref().map(|a| format!(" and to <strong>{}</strong>", escape(&a.name))).unwrap_or_default();
    // Issue 21: a client identified by a metadata document was never vetted here; the page
    // names the host that vouches for it and says so.
    let warning = match client.is_metadata_document().then(|| tessera_core::client_metadata::host_of(&client.client_id)) {
        Some(host) => format!(
            "<p class=\"warning\" role=\"alert\">This application is not registered with this service. It identifies \
             itself by a document on <strong>{host}</strong> ({url}). Allow only if you trust {host}.</p>",
            host = escape(host.as_deref().unwrap_or_default()),
            url = escape(&client.client_id),
        ),
        None => String::new(),
    };
    let body = format!(
        "<h1>Authorize {name}</h1>{warning}<p><strong>{name}</strong> is asking for access to your account{api_line}:</p>\
         <ul>{items}</ul><form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"txn\" value=\"{txn}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button></form>",
        name = escape(&client.name),
        action = escape(&routes::url(&state.issuer, routes::CONSENT)),
        txn = escape(&txn.id),
        csrf = escape(&txn.record.csrf),
    );
    let mut page = Page::new(StatusCode::OK, "Authorize application", body);
    page.form_targets = html::origin_of(&req.reply.redirect_uri).into_iter().collect();
    Ok(page.into_response())
}

pub async fn submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match try_submit(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn try_submit(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, HtmlError> {
    let params = form(headers, body)?;
    let txn = open_txn(state, &params, headers, true).await?;
    if txn.pending.device.is_some() {
        return Err(expired());
    }
    let allow = match params.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(Error::invalid_request("decision must be allow or deny").into()),
    };
    let session = session_for(state, headers, &txn).await?;
    let store = state.deployment.store.as_ref();
    let now = state.now();
    if !store.complete_login(&txn.record.txn_hash, now).await.map_err(Error::from)? {
        return Err(expired());
    }
    let req = &txn.pending.request;
    if !allow {
        let denied = Error::access_denied("the user denied access");
        return Ok(reply_error(state, AuthorizeError::redirect(denied, &req.reply), true));
    }
    let previous = store.get_consent(&session.user_id, &req.client_id, req.consent_audience()).await.map_err(Error::from)?;
    store.put_consent(&authorize::remember(req, &session.user_id, previous.as_ref(), now)).await.map_err(Error::from)?;
    Ok(issue_code(state, req, &session, true).await)
}
