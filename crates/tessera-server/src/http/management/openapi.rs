//! The Management API's OpenAPI 3.1 document (`GET /api/v2/openapi.json`), generated from
//! the code: [`super::router`] is built with `utoipa-axum`'s `routes!`, which registers each
//! handler at the path and method of its `#[utoipa::path]` annotation and adds that
//! operation to the document, so a route cannot be served without being described. Request
//! bodies are the types the handlers deserialize (`additionalProperties: false` where they
//! refuse unknown members); responses are the schemas below, in the shapes the handlers
//! build. Like Auth0's, the document is public: reading it takes no token.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};
use tessera_core::model::{
    ApiScope, AppType, CredentialAlg, GrantType, RotationType, SigningAlg, TokenEndpointAuthMethod, TokenExchangePolicy,
};
use utoipa::openapi::{RefOr, Response as OaResponse, Schema};
use utoipa::{IntoParams, OpenApi, PartialSchema, ToSchema};

/// The document's frame: what no handler annotation says.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera Management API v2",
        description = "Auth0's Management API v2, as Tessera serves it: Auth0's paths, JSON field names, \
            status codes, pagination and error body. Callers present an access token for the API \
            `{issuer}api/v2/` obtained with `client_credentials` (`tessera admin bootstrap` creates such a \
            client), as `Authorization: Bearer <token>`, or as `Authorization: DPoP <token>` with a `DPoP` \
            proof (RFC 9449) when the token is DPoP-bound. Each operation names the scopes any one of \
            which it needs (403 `insufficient_scope` otherwise). Every answer to an authenticated caller \
            carries `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset`.",
        version = "2"
    ),
    servers((url = "/api/v2", description = "relative to the issuer")),
    modifiers(&Frame),
    tags(
        (name = "clients", description = "Applications"),
        (name = "client-credentials", description = "Public keys for private_key_jwt"),
        (name = "resource-servers", description = "APIs"),
        (name = "client-grants", description = "Which APIs a client may call with client_credentials"),
        (name = "users"), (name = "sessions"), (name = "refresh-tokens"),
        (name = "keys", description = "Signing keys"),
        (name = "tenants"), (name = "logs"), (name = "connections"), (name = "jobs"),
        (name = "registration-tokens", description = "Tessera: initial access tokens for dynamic client registration"),
        (name = "openapi")
    )
)]
pub struct ApiDoc;

/// The security scheme and the shared error responses.
struct Frame;

/// The error responses operations refer to, by status code.
const ERRORS: [(u16, &str, &str); 8] = [
    (400, "BadRequest", "The query string or body does not match the operation's schema (`invalid_query_string`, `invalid_body`), or the request is otherwise malformed."),
    (401, "Unauthorized", "No token, or a token that is expired, revoked, for another audience, signed by an unknown key, or whose DPoP proof is missing or wrong (`WWW-Authenticate` says which)."),
    (403, "Forbidden", "The token holds none of the scopes the operation names (`insufficient_scope`), or the operation is refused for this resource."),
    (404, "NotFound", "No such resource (`inexistent_<resource>`)."),
    (405, "MethodNotAllowed", "The path does not support the method."),
    (409, "Conflict", "The resource already exists (a taken email, API identifier, client grant or key)."),
    (413, "PayloadTooLarge", "The body is larger than the operation accepts (`payload_too_large`)."),
    (429, "TooManyRequests", "The calling client's request rate is over the limit (`too_many_requests`); `Retry-After` says when to try again."),
];

impl utoipa::Modify for Frame {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A Management API access token (audience `{issuer}api/v2/`). A DPoP-bound token is sent as \
                         `Authorization: DPoP <token>` with its `DPoP` proof header (RFC 9449) instead.",
                    ))
                    .build(),
            ),
        );
        let (name, schema) = ("Error", ErrorBody::schema());
        components.schemas.insert(name.into(), schema);
        for (status, name, description) in ERRORS {
            let response = utoipa::openapi::ResponseBuilder::new()
                .description(description)
                .content("application/json", utoipa::openapi::ContentBuilder::new().schema(Some(error_ref())).build());
            let response = if status == 429 {
                response.header(
                    "Retry-After",
                    utoipa::openapi::HeaderBuilder::new().schema(<i64 as utoipa::PartialSchema>::schema()).build(),
                )
            } else {
                response
            };
            components.responses.insert(name.into(), RefOr::T(response.build()));
        }
    }
}

fn error_ref() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Error"))
}

/// The error responses of a kind of operation, as `responses(...)` in an annotation names
/// them: every operation with a caller can answer 400 (a malformed `Authorization`), 401,
/// 403 and 429; the others add what their resource and body can cause.
macro_rules! error_set {
    ($($(#[$doc:meta])* $name:ident: [$($status:literal),*];)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
                error_responses(&[$($status),*])
            }
        }
    )*};
}

error_set! {
    /// A read of a collection or of the tenant.
    Errors: [400, 401, 403, 429];
    /// An operation on one resource named in the path.
    ErrorsOne: [400, 401, 403, 404, 429];
    /// A create: a body, and a resource that may exist already.
    ErrorsCreate: [400, 401, 403, 404, 409, 413, 429];
    /// An update of one resource with a body.
    ErrorsUpdate: [400, 401, 403, 404, 409, 413, 429];
    /// An operation with a body on the tenant (no resource to miss, nothing to collide with).
    ErrorsBody: [400, 401, 403, 413, 429];
    /// The export download, which takes no token.
    NotFoundOnly: [404];
}

fn error_responses(statuses: &[u16]) -> BTreeMap<String, RefOr<OaResponse>> {
    statuses
        .iter()
        .filter_map(|s| ERRORS.iter().find(|(status, ..)| status == s))
        .map(|(status, name, _)| (status.to_string(), RefOr::Ref(utoipa::openapi::Ref::from_response_name(*name))))
        .collect()
}

/// The document, built once from [`super::routes`] with the `fields` relaxation applied
/// (see [`relax_fields`]).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(super::routes().into_openapi()).unwrap_or(Value::Null);
        relax_fields(&mut doc);
        doc
    })
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "openapi",
    operation_id = "get_openapi",
    security(()),
    responses((status = 200, description = "This document.", body = serde_json::Value, content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    let mut resp = axum::Json(document()).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    resp
}

/// Auth0's `fields`/`include_fields` choose which members each item carries, so where an
/// operation takes them its items' members are all optional: the 200 schema is inlined with
/// `required` dropped from the item objects (and the page objects around them).
fn relax_fields(doc: &mut Value) {
    let components = doc.pointer("/components/schemas").cloned().unwrap_or(Value::Null);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else { continue };
        for op in ops.values_mut() {
            let takes_fields = op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["name"] == "fields"));
            if !takes_fields {
                continue;
            }
            if let Some(schema) = op.pointer_mut("/responses/200/content/application~1json/schema") {
                *schema = relaxed(schema, &components, 0);
            }
        }
    }
}

fn relaxed(schema: &Value, components: &Value, depth: usize) -> Value {
    if depth > 12 {
        return schema.clone();
    }
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        return relaxed(&components[name], components, depth + 1);
    }
    let mut out = schema.clone();
    let Some(obj) = out.as_object_mut() else { return out };
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = obj.get_mut(key) {
            for alt in alts.iter_mut() {
                *alt = relaxed(alt, components, depth + 1);
            }
        }
    }
    if let Some(items) = obj.get_mut("items") {
        *items = relaxed(items, components, depth + 1);
    }
    if obj.contains_key("properties") {
        obj.remove("required");
        if let Some(Value::Object(props)) = obj.get_mut("properties") {
            for p in props.values_mut() {
                if p.get("items").is_some() {
                    *p = relaxed(p, components, depth + 1);
                }
            }
        }
    }
    out
}

// ---- Parameters

/// Auth0's offset pagination.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OffsetPaging {
    /// Page index, from 0.
    #[param(minimum = 0)]
    page: Option<u64>,
    /// Items per page (default 50).
    #[param(minimum = 0, maximum = 100)]
    per_page: Option<u64>,
}

/// Auth0's `include_totals`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Totals {
    /// Answer an object with the total (`{start, limit, length, total, <items>}`, or the
    /// checkpoint object with `total`) instead of a bare array.
    include_totals: Option<bool>,
}

/// `GET /logs` checkpoints: the entries after `from`, oldest first, as an array.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LogCheckpoint {
    /// A `log_id`: the entries after it (empty: from the first).
    from: Option<String>,
    /// Entries to answer (default 50); not with `page`/`per_page`.
    #[param(minimum = 0, maximum = 100)]
    take: Option<u64>,
}

/// The signed part of an export's download link (`location`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DownloadLink {
    /// Unix time the link expires at.
    expires: i64,
    sig: String,
}

/// Auth0's checkpoint pagination: `from` is the `next` a previous page handed out.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CheckpointPaging {
    /// Where to continue (a previous page's `next`); not with `page`/`per_page`.
    from: Option<String>,
    /// Items per page (default 50); not with `page`/`per_page`.
    #[param(minimum = 0, maximum = 100)]
    take: Option<u64>,
}

/// Auth0's field selection.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Fields {
    /// Comma-separated member names to include (or, with `include_fields=false`, exclude).
    fields: Option<String>,
    /// Whether `fields` names the members to include (default) or to exclude.
    include_fields: Option<bool>,
}

/// `GET /clients` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ClientFilters {
    /// Comma-separated application types.
    app_type: Option<String>,
    is_first_party: Option<bool>,
    /// Auth0's tenant-global client; Tessera has none, so `true` lists nothing.
    is_global: Option<bool>,
}

/// `GET /client-grants` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct GrantFilters {
    /// The API identifier.
    audience: Option<String>,
    client_id: Option<String>,
}

/// `GET /resource-servers` filter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ApiFilters {
    /// An API identifier: only that API.
    identifiers: Option<String>,
}

/// `GET /users` search.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UserSearch {
    /// Auth0's Lucene query, the subset Tessera answers: `email:"…"`, `user_id:"…"`,
    /// `email_verified:true|false`, joined by ` AND `.
    q: Option<String>,
    #[param(inline)]
    search_engine: Option<SearchEngine>,
    #[param(inline)]
    sort: Option<UserSort>,
    /// Only users of this connection (Tessera has `Username-Password-Authentication`).
    connection: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum SearchEngine {
    #[serde(rename = "v3")]
    V3,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum UserSort {
    #[serde(rename = "created_at:1")]
    Oldest,
    #[serde(rename = "created_at:-1")]
    Newest,
}

/// `GET /users-by-email`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ByEmail {
    /// The email address (compared case-insensitively).
    email: String,
}

/// `GET /connections` filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ConnectionFilters {
    strategy: Option<String>,
    name: Option<String>,
}

/// `GET /logs` parameters beyond paging and fields.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LogSearch {
    /// Auth0's Lucene query, the subset Tessera answers: `type:…`, `user_id:…`,
    /// `client_id:…`, joined by spaces or `AND`.
    q: Option<String>,
    /// The same as `q` (the v7 Node SDK's name).
    search: Option<String>,
    #[param(inline)]
    sort: Option<LogSort>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum LogSort {
    #[serde(rename = "date:1")]
    Oldest,
    #[serde(rename = "date:-1")]
    Newest,
}

// ---- Response schemas, in the shapes the handlers build.

/// Auth0's error body.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ErrorBody {
    #[serde(rename = "statusCode")]
    status_code: u16,
    /// The status's reason phrase.
    error: String,
    message: String,
    #[serde(rename = "errorCode")]
    error_code: String,
}

/// A page of a list: a bare array; with `include_totals`, Auth0's totals object; with
/// `from`/`take` (where the list takes them), Auth0's checkpoint object.
#[derive(Clone, Copy)]
enum Shapes {
    Offset,
    OffsetOrCheckpoint,
    Checkpoint,
}

fn page_schema(key: &str, item: &str, shapes: Shapes) -> RefOr<Schema> {
    let item = json!({"$ref": format!("#/components/schemas/{item}")});
    let array = json!({"type": "array", "items": item});
    let totals = json!({
        "type": "object",
        "description": "With include_totals=true.",
        "required": ["start", "limit", "length", "total", key],
        "additionalProperties": false,
        "properties": {
            "start": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 0},
            "length": {"type": "integer", "minimum": 0},
            "total": {"type": "integer", "minimum": 0},
            key: array,
        },
    });
    let checkpoint = json!({
        "type": "object",
        "description": "With from/take; `next` is absent on the last page, `total` present with include_totals=true.",
        "required": [key],
        "additionalProperties": false,
        "properties": {key: array, "next": {"type": "string"}, "total": {"type": "integer", "minimum": 0}},
    });
    let schema = match shapes {
        Shapes::Offset => json!({"anyOf": [array, totals]}),
        Shapes::OffsetOrCheckpoint => json!({"anyOf": [array, totals, checkpoint]}),
        Shapes::Checkpoint => checkpoint,
    };
    serde_json::from_value(schema).unwrap_or_else(|_| RefOr::T(Schema::default()))
}

macro_rules! page {
    ($($name:ident = $key:literal of $item:ty, $shapes:ident;)*) => {$(
        pub struct $name;
        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                page_schema($key, &<$item as ToSchema>::name(), Shapes::$shapes)
            }
        }
        impl ToSchema for $name {
            fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
                out.push((<$item as ToSchema>::name().into(), <$item as utoipa::PartialSchema>::schema()));
                <$item as ToSchema>::schemas(out);
            }
        }
    )*};
}

page! {
    ClientsPage = "clients" of Client, Offset;
    ResourceServersPage = "resource_servers" of ResourceServer, Offset;
    ClientGrantsPage = "client_grants" of ClientGrant, OffsetOrCheckpoint;
    UsersPage = "users" of User, Offset;
    SessionsPage = "sessions" of Session, Checkpoint;
    RefreshTokensPage = "tokens" of RefreshToken, Checkpoint;
    ConnectionsPage = "connections" of Connection, OffsetOrCheckpoint;
}

/// `GET /logs`: an array (also with `from`/`take`), or the totals object.
pub struct LogsPage;
impl utoipa::PartialSchema for LogsPage {
    fn schema() -> RefOr<Schema> {
        page_schema("logs", "Log", Shapes::Offset)
    }
}
impl ToSchema for LogsPage {
    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        out.push(("Log".into(), <Log as utoipa::PartialSchema>::schema()));
        <Log as ToSchema>::schemas(out);
    }
}

/// Auth0's application object (Tessera's own members: `require_dpop`, `dpop_nonce`, `jwks`,
/// `jwks_uri`, `token_exchange_policy`, `id_token_signed_response_alg`, timestamps).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Client {
    client_id: String,
    /// Only in the answers to create, update and rotate-secret, for a client that has one.
    #[serde(default)]
    client_secret: String,
    name: String,
    app_type: AppType,
    token_endpoint_auth_method: TokenEndpointAuthMethod,
    grant_types: Vec<GrantType>,
    callbacks: Vec<String>,
    allowed_logout_urls: Vec<String>,
    web_origins: Vec<String>,
    allowed_origins: Vec<String>,
    is_first_party: bool,
    /// The client's public JWK Set for `private_key_jwt`, when it has one.
    #[serde(default)]
    #[schema(value_type = Object)]
    jwks: Value,
    #[serde(default)]
    jwks_uri: String,
    refresh_token: ClientRefreshToken,
    id_token_signed_response_alg: SigningAlg,
    require_dpop: bool,
    /// Present when set; absent: the deployment's default.
    #[serde(default)]
    dpop_nonce: bool,
    #[serde(default)]
    token_exchange_policy: Option<TokenExchangePolicy>,
    require_pushed_authorization_requests: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    jwt_configuration: JwtConfiguration,
    /// Auth0's DPoP switch (the same as `require_dpop`).
    require_proof_of_possession: bool,
    oidc_conformant: bool,
    /// Shown with `read:client_keys` or `read:client_credentials` only.
    #[serde(default)]
    client_authentication_methods: Option<AuthenticationMethods>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ClientRefreshToken {
    rotation_type: RotationType,
    /// Seconds a retry of the previous token gets the same successor.
    leeway: i64,
    token_lifetime: i64,
    idle_token_lifetime: i64,
    #[schema(inline)]
    expiration_type: Expiring,
    infinite_token_lifetime: bool,
    infinite_idle_token_lifetime: bool,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum Expiring {
    #[serde(rename = "expiring")]
    Expiring,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct JwtConfiguration {
    alg: SigningAlg,
    lifetime_in_seconds: i64,
    secret_encoded: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AuthenticationMethods {
    private_key_jwt: PrivateKeyJwtCredentials,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PrivateKeyJwtCredentials {
    credentials: Vec<CredentialId>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CredentialId {
    id: String,
}

/// Auth0's client credential object.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ClientCredential {
    id: String,
    name: String,
    kid: String,
    #[schema(value_type = CredentialAlg)]
    alg: String,
    #[schema(inline)]
    credential_type: PublicKey,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// Absent: the credential never expires.
    #[serde(default)]
    #[schema(format = DateTime)]
    expires_at: String,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum PublicKey {
    #[serde(rename = "public_key")]
    PublicKey,
}

/// Auth0's resource server object.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ResourceServer {
    id: String,
    identifier: String,
    name: String,
    scopes: Vec<ApiScope>,
    signing_alg: SigningAlg,
    token_lifetime: i64,
    token_lifetime_for_web: i64,
    allow_offline_access: bool,
    skip_consent_for_verifiable_first_party_clients: bool,
    /// `null` unless tokens for the API must be DPoP-bound.
    #[schema(required = true)]
    proof_of_possession: Option<ProofOfPossession>,
    /// Whether this is the Management API itself (which cannot be changed or deleted).
    is_system: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ProofOfPossession {
    #[schema(inline)]
    mechanism: Dpop,
    required: bool,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum Dpop {
    #[serde(rename = "dpop")]
    Dpop,
}

/// Auth0's client grant object.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ClientGrant {
    id: String,
    client_id: String,
    /// The API's identifier.
    audience: String,
    scope: Vec<String>,
}

/// Auth0's user object (of the one database connection).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct User {
    user_id: String,
    #[serde(default)]
    email: String,
    email_verified: bool,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    picture: String,
    blocked: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(value_type = Object)]
    user_metadata: Value,
    #[schema(value_type = Object)]
    app_metadata: Value,
    identities: Vec<Identity>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Identity {
    connection: String,
    provider: String,
    user_id: String,
    #[serde(rename = "isSocial")]
    is_social: bool,
}

/// Auth0's session object.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Session {
    id: String,
    user_id: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime)]
    authenticated_at: String,
    #[schema(format = DateTime)]
    last_interacted_at: String,
    #[schema(format = DateTime)]
    idle_expires_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    authentication: SessionAuthentication,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SessionAuthentication {
    methods: Vec<AuthenticationMethod>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AuthenticationMethod {
    name: String,
    #[schema(format = DateTime)]
    timestamp: String,
}

/// Auth0's refresh token object (Tessera's id is the token family's).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RefreshToken {
    id: String,
    user_id: String,
    client_id: String,
    #[schema(required = true)]
    session_id: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    rotating: bool,
    resource_servers: Vec<RefreshTokenResource>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RefreshTokenResource {
    audience: String,
    /// Space-separated.
    scopes: String,
}

/// Auth0's signing key object. Tessera's keys have no certificate: `cert` and `pkcs7` are
/// empty and the public key is in `jwk`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SigningKey {
    kid: String,
    cert: String,
    pkcs7: String,
    thumbprint: String,
    fingerprint: String,
    alg: SigningAlg,
    current: bool,
    next: bool,
    previous: bool,
    revoked: bool,
    #[schema(required = true, format = DateTime)]
    current_since: Option<String>,
    #[schema(required = true, format = DateTime)]
    current_until: Option<String>,
    #[schema(required = true, format = DateTime)]
    revoked_at: Option<String>,
    #[schema(value_type = Object)]
    jwk: Value,
}

/// `POST /keys/signing/rotate`: the new current key (the RS256 one when several algorithms
/// are in use) and every new current key.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RotatedKey {
    #[schema(required = true)]
    kid: Option<String>,
    cert: String,
    kids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RevokedKey {
    kid: String,
    cert: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TenantSettings {
    /// Empty when there is none.
    default_audience: String,
}

/// Auth0's log event.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Log {
    log_id: String,
    #[schema(format = DateTime)]
    date: String,
    /// Auth0's event type code (`s`, `f`, `seccft`, `sapi`, …).
    #[serde(rename = "type")]
    kind: String,
    description: String,
    #[schema(required = true)]
    client_id: Option<String>,
    #[schema(required = true)]
    user_id: Option<String>,
    #[schema(required = true)]
    ip: Option<String>,
    #[schema(required = true)]
    user_agent: Option<String>,
    details: LogDetails,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LogDetails {
    /// Tessera's event name.
    kind: String,
    #[schema(value_type = Object)]
    data: Value,
}

/// Tessera's initial access token for `POST /oidc/register`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RegistrationToken {
    id: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(required = true, format = DateTime)]
    expires_at: Option<String>,
    #[schema(required = true)]
    remaining_uses: Option<i64>,
    /// The token itself: in the creation answer only.
    #[serde(default)]
    token: String,
}

/// Auth0's connection object: Tessera's one database connection.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Connection {
    id: String,
    name: String,
    strategy: String,
    enabled_clients: Vec<String>,
    realms: Vec<String>,
    is_domain_connection: bool,
    options: ConnectionOptions,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ConnectionOptions {
    brute_force_protection: bool,
    disable_signup: bool,
}

/// Auth0's job object: what the request asked for, and, once done, an import's `summary`
/// and an export's `location`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Job {
    id: String,
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: JobType,
    #[schema(inline)]
    status: JobState,
    #[schema(format = DateTime)]
    created_at: String,
    connection_id: String,
    connection: String,
    #[serde(default)]
    upsert: bool,
    #[serde(default)]
    external_id: String,
    #[serde(default)]
    send_completion_email: bool,
    #[serde(default)]
    format: String,
    #[serde(default)]
    fields: Vec<super::jobs::ExportField>,
    #[serde(default)]
    limit: i64,
    #[serde(default)]
    summary: JobSummary,
    /// Why the job failed as a whole.
    #[serde(default)]
    status_details: String,
    /// A completed export's download link.
    #[serde(default)]
    location: String,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum JobType {
    #[serde(rename = "users_import")]
    UsersImport,
    #[serde(rename = "users_export")]
    UsersExport,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Processing,
    Completed,
    Failed,
}

#[derive(Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct JobSummary {
    failed: i64,
    updated: i64,
    inserted: i64,
    total: i64,
}

/// A user an import could not take, as given (without its hash), and why.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct JobError {
    #[schema(value_type = Object)]
    user: Value,
    errors: Vec<JobFieldError>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct JobFieldError {
    code: String,
    message: String,
    path: String,
}

/// `POST /jobs/users-imports`'s multipart form.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UsersImportForm {
    /// The users file: a JSON array of users in Auth0's bulk import format.
    #[schema(format = Binary, content_media_type = "application/json")]
    users: String,
    /// The connection's id (`con_tessera_database`).
    connection_id: String,
    /// Update users that exist.
    #[schema(inline)]
    upsert: Option<TrueFalse>,
    /// At most 128 characters.
    external_id: Option<String>,
    #[schema(inline)]
    send_completion_email: Option<TrueFalse>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum TrueFalse {
    #[serde(rename = "true")]
    True,
    #[serde(rename = "false")]
    False,
}
