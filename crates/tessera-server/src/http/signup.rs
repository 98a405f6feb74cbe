//! The hosted sign-up screen, `GET/POST /u/signup` (`/authorize?screen_hint=signup`, as
//! Auth0's Universal Login): a plain HTML form that works without JavaScript (email,
//! optional username, password), in the same login transaction as the login page. A new
//! user is logged in at once and the flow continues as after a login; the verification
//! email goes out through the outbox. Refusals re-show the form with a message that does
//! not say whether an account exists.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::Params;
use tessera_core::password::MIN_PASSWORD_LEN;
use tessera_core::registry::signup::{Refusal, SignUp};
use tessera_core::routes;

use super::error::HtmlError;
use super::html::{self, escape, Page};
use super::interaction::{form, open_txn, Txn};
use crate::app::AppState;

pub async fn page(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    match open_txn(&state, &params, &headers, false).await {
        Ok(txn) => {
            let hint = txn.pending.request.login_hint.clone().unwrap_or_default();
            render(&state, &txn, StatusCode::OK, None, &hint, "")
        }
        Err(e) => e.into_response(),
    }
}

fn render(state: &AppState, txn: &Txn, status: StatusCode, error: Option<&str>, email: &str, username: &str) -> Response {
    let message = error.map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "<h1>Sign up</h1>{message}<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"txn\" value=\"{txn}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"text\" inputmode=\"email\" autocomplete=\"email\" value=\"{email}\" required autofocus>\
         <label for=\"username\">Username (optional)</label>\
         <input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" value=\"{username}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"{MIN_PASSWORD_LEN}\" required>\
         <button type=\"submit\">Continue</button></form>\
         <p>Already have an account? <a href=\"{login}\">Log in</a></p>",
        action = escape(&routes::url(&state.issuer, routes::SIGNUP)),
        txn = escape(&txn.id),
        csrf = escape(&txn.record.csrf),
        email = escape(email),
        username = escape(username),
        login = escape(&format!("{}?txn={}", routes::url(&state.issuer, routes::LOGIN), txn.id)),
    );
    let mut page = Page::new(status, "Sign up", body);
    page.form_targets = html::origin_of(&txn.pending.request.reply.redirect_uri).into_iter().collect();
    page.into_response()
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
    let email = params.get("email").unwrap_or_default().trim().to_string();
    let username = params.get("username").unwrap_or_default().trim().to_string();
    let again = |msg: &str| render(state, &txn, StatusCode::BAD_REQUEST, Some(msg), &email, &username);
    if email.is_empty() {
        return Ok(again("Enter your email address."));
    }
    let request = SignUp {
        email: email.clone(),
        password: params.get("password").unwrap_or_default().to_string(),
        username: (!username.is_empty()).then(|| username.clone()),
        ..Default::default()
    };
    let user = match state.deployment.registry.sign_up(request).await {
        Ok(u) => u,
        Err(Refusal::Disabled) => return Ok(again("Sign-up is disabled for this application.")),
        Err(Refusal::WeakPassword) => return Ok(again(&format!("The password must be at least {MIN_PASSWORD_LEN} characters."))),
        Err(Refusal::Exists) => return Ok(again("This sign-up cannot be completed. If you already have an account, log in.")),
        Err(Refusal::Invalid(e)) => return Ok(again(e.description())),
        Err(Refusal::Failed(e)) => return Err(e.into()),
    };
    let client = super::interaction::client_of(state, &txn.record.client_id).await?;
    let app = client.map(|c| c.name.clone()).unwrap_or_default();
    if let Err(e) = crate::email::send_verification(state, &user, &app).await {
        tracing::error!(user_id = %user.user_id, error = %e.code, "cannot queue the verification email");
    }
    super::login::complete(state, headers, &txn, &user).await
}
