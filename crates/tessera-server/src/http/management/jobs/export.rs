//! A users-export job (Auth0 "Bulk User Exports"): every user of the connection, in
//! Auth0's user shape, as newline-delimited JSON (`format: json`) or CSV, with the chosen
//! `fields` (each `{name, export_as}`). No password hash is ever exported: the user object
//! never carries one, and `fields` may not name one.
//!
//! The output is kept with the job and served at the job's `location`: an unguessable link
//! (an HMAC under the server key over the job id and the link's expiry) that works without
//! a token for [`LINK_SECONDS`] after the export completed, like Auth0's signed link.

use serde_json::Value;
use tessera_core::crypto::{b64url, ct_eq};
use tessera_core::model::Job;
use tessera_core::store::StoreError;

use super::worker::Outcome;
use super::ExportField;
use crate::app::AppState;

/// How long an export's link works after the export completed.
pub const LINK_SECONDS: i64 = 3600;

/// What Auth0 exports when no `fields` are given, for CSV (JSON exports whole users).
const CSV_DEFAULT_FIELDS: &[&str] = &[
    "user_id",
    "email",
    "email_verified",
    "username",
    "name",
    "given_name",
    "family_name",
    "picture",
    "blocked",
    "created_at",
    "updated_at",
];

/// Names that would export a secret.
pub fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("password") || n.contains("hash")
}

fn signature(state: &AppState, job_id: &str, expires: i64) -> String {
    b64url(&state.deployment.keyring.mac(format!("users-export\0{job_id}\0{expires}").as_bytes()))
}

/// The job's download link.
pub fn location(state: &AppState, job: &Job) -> String {
    let expires = job.updated_at + LINK_SECONDS;
    format!(
        "{}/api/v2/jobs/{}/download?expires={expires}&sig={}",
        state.issuer.trim_end_matches('/'),
        job.id,
        signature(state, &job.id, expires)
    )
}

pub fn link_is_valid(state: &AppState, job_id: &str, expires: i64, sig: &str) -> bool {
    state.now() < expires && ct_eq(signature(state, job_id, expires).as_bytes(), sig.as_bytes())
}

/// `a.b.c` inside a user object.
fn lookup<'a>(user: &'a Value, path: &str) -> Option<&'a Value> {
    user.get(path).or_else(|| path.split('.').try_fold(user, |v, k| v.get(k)))
}

fn select(user: &Value, fields: &[ExportField]) -> Value {
    let mut out = serde_json::Map::new();
    for f in fields {
        if let Some(v) = lookup(user, &f.name) {
            out.insert(f.export_as.clone().unwrap_or_else(|| f.name.clone()), v.clone());
        }
    }
    Value::Object(out)
}

/// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_cell(v: Option<&Value>) -> String {
    let s = match v {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub async fn run(state: &AppState, job: &Job) -> Result<Outcome, StoreError> {
    let csv = job.params["format"] == "csv";
    let limit = job.params["limit"].as_i64().unwrap_or(i64::MAX);
    let mut fields: Vec<ExportField> = serde_json::from_value(job.params["fields"].clone()).unwrap_or_default();
    if csv && fields.is_empty() {
        fields = CSV_DEFAULT_FIELDS.iter().map(|n| ExportField { name: n.to_string(), export_as: None }).collect();
    }
    let mut out = String::new();
    if csv {
        let header: Vec<String> = fields
            .iter()
            .map(|f| csv_cell(Some(&Value::String(f.export_as.clone().unwrap_or_else(|| f.name.clone())))))
            .collect();
        out.push_str(&header.join(","));
        out.push_str("\r\n");
    }
    let store = &state.deployment.store;
    let (mut offset, mut written) = (0i64, 0i64);
    const PAGE: i64 = 500;
    while written < limit {
        let users = store.list_users(PAGE, offset).await?;
        for u in &users {
            if written >= limit {
                break;
            }
            let full = super::super::users::user_json(state, u)
                .await
                .map_err(|e| StoreError::Unavailable(format!("cannot read a user's metadata: {}", e.message)))?;
            if csv {
                let row: Vec<String> = fields.iter().map(|f| csv_cell(lookup(&full, &f.name))).collect();
                out.push_str(&row.join(","));
                out.push_str("\r\n");
            } else {
                let line = if fields.is_empty() { full } else { select(&full, &fields) };
                out.push_str(&line.to_string());
                out.push('\n');
            }
            written += 1;
        }
        if (users.len() as i64) < PAGE {
            break;
        }
        offset += PAGE;
    }
    Ok(Outcome::Done(Some(out)))
}
