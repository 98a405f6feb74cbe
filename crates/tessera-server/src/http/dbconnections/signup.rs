//! `POST /dbconnections/signup` (Auth0 Authentication API "Signup"): creates a user in the
//! database connection and queues the verification email. The answer is Auth0's
//! `{_id, email, email_verified, ...}`; refusals are Auth0's bodies: `invalid_password`
//! (`PasswordStrengthError`), `invalid_signup` for a taken email or username,
//! `bad.connection` for another connection, `operation_not_allowed` when the connection's
//! `disable_signup` is on.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use tessera_core::password::MIN_PASSWORD_LEN;
use tessera_core::registry::signup::{Refusal, SignUp};

use super::error::DbError;
use super::{body_object, client_and_connection, text};
use crate::app::AppState;

pub async fn signup(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, DbError> {
    let m = body_object(&headers, &body)?;
    let client = client_and_connection(&state, &m).await?;
    let email = text(&m, "email").ok_or_else(|| DbError::bad_request("invalid_signup", "Missing required parameter: email"))?;
    let password = m.get("password").and_then(Value::as_str).unwrap_or_default();
    let metadata = match m.get("user_metadata") {
        None | Some(Value::Null) => None,
        // A form can only carry it as JSON text.
        Some(Value::String(s)) => Some(
            serde_json::from_str(s).map_err(|_| DbError::bad_request("invalid_body", "user_metadata must be a JSON object"))?,
        ),
        Some(v) => Some(v.clone()),
    };
    let request = SignUp {
        email: email.to_string(),
        password: password.to_string(),
        username: text(&m, "username").map(str::to_string),
        given_name: text(&m, "given_name").map(str::to_string),
        family_name: text(&m, "family_name").map(str::to_string),
        name: text(&m, "name").map(str::to_string),
        picture: text(&m, "picture").map(str::to_string),
        user_metadata: metadata.clone(),
    };
    let user = match state.deployment.registry.sign_up(request).await {
        Ok(u) => u,
        Err(Refusal::Disabled) => return Err(DbError::bad_request("operation_not_allowed", "public signup is disabled")),
        Err(Refusal::WeakPassword) => return Err(DbError::weak_password(MIN_PASSWORD_LEN)),
        Err(Refusal::Exists) => return Err(DbError::invalid_signup()),
        Err(Refusal::Invalid(e)) => return Err(DbError::bad_request("invalid_signup", e.description().to_string())),
        Err(Refusal::Failed(e)) => return Err(e.into()),
    };
    // The user exists once committed; a verification email that cannot be queued is logged,
    // not turned into a failed sign-up the client would retry into `invalid_signup`.
    if let Err(e) = crate::email::send_verification(&state, &user, &client.name).await {
        tracing::error!(user_id = %user.user_id, error = %e.code, "cannot queue the verification email");
    }
    Ok(axum::Json(answer(&user, &m, metadata)).into_response())
}

/// Auth0's body: `_id` is the id without the `auth0|` connection prefix, then the fields the
/// user was created with.
fn answer(user: &tessera_core::model::User, m: &Map<String, Value>, metadata: Option<Value>) -> Value {
    let id = user.user_id.strip_prefix("auth0|").unwrap_or(&user.user_id);
    let mut out = json!({"_id": id, "email": user.email, "email_verified": user.email_verified});
    let fields = [
        ("username", user.username.clone()),
        ("given_name", user.given_name.clone()),
        ("family_name", user.family_name.clone()),
        ("name", text(m, "name").map(str::to_string)),
        ("nickname", text(m, "nickname").map(str::to_string)),
        ("picture", user.picture.clone()),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            out[k] = v.into();
        }
    }
    if let Some(md) = metadata {
        out["user_metadata"] = md;
    }
    out
}
