//! `/api/v2/logs` (Auth0 "Logs"): the audit trail, with Auth0's event type codes; offset
//! pages (`page`/`per_page`/`include_totals`, newest first unless `sort=date:1`) or
//! checkpoints (`from` a `log_id`, `take`: the entries after it, oldest first), and a
//! search (`q`, or `search` as the v7 Node SDK sends it) by `type`, `user_id`, `client_id`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_core::audit::{kinds_of_type, log_type};
use tessera_core::model::rfc3339;
use tessera_core::store::{AuditQuery, AuditRecord};

use super::error::ApiError;
use super::openapi;
use super::{parse_bool, ApiQuery, Caller, DEFAULT_PER_PAGE, MAX_PER_PAGE};
use crate::app::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    page: Option<String>,
    per_page: Option<String>,
    include_totals: Option<String>,
    from: Option<String>,
    take: Option<String>,
    q: Option<String>,
    search: Option<String>,
    sort: Option<String>,
    fields: Option<String>,
    include_fields: Option<String>,
}

/// One entry in Auth0's shape.
fn log_json(r: &AuditRecord) -> Value {
    let e = &r.event;
    let (code, description) = log_type(&e.kind);
    let mut details = e.detail.clone();
    let user_agent = details.as_object_mut().and_then(|d| d.remove("user_agent")).filter(|v| !v.is_null());
    json!({
        "log_id": r.id.to_string(),
        "date": rfc3339(e.at),
        "type": code,
        "description": description,
        "client_id": e.client_id,
        "user_id": e.user_id,
        "ip": e.ip,
        "user_agent": user_agent,
        "details": {"kind": e.kind, "data": details},
    })
}

/// Auth0's Lucene `q`, the subset Tessera answers: terms `type:…`, `user_id:…`,
/// `client_id:…` (values optionally quoted), joined by spaces or `AND`.
async fn parse_search(state: &AppState, q: &str, into: &mut AuditQuery) -> Result<(), ApiError> {
    let unsupported =
        |t: &str| ApiError::invalid_query(format!("search term {t:?} is not supported; use type:, user_id: or client_id:"));
    for term in q.split_whitespace().filter(|t| *t != "AND") {
        let (field, value) = term.split_once(':').ok_or_else(|| unsupported(term))?;
        let value = value.trim_matches('"');
        if value.is_empty() {
            return Err(unsupported(term));
        }
        match field {
            "type" => {
                let kinds = state.deployment.store.audit_kinds().await?;
                into.kinds = Some(kinds_of_type(value, kinds.iter().map(String::as_str)));
            }
            "user_id" => into.user_id = Some(value.to_string()),
            "client_id" => into.client_id = Some(value.to_string()),
            _ => return Err(unsupported(term)),
        }
    }
    Ok(())
}

fn number(name: &str, v: &Option<String>, default: usize) -> Result<usize, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => s.parse::<usize>().map_err(|_| ApiError::invalid_query(format!("{name} must be a non-negative integer"))),
    }
}

#[utoipa::path(
    get,
    path = "/logs",
    tag = "logs",
    operation_id = "get_logs",
    params(openapi::OffsetPaging, openapi::Totals, openapi::LogCheckpoint, openapi::Fields, openapi::LogSearch),
    security(("bearer" = ["read:logs"])),
    responses((status = 200, description = "Log events: newest first for pages, oldest first after a checkpoint.", body = openapi::LogsPage), openapi::Errors)
)]
pub async fn list(State(state): State<AppState>, caller: Caller, ApiQuery(lq): ApiQuery<LogQuery>) -> Result<Response, ApiError> {
    caller.require(&["read:logs"])?;
    let checkpoint = lq.from.is_some() || lq.take.is_some();
    if checkpoint && (lq.page.is_some() || lq.per_page.is_some()) {
        return Err(ApiError::invalid_query("use page/per_page or from/take, not both"));
    }
    let limit = if checkpoint {
        number("take", &lq.take, DEFAULT_PER_PAGE)?
    } else {
        number("per_page", &lq.per_page, DEFAULT_PER_PAGE)?
    };
    if limit > MAX_PER_PAGE {
        return Err(ApiError::invalid_query(format!("per_page and take must be at most {MAX_PER_PAGE}")));
    }
    let page = number("page", &lq.page, 0)?;
    let newest_first = match lq.sort.as_deref() {
        None | Some("date:-1") => true,
        Some("date:1") => false,
        Some(other) => return Err(ApiError::invalid_query(format!("sort {other:?} is not supported; use date:1 or date:-1"))),
    };
    let include_totals = parse_bool("include_totals", lq.include_totals.as_deref())?.unwrap_or(false);
    let mut query = AuditQuery { newest_first, limit: limit as i64, ..Default::default() };
    if let Some(q) = lq.q.as_deref().or(lq.search.as_deref()) {
        parse_search(&state, q, &mut query).await?;
    }
    if checkpoint {
        let from = match lq.from.as_deref().filter(|f| !f.is_empty()) {
            None => 0,
            Some(f) => f.parse::<i64>().map_err(|_| ApiError::invalid_query("from must be a log_id"))?,
        };
        query.after_id = Some(from);
    } else {
        query.offset = i64::try_from(page.saturating_mul(limit)).map_err(|_| ApiError::invalid_query("page is too large"))?;
    }
    let include = parse_bool("include_fields", lq.include_fields.as_deref())?.unwrap_or(true);
    let fields: Option<Vec<&str>> = lq.fields.as_deref().map(|f| f.split(',').map(str::trim).collect());
    let select = |v: Value| match (&fields, v) {
        (Some(names), Value::Object(m)) => {
            Value::Object(m.into_iter().filter(|(k, _)| names.contains(&k.as_str()) == include).collect())
        }
        (_, v) => v,
    };
    let store = &state.deployment.store;
    let records = if limit == 0 { vec![] } else { store.query_audit(&query).await? };
    let items: Vec<Value> = records.iter().map(|r| select(log_json(r))).collect();
    if checkpoint || !include_totals {
        return Ok(caller.ok(Value::Array(items)));
    }
    let total = store.count_audit(&query).await?;
    Ok(caller.ok(json!({"start": query.offset, "limit": limit, "length": items.len(), "total": total, "logs": items})))
}

#[utoipa::path(
    get,
    path = "/logs/{id}",
    tag = "logs",
    operation_id = "get_log",
    params(("id" = String, Path, description = "The log_id.")),
    security(("bearer" = ["read:logs"])),
    responses((status = 200, description = "The log event.", body = openapi::Log), openapi::ErrorsOne)
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["read:logs"])?;
    let missing = || ApiError::not_found("inexistent_log", "The log event does not exist");
    let id = id.parse::<i64>().map_err(|_| missing())?;
    let r = state.deployment.store.get_audit(id).await?.ok_or_else(missing)?;
    Ok(caller.ok(log_json(&r)))
}
