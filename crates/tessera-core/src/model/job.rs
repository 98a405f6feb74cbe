//! Management API jobs (Auth0 "Jobs"): user imports and exports, run in the background by
//! whichever node claims them first. The JSON view is Auth0's job object.

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    UsersImport,
    UsersExport,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersImport => "users_import",
            Self::UsersExport => "users_export",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "users_import" => Some(Self::UsersImport),
            "users_export" => Some(Self::UsersExport),
            _ => None,
        }
    }
}

/// Auth0's job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "processing" => Some(Self::Processing),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// An import's running counts (Auth0's `summary`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobSummary {
    pub inserted: i64,
    pub updated: i64,
    pub failed: i64,
    pub total: i64,
}

/// A stored job. `params` holds what the request asked for (Auth0's fields: `upsert`,
/// `external_id`, `send_completion_email`, `format`, `fields`), `input` the uploaded users
/// file until the job ends, `cursor` how many of its users are done, `result` an export's
/// output.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub connection_id: String,
    pub params: Value,
    pub input: Option<String>,
    pub cursor: i64,
    pub summary: JobSummary,
    pub result: Option<String>,
    /// Why a job failed as a whole (an unreadable file), shown as Auth0's `status_details`.
    pub failure: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Job {
    pub fn new(id: String, kind: JobKind, connection_id: &str, params: Value, input: Option<String>, now: i64) -> Self {
        Self {
            id,
            kind,
            status: JobStatus::Pending,
            connection_id: connection_id.to_string(),
            params,
            input,
            cursor: 0,
            summary: JobSummary::default(),
            result: None,
            failure: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Auth0's job object (without an export's `location`, which the HTTP layer adds).
    pub fn auth0_json(&self, connection_name: &str) -> Value {
        let mut v = json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "status": self.status.as_str(),
            "created_at": super::rfc3339(self.created_at),
            "connection_id": self.connection_id,
            "connection": connection_name,
        });
        let Some(obj) = v.as_object_mut() else { return v };
        if let Value::Object(p) = &self.params {
            for (k, val) in p {
                obj.insert(k.clone(), val.clone());
            }
        }
        if self.kind == JobKind::UsersImport && matches!(self.status, JobStatus::Completed | JobStatus::Failed) {
            let s = self.summary;
            obj.insert(
                "summary".into(),
                json!({"failed": s.failed, "updated": s.updated, "inserted": s.inserted, "total": s.total}),
            );
        }
        if let Some(f) = &self.failure {
            obj.insert("status_details".into(), f.clone().into());
        }
        v
    }
}
