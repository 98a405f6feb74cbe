//! Auth0's bulk user import format (Auth0 "Bulk User Import Database Schema and Examples"):
//! a JSON array of users, each checked against Auth0's user schema. A user that does not fit
//! is reported with Auth0's `{code, message, path}` errors and the others still import.
//!
//! - `email` is required (Tessera's one connection is a database connection keyed by email).
//! - Known properties only: `email email_verified user_id username given_name family_name
//!   name nickname picture blocked user_metadata app_metadata password_hash
//!   custom_password_hash`; anything else is `OBJECT_ADDITIONAL_PROPERTIES`.
//! - `password_hash` and `custom_password_hash` exclude each other ([`custom_hash`]).
//! - `app_metadata` must not hold the properties Auth0 reserves (its list below).
//! - `user_id` becomes `auth0|<user_id>`, as Auth0 prefixes it with the connection strategy.

pub mod custom_hash;

use serde_json::{Map, Value};

use crate::model::{User, UserPatch};
use custom_hash::ImportedHash;

/// Auth0 caps a users file at 500 KB; Tessera takes the same.
pub const MAX_FILE_BYTES: usize = 500 * 1024;

/// Auth0: these may not appear in an imported user's `app_metadata`.
const RESERVED_APP_METADATA: &[&str] = &[
    "__tenant",
    "_id",
    "blocked",
    "clientID",
    "created_at",
    "email_verified",
    "email",
    "globalClientID",
    "global_client_id",
    "identities",
    "lastIP",
    "lastLogin",
    "loginsCount",
    "metadata",
    "multifactor_last_modified",
    "multifactor",
    "updated_at",
    "user_id",
];

/// Tessera keeps each metadata object small (as the users endpoint does).
const MAX_METADATA_BYTES: usize = 16 * 1024;

/// One schema error of one user, in Auth0's job-error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
    pub path: String,
}

impl FieldError {
    fn new(code: &'static str, path: &str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), path: path.to_string() }
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({"code": self.code, "message": self.message, "path": self.path})
    }
}

/// A user that passed the schema, ready to be stored.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    /// The user as it is inserted when new.
    pub user: User,
    /// The fields the file gave (an upsert changes only these).
    pub given: UserPatch,
    pub blocked: Option<bool>,
    pub user_metadata: Option<Value>,
    pub app_metadata: Option<Value>,
}

/// Reads the users file: a JSON array of objects (each one is checked later, on its own).
pub fn parse_file(bytes: &[u8]) -> Result<Vec<Value>, String> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!("the users file is larger than {MAX_FILE_BYTES} bytes"));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(users)) if !users.is_empty() => Ok(users),
        Ok(Value::Array(_)) => Err("the users file holds no users".into()),
        Ok(_) => Err("the users file must be a JSON array of users".into()),
        Err(e) => Err(format!("the users file is not JSON: {e}")),
    }
}

fn string(obj: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errors.push(FieldError::new(
                "INVALID_TYPE",
                key,
                format!("Expected type string but found type {}", type_name(other)),
            ));
            None
        }
    }
}

fn boolean(obj: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Option<bool> {
    match obj.get(key) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            errors.push(FieldError::new(
                "INVALID_TYPE",
                key,
                format!("Expected type boolean but found type {}", type_name(other)),
            ));
            None
        }
    }
}

fn object(obj: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Option<Value> {
    match obj.get(key) {
        None => None,
        Some(v @ Value::Object(_)) if serde_json::to_string(v).map_or(0, |s| s.len()) > MAX_METADATA_BYTES => {
            errors.push(FieldError::new("MAX_LENGTH", key, format!("{key} is larger than {MAX_METADATA_BYTES} bytes")));
            None
        }
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(other) => {
            errors.push(FieldError::new(
                "INVALID_TYPE",
                key,
                format!("Expected type object but found type {}", type_name(other)),
            ));
            None
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const KNOWN: &[&str] = &[
    "email",
    "email_verified",
    "user_id",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "user_metadata",
    "app_metadata",
    "password_hash",
    "custom_password_hash",
];

/// Checks one user of the file against Auth0's schema; `new_id` names it when the file
/// gives no `user_id`. All of a user's errors are reported together.
pub fn validate(v: &Value, new_id: impl FnOnce() -> String, now: i64) -> Result<ImportedUser, Vec<FieldError>> {
    let Value::Object(obj) = v else {
        return Err(vec![FieldError::new("INVALID_TYPE", "", format!("Expected type object but found type {}", type_name(v)))]);
    };
    let mut errors = Vec::new();
    for key in obj.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
        errors.push(FieldError::new("OBJECT_ADDITIONAL_PROPERTIES", key, format!("Additional properties not allowed: {key}")));
    }
    let email = string(obj, "email", &mut errors);
    if !obj.contains_key("email") {
        errors.push(FieldError::new("OBJECT_MISSING_REQUIRED_PROPERTY", "email", "Missing required property: email"));
    }
    let patch = UserPatch {
        email,
        email_verified: boolean(obj, "email_verified", &mut errors),
        username: string(obj, "username", &mut errors),
        name: string(obj, "name", &mut errors),
        given_name: string(obj, "given_name", &mut errors),
        family_name: string(obj, "family_name", &mut errors),
        picture: string(obj, "picture", &mut errors),
    };
    // Accepted for compatibility with Auth0's exports; Tessera derives `nickname` itself.
    let _ = string(obj, "nickname", &mut errors);
    let blocked = boolean(obj, "blocked", &mut errors);
    let user_metadata = object(obj, "user_metadata", &mut errors);
    let app_metadata = object(obj, "app_metadata", &mut errors);
    if let Some(Value::Object(am)) = &app_metadata {
        for key in am.keys().filter(|k| RESERVED_APP_METADATA.contains(&k.as_str())) {
            errors.push(FieldError::new(
                "OBJECT_ADDITIONAL_PROPERTIES",
                &format!("app_metadata.{key}"),
                format!("app_metadata may not hold {key}"),
            ));
        }
    }
    let user_id = string(obj, "user_id", &mut errors);
    if user_id.as_deref().is_some_and(|id| id.is_empty() || id.len() > 255 || id.chars().any(|c| c.is_control() || c == '|')) {
        errors.push(FieldError::new("PATTERN", "user_id", "user_id must be 1 to 255 printable characters without |"));
    }
    let hash = match (obj.get("password_hash"), obj.get("custom_password_hash")) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new("ONE_OF_MULTIPLE", "", "password_hash and custom_password_hash are mutually exclusive"));
            None
        }
        (Some(Value::String(h)), None) => hash_or_error(custom_hash::parse_password_hash(h), &mut errors),
        (Some(other), None) => {
            let found = type_name(other);
            errors.push(FieldError::new("INVALID_TYPE", "password_hash", format!("Expected type string but found type {found}")));
            None
        }
        (None, Some(c)) => hash_or_error(custom_hash::parse_custom_password_hash(c), &mut errors),
        (None, None) => None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let id = match user_id {
        Some(id) => format!("auth0|{id}"),
        None => new_id(),
    };
    let given = patch.clone();
    let mut user = User::create(id, patch, now).map_err(|e| vec![FieldError::new("FORMAT", "", e.description())])?;
    user.blocked = blocked.unwrap_or(false);
    user.password_hash = hash.map(|h| h.to_stored());
    Ok(ImportedUser { user, given, blocked, user_metadata, app_metadata })
}

fn hash_or_error(r: Result<ImportedHash, custom_hash::HashError>, errors: &mut Vec<FieldError>) -> Option<ImportedHash> {
    match r {
        Ok(h) => Some(h),
        Err(e) => {
            let message = format!("{} {}", e.path, e.message);
            errors.push(FieldError::new("INVALID_FORMAT", &e.path, message));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors_of(v: Value) -> Vec<(&'static str, String)> {
        validate(&v, || "auth0|new".into(), 0).unwrap_err().into_iter().map(|e| (e.code, e.path)).collect()
    }

    #[test]
    fn users_are_checked_against_auth0s_schema() {
        let ok = validate(&json!({"email": "A@Example.com", "user_id": "42", "blocked": true}), || unreachable!(), 5).unwrap();
        assert_eq!(
            (ok.user.user_id.as_str(), ok.user.email.as_deref(), ok.user.blocked),
            ("auth0|42", Some("a@example.com"), true)
        );
        let fresh = validate(&json!({"email": "b@example.com"}), || "auth0|new".into(), 5).unwrap();
        assert_eq!(fresh.user.user_id, "auth0|new");

        let table = [
            (json!({"name": "no email"}), vec![("OBJECT_MISSING_REQUIRED_PROPERTY", "email".to_string())]),
            (json!({"email": "a@example.com", "email_verified": "yes"}), vec![("INVALID_TYPE", "email_verified".into())]),
            (json!({"email": "a@example.com", "shoe_size": 9}), vec![("OBJECT_ADDITIONAL_PROPERTIES", "shoe_size".into())]),
            (
                json!({"email": "a@example.com", "app_metadata": {"email": "x"}}),
                vec![("OBJECT_ADDITIONAL_PROPERTIES", "app_metadata.email".into())],
            ),
            (json!({"email": "a@example.com", "password_hash": "nope"}), vec![("INVALID_FORMAT", "password_hash".into())]),
            (json!({"email": "not an email"}), vec![("FORMAT", String::new())]),
        ];
        for (v, want) in table {
            assert_eq!(errors_of(v.clone()), want, "{v}");
        }
    }

    #[test]
    fn the_file_is_a_non_empty_array() {
        assert!(parse_file(b"[{\"email\":\"a@example.com\"}]").is_ok());
        assert!(parse_file(b"[]").is_err());
        assert!(parse_file(b"{}").is_err());
        assert!(parse_file(&vec![b' '; MAX_FILE_BYTES + 1]).is_err());
    }
}
