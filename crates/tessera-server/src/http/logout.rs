//! `GET|POST /oidc/logout` (OpenID Connect RP-Initiated Logout 1.0 §2: both methods) and
//! Auth0's `GET /v2/logout`. Both end the browser's SSO session server-side (and the one
//! an `id_token_hint` names), clear the cookie, and then send the browser to a registered
//! logout URL or show a "logged out" page. Where to go is decided in
//! `tessera_core::logout`; an unregistered URL is an error page, never a redirect.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_core::authorize::Params;
use tessera_core::logout::{self, LogoutPlan};
use tessera_core::store::AuditEvent;
use tessera_core::Error;

use super::cookies;
use super::error::HtmlError;
use super::html::{self, Page};
use super::interaction::{self, form, ClientIp};
use crate::app::AppState;

pub async fn oidc_get(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let plan = logout::rp_initiated(state.deployment.store.as_ref(), &state.keys.get(), &state.issuer, &params).await;
    finish(&state, ip, &headers, plan, false).await
}

pub async fn oidc_post(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    let params = match form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let plan = logout::rp_initiated(state.deployment.store.as_ref(), &state.keys.get(), &state.issuer, &params).await;
    finish(&state, ip, &headers, plan, true).await
}

pub async fn auth0_v2(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let plan = logout::auth0_v2(state.deployment.store.as_ref(), &params).await;
    finish(&state, ip, &headers, plan, false).await
}

async fn finish(
    state: &AppState,
    ClientIp(ip): ClientIp,
    headers: &HeaderMap,
    plan: Result<LogoutPlan, Error>,
    after_post: bool,
) -> Response {
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return HtmlError(e).into_response(),
    };
    if let Err(e) = end_sessions(state, &ip, headers, &plan).await {
        return HtmlError(e).into_response();
    }
    let mut resp = match &plan.redirect {
        Some(to) => html::redirect(after_post, to),
        None => Page::new(StatusCode::OK, "Logged out", "<h1>You are logged out</h1><p>You can close this window.</p>".into())
            .into_response(),
    };
    let c = interaction::cookies(state);
    if let Some(v) = c.clear(c.session_name()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn end_sessions(state: &AppState, ip: &str, headers: &HeaderMap, plan: &LogoutPlan) -> Result<(), Error> {
    let d = &state.deployment;
    let store = d.store.as_ref();
    let now = state.now();
    let mut ended = vec![];
    if let Some(cookie) = cookies::get(headers, interaction::cookies(state).session_name()) {
        let hash = d.keyring.hash_handle(&cookie);
        if let Some(s) = store.get_session(&hash).await? {
            if store.end_session(&hash, now).await? {
                ended.push((s.sid, s.user_id));
            }
        }
    }
    if let Some(sid) = &plan.sid {
        if store.end_session_by_sid(sid, now).await? {
            ended.push((sid.clone(), String::new()));
        }
    }
    for (sid, user) in ended {
        let event = AuditEvent {
            at: now,
            kind: "logout".into(),
            client_id: None,
            user_id: (!user.is_empty()).then_some(user),
            ip: Some(ip.to_string()),
            detail: json!({"sid": sid}),
        };
        if let Err(e) = store.record_audit(&event).await {
            tracing::warn!(error = %e, "could not record audit event");
        }
    }
    Ok(())
}
