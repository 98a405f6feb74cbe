//! The error body of Auth0's `/dbconnections/*` endpoints, the one place they become
//! responses: `{"name", "code", "description", "statusCode"}` (plus `message` and `policy`
//! for a weak password), as Auth0 answers and its SDKs parse (the Node `auth0` package
//! reads `code`/`description`, auth0-python `code`/`description` too).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tessera_core::{Error, ErrorCode};

#[derive(Debug)]
pub struct DbError {
    status: StatusCode,
    body: Value,
}

impl DbError {
    pub fn bad_request(code: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({"name": "BadRequestError", "code": code, "description": description, "statusCode": 400}),
        }
    }

    /// Auth0: a duplicate email or username is `invalid_signup` "Invalid sign up" (it says no
    /// more, so sign-up does not confirm which accounts exist).
    pub fn invalid_signup() -> Self {
        Self::bad_request("invalid_signup", "Invalid sign up")
    }

    /// Auth0's `PasswordStrengthError`, listing the rules of the policy and which failed.
    /// Tessera's policy is one rule: at least `min` characters (NIST SP 800-63B §5.1.1.2).
    pub fn weak_password(min: usize) -> Self {
        let rule =
            json!({"message": "At least %d characters in length", "format": [min], "code": "lengthAtLeast", "verified": false});
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({
                "name": "PasswordStrengthError",
                "message": "Password is too weak",
                "code": "invalid_password",
                "description": {"rules": [rule], "verified": false},
                "policy": format!("* At least {min} characters in length"),
                "statusCode": 400,
            }),
        }
    }
}

impl From<Error> for DbError {
    fn from(e: Error) -> Self {
        let status = super::super::error::status_of(e.code);
        if status.is_server_error() {
            tracing::error!(error = %e.code, detail = e.detail.as_deref().unwrap_or(""), "request failed");
        }
        let name = if status.is_server_error() { "Error" } else { "BadRequestError" };
        let code = match e.code {
            ErrorCode::InvalidBody => "invalid_body",
            other => other.as_str(),
        };
        Self { status, body: json!({"name": name, "code": code, "description": e.description(), "statusCode": status.as_u16()}) }
    }
}

impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        resp.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
        resp
    }
}
