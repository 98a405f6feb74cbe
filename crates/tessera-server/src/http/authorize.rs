//! `GET /authorize` and `POST /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2.1: both
//! methods, the POST as a form). Extracts the raw parameters (repeats detected), runs the
//! checks in `tessera_core::authorize`, and renders the outcome: a redirect to the login or
//! consent page, the code, or an error (page or redirect). No CORS: this is a top-level
//! browser navigation, never a cross-origin fetch.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::{self, AuthorizeError, AuthorizeOutcome, Params};
use tessera_core::routes;

use super::interaction::{current_session, form, issue_code, reply_error, start_interaction};
use crate::app::AppState;

pub async fn get(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    run(&state, &headers, &params, false).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match form(&headers, &body) {
        Ok(params) => run(&state, &headers, &params, true).await,
        Err(e) => e.into_response(),
    }
}

async fn run(state: &AppState, headers: &HeaderMap, params: &Params, after_post: bool) -> Response {
    let store = state.deployment.store.as_ref();
    let keys = state.keys.get();
    let tenant_requires_par = state.deployment.config.par.required;
    let (req, client) =
        match authorize::validate(&state.deployment.registry, &keys, &state.issuer, params, tenant_requires_par).await {
            Ok(v) => v,
            Err(e) => return reply_error(state, e, after_post),
        };
    let fail = |e: tessera_core::Error| reply_error(state, AuthorizeError::redirect(e, &req.reply), after_post);
    // Auth0's `connection`: the hosted page serves the database connection only.
    if let Some(c) = params.get("connection").filter(|c| *c != tessera_core::model::DATABASE_CONNECTION) {
        return fail(tessera_core::Error::invalid_request(format!("the connection {c:?} is not enabled for this client")));
    }
    // Auth0's `screen_hint=signup` opens the hosted sign-up screen instead of the login.
    let login_page = if params.get("screen_hint") == Some("signup") { routes::SIGNUP } else { routes::LOGIN };
    let session = match current_session(state, headers).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let consent = match &session {
        Some(s) if !client.is_first_party => match store.get_consent(&s.user_id, &client.client_id, req.consent_audience()).await
        {
            Ok(c) => c,
            Err(e) => return fail(e.into()),
        },
        _ => None,
    };
    match authorize::decide(&req, &client, session, consent.as_ref(), state.now()) {
        Err(e) => reply_error(state, e, after_post),
        Ok(AuthorizeOutcome::NeedsLogin) => start_interaction(state, headers, req, None, login_page, after_post).await,
        Ok(AuthorizeOutcome::NeedsConsent { session }) => {
            start_interaction(state, headers, req, Some(&session), routes::CONSENT, after_post).await
        }
        Ok(AuthorizeOutcome::IssueCode { session }) => issue_code(state, &req, &session, after_post).await,
    }
}
