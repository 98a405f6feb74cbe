//! A users-import job: the file's users, in batches, each batch one transaction with the
//! job's progress (Auth0 "Bulk User Imports"). Users that fail the schema and users that
//! already exist (without `upsert`) are reported in Auth0's error shape; the others import.

use serde_json::{json, Map, Value};
use tessera_core::crypto::random_hex;
use tessera_core::model::Job;
use tessera_core::store::{ImportBatch, ImportRow, StoreError};
use tessera_core::users_import::{self, FieldError};

use super::worker::{Outcome, LEASE_SECONDS};
use crate::app::AppState;

/// Users per transaction: small enough to keep each write short, large enough that a
/// 500 KB file takes a few dozen commits.
const BATCH: usize = 100;

/// The user as the error report shows it: as given, without its password hash.
fn shown(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "password_hash" | "custom_password_hash"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

fn entry(user: &Value, errors: &[FieldError]) -> Value {
    json!({"user": shown(user), "errors": errors.iter().map(FieldError::to_json).collect::<Vec<_>>()})
}

pub async fn run(state: &AppState, job: &Job, claim: &str) -> Result<Outcome, StoreError> {
    let Some(input) = job.input.as_deref() else { return Ok(Outcome::Failed("the users file is gone".into())) };
    let users = match users_import::parse_file(input.as_bytes()) {
        Ok(u) => u,
        Err(e) => return Ok(Outcome::Failed(e)),
    };
    let upsert = job.params["upsert"].as_bool().unwrap_or(false);
    // Auth0's report for a user that exists already (the import does not overwrite it).
    let exists = [FieldError { code: "DUPLICATED_USER", message: "The user already exist.".into(), path: String::new() }];
    let start = usize::try_from(job.cursor).unwrap_or(0).min(users.len());
    for (n, chunk) in users[start..].chunks(BATCH).enumerate() {
        let first = start + n * BATCH;
        let now = state.now();
        let mut batch = ImportBatch { upsert, cursor: (first + chunk.len()) as i64, rows: vec![], invalid: vec![] };
        for (i, v) in chunk.iter().enumerate() {
            let seq = (first + i) as i64;
            match users_import::validate(v, || format!("auth0|{}", random_hex::<12>()), now) {
                Ok(user) => batch.rows.push(ImportRow { seq, user, conflict: entry(v, &exists) }),
                Err(errors) => batch.invalid.push((seq, entry(v, &errors))),
            }
        }
        if !state.deployment.store.import_batch(&job.id, claim, &batch, now, now + LEASE_SECONDS).await? {
            return Ok(Outcome::LostClaim);
        }
    }
    Ok(Outcome::Done(None))
}
