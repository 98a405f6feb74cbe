//! `/api/v2/jobs` (Auth0 "Jobs"): `POST /jobs/users-imports` (a multipart upload of a users
//! file in Auth0's bulk import format), `POST /jobs/users-exports`, `GET /jobs/{id}` and
//! `GET /jobs/{id}/errors`. Jobs are rows in the database, run in the background by
//! [`worker`] on whichever node claims them, so they survive a restart and run once.
//!
//! Scopes as Auth0 names them: `create:users` to import, `read:users` to export, either
//! to read a job and its errors.

mod export;
mod import;
pub mod worker;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_core::crypto::random_alnum;
use tessera_core::model::{Job, JobKind, JobStatus};
use tessera_core::users_import::MAX_FILE_BYTES;

use super::connections::{DATABASE_CONNECTION, DATABASE_CONNECTION_ID};
use super::error::ApiError;
use super::openapi;
use super::{ApiJson, Caller};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_job";

/// The whole multipart body: the users file and the few small fields beside it.
const MAX_UPLOAD: usize = MAX_FILE_BYTES + 16 * 1024;

fn job_id() -> String {
    format!("job_{}", random_alnum(16))
}

fn check_connection(id: &str) -> Result<(), ApiError> {
    if id == DATABASE_CONNECTION_ID {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::BAD_REQUEST, "inexistent_connection", format!("The connection does not exist. ({id})")))
    }
}

/// The job in Auth0's shape; a completed export also has its download `location`.
fn job_json(state: &AppState, job: &Job) -> Value {
    let mut v = job.auth0_json(DATABASE_CONNECTION);
    if job.kind == JobKind::UsersExport && job.status == JobStatus::Completed {
        if let Some(obj) = v.as_object_mut() {
            obj.insert("location".into(), export::location(state, job).into());
        }
    }
    v
}

fn multipart_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ApiError::invalid_body(format!("{name} must be true or false, not {other:?}"))),
    }
}

/// Auth0: `POST /api/v2/jobs/users-imports`, `multipart/form-data` with the `users` file
/// and `connection_id` (both required), `upsert`, `external_id`, `send_completion_email`.
#[utoipa::path(
    post,
    path = "/jobs/users-imports",
    tag = "jobs",
    operation_id = "post_users_imports",
    request_body(content = openapi::UsersImportForm, content_type = "multipart/form-data"),
    security(("bearer" = ["create:users"])),
    responses((status = 201, description = "The import job, pending.", body = openapi::Job), openapi::ErrorsBody)
)]
pub async fn create_import(State(state): State<AppState>, caller: Caller, req: Request) -> Result<Response, ApiError> {
    caller.require(&["create:users"])?;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::invalid_body("the body must be multipart/form-data"));
    }
    // Bounded before parsing: the whole body is read with a limit, then split.
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_UPLOAD).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("Payload validation error: the users file is larger than {MAX_FILE_BYTES} bytes"),
        )
    })?;
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut form = Multipart::from_request(req, &state).await.map_err(|e| ApiError::invalid_body(e.body_text()))?;
    let (mut users, mut connection_id, mut upsert, mut external_id, mut send_email) = (None, None, false, None, None);
    while let Some(field) = form.next_field().await.map_err(|e| ApiError::invalid_body(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_string();
        let data = field.bytes().await.map_err(|e| ApiError::invalid_body(e.body_text()))?;
        let text = || String::from_utf8(data.to_vec()).map_err(|_| ApiError::invalid_body(format!("{name} is not UTF-8")));
        match name.as_str() {
            "users" => users = Some(text()?),
            "connection_id" => connection_id = Some(text()?),
            "upsert" => upsert = multipart_bool("upsert", &text()?)?,
            "external_id" => external_id = Some(text()?),
            "send_completion_email" => send_email = Some(multipart_bool("send_completion_email", &text()?)?),
            other => return Err(ApiError::invalid_body(format!("Additional properties not allowed: {other}"))),
        }
    }
    let users = users.ok_or_else(|| ApiError::invalid_body("Missing required property: users"))?;
    let connection_id = connection_id.ok_or_else(|| ApiError::invalid_body("Missing required property: connection_id"))?;
    check_connection(&connection_id)?;
    if external_id.as_ref().is_some_and(|e| e.len() > 128) {
        return Err(ApiError::invalid_body("external_id must be at most 128 characters"));
    }
    // The file as a whole must be a JSON array of users; each user is checked by the job.
    tessera_core::users_import::parse_file(users.as_bytes()).map_err(ApiError::invalid_body)?;
    let mut params = json!({"upsert": upsert});
    if let Some(e) = external_id {
        params["external_id"] = e.into();
    }
    if let Some(s) = send_email {
        params["send_completion_email"] = s.into();
    }
    let job = Job::new(job_id(), JobKind::UsersImport, &connection_id, params, Some(users), state.now());
    state.deployment.store.insert_job(&job).await?;
    state.deployment.registry.record("management_job_created", Some(&caller.client_id), None, json!({"job": job.id})).await;
    Ok(caller.respond(StatusCode::CREATED, job_json(&state, &job)))
}

/// One exported field: Auth0's `{name, export_as}`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportField {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_as: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UsersExportRequest)]
pub struct ExportBody {
    connection_id: Option<String>,
    format: Option<String>,
    fields: Option<Vec<ExportField>>,
    limit: Option<i64>,
}

/// Auth0: `POST /api/v2/jobs/users-exports` with `connection_id`, `format` (`json`, which
/// is newline-delimited JSON, or `csv`), `fields` and `limit`.
#[utoipa::path(
    post,
    path = "/jobs/users-exports",
    tag = "jobs",
    operation_id = "post_users_exports",
    request_body = ExportBody,
    security(("bearer" = ["read:users"])),
    responses((status = 201, description = "The export job, pending.", body = openapi::Job), openapi::ErrorsBody)
)]
pub async fn create_export(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ExportBody>,
) -> Result<Response, ApiError> {
    caller.require(&["read:users"])?;
    let connection_id = body.connection_id.unwrap_or_else(|| DATABASE_CONNECTION_ID.to_string());
    check_connection(&connection_id)?;
    let format = body.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "csv") {
        return Err(ApiError::invalid_body(format!("format must be json or csv, not {format:?}")));
    }
    if body.limit.is_some_and(|l| l < 1) {
        return Err(ApiError::invalid_body("limit must be at least 1"));
    }
    let fields = body.fields.unwrap_or_default();
    if fields.len() > 100 || fields.iter().any(|f| f.name.is_empty() || export::is_secret(&f.name)) {
        return Err(ApiError::invalid_body("fields must name at most 100 user properties (never a password hash)"));
    }
    let mut params = json!({"format": format});
    if !fields.is_empty() {
        params["fields"] = serde_json::to_value(&fields).unwrap_or_default();
    }
    if let Some(l) = body.limit {
        params["limit"] = l.into();
    }
    let job = Job::new(job_id(), JobKind::UsersExport, &connection_id, params, None, state.now());
    state.deployment.store.insert_job(&job).await?;
    state.deployment.registry.record("management_job_created", Some(&caller.client_id), None, json!({"job": job.id})).await;
    Ok(caller.respond(StatusCode::CREATED, job_json(&state, &job)))
}

async fn find(state: &AppState, id: &str) -> Result<Job, ApiError> {
    state.deployment.store.get_job(id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND, "The job does not exist."))
}

#[utoipa::path(
    get,
    path = "/jobs/{id}",
    tag = "jobs",
    operation_id = "get_job",
    params(("id" = String, Path, description = "The job's id.")),
    security(("bearer" = ["create:users", "read:users"])),
    responses((status = 200, description = "The job.", body = openapi::Job), openapi::ErrorsOne)
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["create:users", "read:users"])?;
    let job = find(&state, &id).await?;
    Ok(caller.ok(job_json(&state, &job)))
}

/// Auth0: the users an import could not take, each with its errors; 204 when there are none.
#[utoipa::path(
    get,
    path = "/jobs/{id}/errors",
    tag = "jobs",
    operation_id = "get_job_errors",
    params(("id" = String, Path, description = "The job's id.")),
    security(("bearer" = ["create:users", "read:users"])),
    responses((status = 200, description = "The users an import could not take.", body = Vec<openapi::JobError>), (status = 204, description = "No errors."), openapi::ErrorsOne)
)]
pub async fn errors(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["create:users", "read:users"])?;
    let job = find(&state, &id).await?;
    let errors = if job.kind == JobKind::UsersImport { state.deployment.store.job_errors(&job.id).await? } else { vec![] };
    if errors.is_empty() {
        return Ok(caller.no_content());
    }
    Ok(caller.ok(Value::Array(errors)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    expires: i64,
    sig: String,
}

/// An export's file, by the unguessable link in the job's `location` (no token: a download
/// tool fetches it as it would Auth0's signed link). 404 once the link has expired.
#[utoipa::path(
    get,
    path = "/jobs/{id}/download",
    tag = "jobs",
    operation_id = "get_job_download",
    params(("id" = String, Path, description = "The job's id."), openapi::DownloadLink),
    security(()),
    responses((status = 200, description = "The export file: newline-delimited JSON or CSV.", content((String = "application/x-ndjson"), (String = "text/csv"))), openapi::NotFoundOnly)
)]
pub async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<DownloadQuery>, QueryRejection>,
) -> Response {
    let gone = || ApiError::not_found(NOT_FOUND, "The export does not exist or its link has expired.").into_response();
    let Ok(Query(q)) = q else { return gone() };
    if !export::link_is_valid(&state, &id, q.expires, &q.sig) {
        return gone();
    }
    let job = match state.deployment.store.get_job(&id).await {
        Ok(Some(j)) if j.kind == JobKind::UsersExport && j.status == JobStatus::Completed => j,
        Ok(_) => return gone(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let csv = job.params["format"] == "csv";
    let mut resp = job.result.unwrap_or_default().into_response();
    let ct = if csv { "text/csv; charset=utf-8" } else { "application/x-ndjson" };
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
