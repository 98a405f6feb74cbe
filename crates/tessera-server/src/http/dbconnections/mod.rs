//! Auth0's database-connection endpoints (`/dbconnections/signup`,
//! `/dbconnections/change_password`): what the Node `auth0` AuthenticationClient's
//! `database` and auth0-python's `Database` call. Bodies are JSON or forms; errors are
//! Auth0's body ([`error::DbError`]).

pub mod change_password;
pub mod error;
pub mod signup;

use axum::http::{header, HeaderMap};
use serde_json::{Map, Value};
use tessera_core::model::{Client, DATABASE_CONNECTION};

use self::error::DbError;
use crate::app::AppState;

/// The request body as a JSON object: a JSON body as sent, or a form's fields as strings.
pub fn body_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, DbError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(DbError::bad_request("invalid_body", "the body must be a JSON object")),
        },
        "application/x-www-form-urlencoded" => {
            let mut m = Map::new();
            for (k, v) in url::form_urlencoded::parse(body) {
                if m.insert(k.to_string(), Value::String(v.into_owned())).is_some() {
                    return Err(DbError::bad_request("invalid_body", format!("parameter {k} is repeated")));
                }
            }
            Ok(m)
        }
        _ => Err(DbError::bad_request("invalid_body", "the body must be application/json or application/x-www-form-urlencoded")),
    }
}

/// A string field, trimmed; absent, empty or not a string is `None`.
pub fn text<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    m.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// The calling application (`client_id`, required) and the connection, which must be the
/// database connection: Auth0 refuses any other name for these endpoints.
pub async fn client_and_connection(state: &AppState, m: &Map<String, Value>) -> Result<Client, DbError> {
    let id =
        text(m, "client_id").ok_or_else(|| DbError::bad_request("invalid_request", "Missing required parameter: client_id"))?;
    let connection =
        text(m, "connection").ok_or_else(|| DbError::bad_request("invalid_request", "Missing required parameter: connection"))?;
    let client = state
        .deployment
        .store
        .get_client(id)
        .await
        .map_err(tessera_core::Error::from)?
        .ok_or_else(|| DbError::bad_request("invalid_client", format!("Unknown client: {id}")))?;
    if connection != DATABASE_CONNECTION {
        return Err(DbError::bad_request("bad.connection", "connection not found"));
    }
    Ok(client)
}
