//! What /authorize, the login page and the consent page share: the browser's session and
//! binding cookie, the client's IP, the parked login transaction (with its CSRF check),
//! and answering the client (issuing the code; query, form_post or web_message encoding).

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::{self, AuthorizationResponse, AuthorizeError, AuthorizeRequest, Params, Pending, ResponseMode};
use tessera_core::crypto::{ct_eq, random_token};
use tessera_core::login::LoginPolicy;
use tessera_core::session::{self, SessionPolicy};
use tessera_core::state::{LoginTransaction, Session};
use tessera_core::{routes, Error};

use super::cookies::{self, Cookies};
use super::error::HtmlError;
use super::html::{self, escape, Page};
use crate::app::AppState;

pub fn session_policy(state: &AppState) -> SessionPolicy {
    let s = &state.deployment.config.sessions;
    SessionPolicy { idle_lifetime: s.idle_lifetime, absolute_lifetime: s.absolute_lifetime }
}

pub fn login_policy(state: &AppState) -> LoginPolicy {
    let l = &state.deployment.config.login;
    LoginPolicy { max_failures: l.max_failures, ip_max_failures: l.ip_max_failures, block_seconds: l.block_seconds }
}

pub fn cookies(state: &AppState) -> Cookies {
    Cookies::for_issuer(&state.issuer)
}

/// The TCP peer's address, for brute-force counters and the audit trail. Deliberately not
/// `X-Forwarded-For`: a client could set it to dodge the per-IP limits.
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical().to_string());
        Ok(Self(ip.unwrap_or_else(|| "unknown".into())))
    }
}

/// The browser's active SSO session, if its cookie names one.
pub async fn current_session(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, Error> {
    let Some(cookie) = cookies::get(headers, cookies(state).session_name()) else { return Ok(None) };
    let d = &state.deployment;
    session::resume(d.store.as_ref(), &d.keyring, &cookie, state.now(), &session_policy(state)).await
}

/// The `Set-Cookie` value of a new session: cross-site over https, so that a SPA's silent
/// authentication iframe carries it (see [`cookies`]).
/// A new SSO session for `user_id`, as every login starts one (the browser's previous
/// session ends): the cookie value to set and the stored session.
pub async fn new_session(state: &AppState, headers: &HeaderMap, user_id: &str) -> Result<(String, Session), Error> {
    let d = &state.deployment;
    let now = state.now();
    if let Some(old) = cookies::get(headers, cookies(state).session_name()) {
        session::end(d.store.as_ref(), &d.keyring, &old, now).await?;
    }
    let (cookie, session) = session::start(user_id, now, &session_policy(state), &d.keyring);
    d.store.insert_session(&session).await?;
    Ok((cookie, session))
}

pub fn session_cookie(state: &AppState, value: &str) -> Option<HeaderValue> {
    let c = cookies(state);
    c.set_cross_site(c.session_name(), value, Some(state.deployment.config.sessions.absolute_lifetime))
}

/// Parses a form body; only `application/x-www-form-urlencoded` is accepted.
pub fn form(headers: &HeaderMap, body: &[u8]) -> Result<Params, HtmlError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(Error::invalid_request("the form must be sent as application/x-www-form-urlencoded").into());
    }
    Ok(Params::parse(body))
}

/// A login transaction being continued.
pub struct Txn {
    pub id: String,
    pub record: LoginTransaction,
    pub pending: Pending,
}

/// Loads the transaction named by `txn`, checks it is usable and belongs to this browser
/// and, for a form submission, that the CSRF token is the one bound to it.
/// The client a hosted page works for, as /authorize resolved it: registered, or identified
/// by a metadata document (read through the registry, never the store alone).
pub async fn client_of(state: &AppState, client_id: &str) -> Result<Option<std::sync::Arc<tessera_core::model::Client>>, Error> {
    Ok(state.deployment.registry.client_entry(client_id).await?.map(|e| e.client.clone()))
}

pub async fn open_txn(state: &AppState, params: &Params, headers: &HeaderMap, check_csrf: bool) -> Result<Txn, HtmlError> {
    if let Some(name) = params.repeated().next() {
        return Err(Error::invalid_request(format!("parameter {name} is repeated")).into());
    }
    let expired = || HtmlError(Error::invalid_request("this login page has expired; return to the application and try again"));
    let id = params.get("txn").ok_or_else(expired)?.to_string();
    let d = &state.deployment;
    let record = d.store.get_login(&d.keyring.hash_handle(&id)).await.map_err(Error::from)?.ok_or_else(expired)?;
    let pending = authorize::resume(&record, state.now())?;
    let browser = cookies::get(headers, cookies(state).browser_name()).map(|b| d.keyring.hash_handle(&b));
    // The transaction was started by this browser (no login CSRF, no finishing a login
    // someone else started).
    if !browser.is_some_and(|b| ct_eq(b.as_bytes(), pending.browser.as_bytes())) {
        return Err(expired());
    }
    if check_csrf && !params.get("csrf").is_some_and(|c| ct_eq(c.as_bytes(), record.csrf.as_bytes())) {
        return Err(Error::invalid_request("the form is out of date; reload the page and try again").into());
    }
    Ok(Txn { id, record, pending })
}

/// Parks `req` in a new login transaction and sends the browser to `page` (the login or
/// consent page). The transaction is bound to the browser by a cookie.
pub async fn start_interaction(
    state: &AppState,
    headers: &HeaderMap,
    req: AuthorizeRequest,
    session: Option<&Session>,
    page: &str,
    after_post: bool,
) -> Response {
    let d = &state.deployment;
    let c = cookies(state);
    let existing = cookies::get(headers, c.browser_name());
    let binding = existing.clone().unwrap_or_else(random_token::<32>);
    let reply = req.reply.clone();
    let pending = Pending { request: req, browser: d.keyring.hash_handle(&binding), device: None };
    let parked = authorize::park(&pending, session, &d.keyring, state.now(), d.config.login.transaction_lifetime);
    let stored = match parked {
        Ok((txn, record)) => d.store.insert_login(&record).await.map(|_| txn).map_err(Error::from),
        Err(e) => Err(e),
    };
    let txn = match stored {
        Ok(txn) => txn,
        Err(e) => return reply_error(state, AuthorizeError::redirect(e, &reply), after_post),
    };
    let mut resp = html::redirect(after_post, &format!("{}?txn={txn}", routes::url(&state.issuer, page)));
    if existing.is_none() {
        if let Some(v) = c.set(c.browser_name(), &binding, None) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Issues the code for `session`'s user and answers the client.
pub async fn issue_code(state: &AppState, req: &AuthorizeRequest, session: &Session, after_post: bool) -> Response {
    let d = &state.deployment;
    if req.response_type == authorize::ResponseType::IdToken {
        return match implicit_id_token(state, req, session).await {
            Ok(token) => respond(AuthorizationResponse::id_token(req, &token, &state.issuer), after_post),
            Err(e) => reply_error(state, AuthorizeError::redirect(e, &req.reply), after_post),
        };
    }
    let (code, record) = authorize::issue_code(req, session, &d.keyring, state.now(), d.config.tokens.code_lifetime);
    if let Err(e) = d.store.insert_code(&record).await {
        return reply_error(state, AuthorizeError::redirect(e.into(), &req.reply), after_post);
    }
    respond(AuthorizationResponse::code(req, &code, &state.issuer), after_post)
}

/// OIDC Core §3.2.2.5: the implicit flow's ID token, signed with the client's algorithm.
async fn implicit_id_token(state: &AppState, req: &AuthorizeRequest, session: &Session) -> Result<String, Error> {
    let d = &state.deployment;
    let user = d.store.get_user(&session.user_id).await?.ok_or_else(|| Error::access_denied("the user no longer exists"))?;
    if user.blocked {
        return Err(Error::access_denied("the user is blocked"));
    }
    let entry = d.registry.client_entry(&req.client_id).await?;
    let client = entry.ok_or_else(|| Error::invalid_request("the application no longer exists"))?;
    let keys = state.keys.get();
    let alg = client.client.id_token_signed_response_alg;
    let key = keys.signer(alg).ok_or_else(|| Error::server_error(format!("no current {alg} signing key is loaded")))?;
    let now = state.now();
    Ok(authorize::issue_id_token(req, session, &user, &key, &state.issuer, now, d.config.tokens.id_token_lifetime))
}

/// An authorization error: shown on a page, or sent to the client's redirect URI.
pub fn reply_error(state: &AppState, e: AuthorizeError, after_post: bool) -> Response {
    match e {
        AuthorizeError::Page(error) => HtmlError(error).into_response(),
        AuthorizeError::Redirect { error, reply } => {
            let level_server = error.code == tessera_core::ErrorCode::ServerError
                || error.code == tessera_core::ErrorCode::TemporarilyUnavailable;
            if level_server {
                tracing::error!(error = %error.code, detail = error.detail.as_deref().unwrap_or(""), "authorization failed");
            } else {
                tracing::info!(error = %error.code, description = error.description(), "authorization refused");
            }
            let mut resp = respond(AuthorizationResponse::error(&reply, &error, &state.issuer), after_post);
            resp.extensions_mut().insert(error.code);
            resp
        }
    }
}

/// Encodes the response in its mode: a redirect with the query (RFC 6749 §4.1.2), an
/// auto-submitting form (Form Post Response Mode §2), or a page posting it to the opener
/// or parent window (Auth0's web_message).
pub fn respond(r: AuthorizationResponse, after_post: bool) -> Response {
    match r.response_mode {
        ResponseMode::Query => html::redirect(after_post, &r.location()),
        ResponseMode::Fragment => html::redirect(after_post, &r.fragment_location()),
        ResponseMode::FormPost => {
            let mut fields = String::new();
            for (k, v) in &r.params {
                fields.push_str(&format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v)));
            }
            let body = format!(
                "<h1>Returning to the application</h1><form method=\"post\" action=\"{}\">{fields}\
                 <noscript><p>JavaScript is off: continue by pressing the button.</p></noscript>\
                 <button type=\"submit\">Continue</button></form>",
                escape(&r.redirect_uri)
            );
            let mut page = Page::new(StatusCode::OK, "Returning to the application", body);
            page.form_targets = html::origin_of(&r.redirect_uri).into_iter().collect();
            page.script = Some(html::AUTO_SUBMIT);
            page.into_response()
        }
        ResponseMode::WebMessage => web_message(&r),
    }
}

/// Auth0's web_message page: posts `{type: "authorization_response", response: {code,
/// state, iss} or {error, error_description, state, iss}}` to the verified web origin,
/// and only that origin may frame it. Without a verified origin (which the checks never
/// let through) it refuses rather than post anywhere.
fn web_message(r: &AuthorizationResponse) -> Response {
    let Some(origin) = r.web_message_origin.clone() else {
        return html::error_page(StatusCode::BAD_REQUEST, &Error::invalid_request("web_message without a verified web origin"));
    };
    let response: serde_json::Map<String, serde_json::Value> =
        r.params.iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone()))).collect();
    let body = format!(
        "<h1>Returning to the application</h1><div id=\"r\" data-origin=\"{}\" data-response=\"{}\"></div>",
        escape(&origin),
        escape(&serde_json::Value::Object(response).to_string())
    );
    let mut page = Page::new(StatusCode::OK, "Returning to the application", body);
    page.script = Some(html::POST_MESSAGE);
    page.frame_ancestor = Some(origin);
    page.into_response()
}
