//! The Management API v2 (`/api/v2/`), in Auth0's shape: the same paths, JSON field names,
//! status codes, pagination and error body, so the tools Auth0 customers run (the Node
//! `auth0` package's `ManagementClient`, `auth0-python`'s `Auth0`) work unchanged. One
//! file per resource; every handler goes through the same [`tessera_core::registry`]
//! functions as the CLI.
//!
//! Access (Auth0 "Management API Access Tokens"): an access token for the built-in API
//! `{issuer}api/v2/`, obtained with `client_credentials`, whose `scope` holds one of the
//! scopes the endpoint names; DPoP-bound tokens come with their proof.

mod client_grants;
mod clients;
mod connections;
mod credentials;
pub mod error;
pub mod jobs;
mod keys;
mod logs;
pub mod openapi;
pub mod rate_limit;
mod refresh_tokens;
mod registration_tokens;
mod resource_servers;
mod sessions;
mod tenant;
mod users;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_core::registry::management_audience;
use tessera_core::scope::Scope;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::error::ApiError;
use super::bearer::{self, presented_token};
use super::error::TokenScheme;
use crate::app::AppState;

/// Where the Management API is mounted.
pub const BASE: &str = "/api/v2";

/// Request bodies are small JSON documents; anything larger is refused with 413.
pub const MAX_BODY: usize = 64 * 1024;

/// Every operation of the API: `routes!` registers each handler at the path and method of
/// its `#[utoipa::path]` annotation and adds the operation to the OpenAPI document, so the
/// router and the document are one list (see [`openapi`]).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::get, clients::update, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(credentials::list, credentials::create))
        .routes(routes!(credentials::get, credentials::update, credentials::delete))
        .routes(routes!(resource_servers::list, resource_servers::create))
        .routes(routes!(resource_servers::get, resource_servers::update, resource_servers::delete))
        .routes(routes!(client_grants::list, client_grants::create))
        .routes(routes!(client_grants::get, client_grants::update, client_grants::delete))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(users::by_email))
        .routes(routes!(sessions::list_for_user, sessions::delete_for_user))
        .routes(routes!(refresh_tokens::list_for_user, refresh_tokens::delete_for_user))
        .routes(routes!(sessions::get, sessions::delete))
        .routes(routes!(refresh_tokens::get, refresh_tokens::delete))
        .routes(routes!(keys::list))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::get))
        .routes(routes!(keys::revoke))
        .routes(routes!(tenant::get, tenant::update))
        .routes(routes!(logs::list))
        .routes(routes!(logs::get))
        .routes(routes!(registration_tokens::list, registration_tokens::create))
        .routes(routes!(registration_tokens::delete))
        .routes(routes!(connections::list))
        .routes(routes!(connections::get, connections::update))
        .routes(routes!(jobs::create_import))
        .routes(routes!(jobs::create_export))
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::errors))
        .routes(routes!(jobs::download))
        .routes(routes!(openapi::openapi_json))
}

pub fn router(state: AppState) -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state, log_failures))
}

/// Auth0's `fapi` log entry for a refused or failed Management API operation (successful
/// changes are logged by the registry as `sapi`). Token refusals (401) and rate limiting
/// (429) are not operations and are not logged.
async fn log_failures(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().clone();
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |o| o.0.path().to_string());
    let ip =
        req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_canonical().to_string());
    let resp = next.run(req).await;
    let status = resp.status();
    let logged = (status.is_client_error() && !matches!(status.as_u16(), 401 | 429)) || status.is_server_error();
    if logged {
        state.audit.push(tessera_core::store::AuditEvent {
            at: state.now(),
            kind: "management_api_failed".into(),
            client_id: None,
            user_id: None,
            ip,
            detail: serde_json::json!({"method": method.as_str(), "path": path, "status": status.as_u16()}),
        });
    }
    resp
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found("inexistent_route", format!("Not Found: {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("{method} is not supported here"))
}

/// An authenticated caller of the Management API: its verified token's scope and client.
pub struct Caller {
    scope: Scope,
    pub client_id: String,
    dpop_nonce: Option<String>,
    quota: Option<rate_limit::Quota>,
}

impl Caller {
    /// Auth0: the endpoint needs any one of `any_of`, else 403 `insufficient_scope`.
    pub fn require(&self, any_of: &[&str]) -> Result<(), ApiError> {
        if any_of.iter().any(|s| self.scope.contains(s)) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(any_of).with_quota(self.quota))
        }
    }

    /// Whether the token holds one of `any_of` (for fields shown only to some scopes).
    pub fn has_any(&self, any_of: &[&str]) -> bool {
        any_of.iter().any(|s| self.scope.contains(s))
    }

    /// The DPoP nonce and rate-limit headers every answer to this caller carries.
    fn finish(&self, mut resp: Response) -> Response {
        if let Some(q) = &self.quota {
            rate_limit::headers(resp.headers_mut(), q);
        }
        super::dpop::with_nonce(resp, self.dpop_nonce.clone())
    }

    /// A successful response, with the DPoP nonce when one is in use.
    pub fn respond(&self, status: StatusCode, body: Value) -> Response {
        self.finish((status, axum::Json(body)).into_response())
    }

    pub fn ok(&self, body: Value) -> Response {
        self.respond(StatusCode::OK, body)
    }

    /// 202: a change accepted for a set of things (all of a user's sessions or tokens).
    pub fn accepted(&self) -> Response {
        self.finish(StatusCode::ACCEPTED.into_response())
    }

    pub fn no_content(&self) -> Response {
        self.finish(StatusCode::NO_CONTENT.into_response())
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (scheme, token) = match presented_token(&parts.method, &parts.headers, None) {
            Err(e) => return Err(ApiError::from_refusal(e.into(), false)),
            Ok(None) => return Err(ApiError::missing_token()),
            Ok(Some(t)) => t,
        };
        // RFC 9449 §4.2: the proof's `htu` is the request URL without query: the full path
        // (this router is nested, so `parts.uri` has lost the base).
        let path = match parts.extensions.get::<axum::extract::OriginalUri>() {
            Some(o) => o.0.path().to_string(),
            None => format!("{BASE}{}", parts.uri.path()),
        };
        let audience = management_audience(&state.issuer);
        let ok = bearer::authorize(state, &parts.method, &parts.headers, &path, &audience, scheme, &token)
            .await
            .map_err(|r| ApiError::from_refusal(r, scheme == TokenScheme::Dpop))?;
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let quota = match state.management_limits.take(&ok.token.client_id, now_ms) {
            Ok(q) => q,
            Err((q, retry_after)) => return Err(ApiError::too_many_requests(q, retry_after)),
        };
        Ok(Self { scope: ok.token.scope, client_id: ok.token.client_id, dpop_nonce: ok.dpop_nonce, quota })
    }
}

/// A JSON request body: at most [`MAX_BODY`] bytes, `application/json`, and exactly the
/// fields the endpoint defines (Auth0 refuses additional properties).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, _: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::invalid_body("the body must be application/json"));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("Payload validation error: the body is larger than {MAX_BODY} bytes"),
            )
        })?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(ApiError::invalid_body)
    }
}

/// A query string parsed strictly (Auth0 refuses parameters an endpoint does not define).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q).map(ApiQuery).map_err(ApiError::invalid_query)
    }
}

/// Auth0's list parameters: offset pagination (`page` from 0, `per_page` at most 100,
/// `include_totals`), checkpoint pagination (`from`, `take`: the lists Auth0 pages so),
/// and `fields` / `include_fields` to choose which fields each item carries. The filters
/// some lists take are here too; [`ListQuery::only`] refuses those an endpoint does not
/// define.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub page: Option<String>,
    pub per_page: Option<String>,
    pub include_totals: Option<String>,
    pub from: Option<String>,
    pub take: Option<String>,
    pub fields: Option<String>,
    pub include_fields: Option<String>,
    pub audience: Option<String>,
    pub client_id: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub search_engine: Option<String>,
    pub email: Option<String>,
    pub connection: Option<String>,
    pub strategy: Option<String>,
    pub name: Option<String>,
    pub app_type: Option<String>,
    pub is_first_party: Option<String>,
    pub is_global: Option<String>,
    pub identifiers: Option<String>,
}

/// The largest page Auth0 serves.
pub const MAX_PER_PAGE: usize = 100;
/// Auth0's page size when `per_page` (or `take`) is not given.
pub const DEFAULT_PER_PAGE: usize = 50;

pub fn parse_bool(name: &str, v: Option<&str>) -> Result<Option<bool>, ApiError> {
    match v {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid_query(format!("{name} must be true or false, not {other:?}"))),
    }
}

/// A validated [`ListQuery`].
#[derive(Debug, Clone)]
pub struct Paging {
    pub page: usize,
    pub per_page: usize,
    pub include_totals: bool,
    /// Checkpoint pagination: `from` is the opaque position `next` handed out.
    checkpoint: bool,
    from: usize,
    fields: Option<(Vec<String>, bool)>,
}

impl ListQuery {
    /// Refuses the filters an endpoint does not define. `from`/`take` count as a filter
    /// named `checkpoint`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        let given = [
            ("audience", self.audience.is_some()),
            ("client_id", self.client_id.is_some()),
            ("q", self.q.is_some()),
            ("sort", self.sort.is_some()),
            ("search_engine", self.search_engine.is_some()),
            ("email", self.email.is_some()),
            ("connection", self.connection.is_some()),
            ("strategy", self.strategy.is_some()),
            ("name", self.name.is_some()),
            ("app_type", self.app_type.is_some()),
            ("is_first_party", self.is_first_party.is_some()),
            ("is_global", self.is_global.is_some()),
            ("identifiers", self.identifiers.is_some()),
            ("from", self.from.is_some() && !allowed.contains(&"checkpoint")),
            ("take", self.take.is_some() && !allowed.contains(&"checkpoint")),
        ];
        match given.iter().find(|(name, set)| *set && !allowed.contains(name)) {
            Some((name, _)) => Err(ApiError::invalid_query(format!("Additional properties not allowed: {name}"))),
            None => Ok(()),
        }
    }

    pub fn paging(&self) -> Result<Paging, ApiError> {
        let number = |name: &str, v: &Option<String>, default: usize| -> Result<usize, ApiError> {
            match v {
                None => Ok(default),
                Some(s) => {
                    s.parse::<usize>().map_err(|_| ApiError::invalid_query(format!("{name} must be a non-negative integer")))
                }
            }
        };
        let checkpoint = self.from.is_some() || self.take.is_some();
        if checkpoint && (self.page.is_some() || self.per_page.is_some()) {
            return Err(ApiError::invalid_query("use page/per_page or from/take, not both"));
        }
        let page = number("page", &self.page, 0)?;
        let per_page = if checkpoint {
            number("take", &self.take, DEFAULT_PER_PAGE)?
        } else {
            number("per_page", &self.per_page, DEFAULT_PER_PAGE)?
        };
        if per_page > MAX_PER_PAGE {
            let name = if checkpoint { "take" } else { "per_page" };
            return Err(ApiError::invalid_query(format!("{name} must be at most {MAX_PER_PAGE}")));
        }
        let from = match self.from.as_deref().filter(|f| !f.is_empty()) {
            None => 0,
            Some(f) => f.parse::<usize>().map_err(|_| ApiError::invalid_query("from is not a position this list handed out"))?,
        };
        if page.checked_mul(per_page).is_none_or(|start| start > i64::MAX as usize) || from > i64::MAX as usize {
            return Err(ApiError::invalid_query("page is too large"));
        }
        let include_totals = parse_bool("include_totals", self.include_totals.as_deref())?.unwrap_or(false);
        let include = parse_bool("include_fields", self.include_fields.as_deref())?.unwrap_or(true);
        let fields = self
            .fields
            .as_deref()
            .map(|f| (f.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(), include));
        Ok(Paging { page, per_page, include_totals, checkpoint, from, fields })
    }
}

impl Paging {
    /// For the lists Auth0 pages by checkpoint only: always `{<key>: [...], next}`.
    pub fn checkpointed(mut self) -> Self {
        if !self.checkpoint {
            self.checkpoint = true;
            self.from = self.page * self.per_page;
        }
        self
    }

    pub fn offset(&self) -> usize {
        if self.checkpoint {
            self.from
        } else {
            self.page * self.per_page
        }
    }

    /// Keeps (or drops, with `include_fields=false`) the named fields of one item.
    pub fn select(&self, item: Value) -> Value {
        match (&self.fields, item) {
            (Some((names, include)), Value::Object(map)) => {
                Value::Object(map.into_iter().filter(|(k, _)| names.contains(k) == *include).collect::<Map<_, _>>())
            }
            (_, v) => v,
        }
    }

    /// One page of `all`: an array; with `include_totals`, Auth0's
    /// `{start, limit, length, total, <key>: [...]}`; with `from`/`take`, Auth0's checkpoint
    /// page `{<key>: [...], next}` (`next` absent on the last page).
    pub fn page_of(&self, key: &str, all: Vec<Value>) -> Value {
        let total = all.len();
        let items: Vec<Value> = all.into_iter().skip(self.offset()).take(self.per_page).map(|v| self.select(v)).collect();
        self.wrap(key, items, total)
    }

    /// Wraps an already-cut page whose full length is `total`.
    pub fn wrap(&self, key: &str, items: Vec<Value>, total: usize) -> Value {
        let mut out = Map::new();
        if self.checkpoint {
            let end = self.offset() + items.len();
            out.insert(key.into(), Value::Array(items));
            if end < total {
                out.insert("next".into(), end.to_string().into());
            }
            if self.include_totals {
                out.insert("total".into(), total.into());
            }
            return Value::Object(out);
        }
        if !self.include_totals {
            return Value::Array(items);
        }
        out.insert("start".into(), self.offset().into());
        out.insert("limit".into(), self.per_page.into());
        out.insert("length".into(), items.len().into());
        out.insert("total".into(), total.into());
        out.insert(key.into(), Value::Array(items));
        Value::Object(out)
    }

    /// A single item with `fields` applied.
    pub fn one(&self, item: Value) -> Value {
        self.select(item)
    }
}

/// 404 `inexistent_user` unless the user exists (the lists and bulk deletes under
/// `users/{id}/`).
pub async fn user_exists(state: &AppState, user_id: &str) -> Result<(), ApiError> {
    match state.deployment.store.get_user(user_id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("inexistent_user", "The user does not exist.")),
    }
}

/// The checkpoint paging of a list under `users/{id}/` (Auth0 pages these by checkpoint
/// only), after the caller's `scope` and the user's existence are checked.
pub async fn user_page(state: &AppState, caller: &Caller, scope: &str, user_id: &str, q: &ListQuery) -> Result<Paging, ApiError> {
    caller.require(&[scope])?;
    q.only(&["checkpoint"])?;
    let paging = q.paging()?.checkpointed();
    user_exists(state, user_id).await?;
    Ok(paging)
}

/// Serializes a value the registry returned (its types are `Serialize` by construction).
pub fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
