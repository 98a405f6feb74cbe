//! `/api/v2/clients` (Auth0 "Clients"): list, create, get, update, delete, rotate-secret;
//! `client_authentication_methods` enables credentials (see [`super::credentials`]) for
//! `private_key_jwt`.
//! Bodies use Auth0's field names; a secret is shown at creation and rotation only (it is
//! stored as a keyed hash, DESIGN decision 2).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use tessera_core::model::{
    AppType, Client, ClientPatch, NewCredential, RotationType, SigningAlg, TokenEndpointAuthMethod, TokenExchangePolicy,
};

use super::error::ApiError;
use super::{parse_bool, ApiJson, ApiQuery, Caller, ListQuery};
use crate::app::AppState;

const NOT_FOUND: &str = "inexistent_client";

/// Auth0's `jwt_configuration`; Tessera honours `alg` (the ID token's algorithm).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtConfiguration {
    alg: Option<SigningAlg>,
    lifetime_in_seconds: Option<i64>,
    secret_encoded: Option<bool>,
}

/// Auth0's `refresh_token` object.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshToken {
    rotation_type: Option<RotationType>,
    expiration_type: Option<String>,
    leeway: Option<i64>,
    token_lifetime: Option<i64>,
    idle_token_lifetime: Option<i64>,
    infinite_token_lifetime: Option<bool>,
    infinite_idle_token_lifetime: Option<bool>,
}

/// A client as Auth0's create and update endpoints take it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    name: Option<String>,
    app_type: Option<AppType>,
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    grant_types: Option<Vec<String>>,
    callbacks: Option<Vec<String>>,
    allowed_logout_urls: Option<Vec<String>>,
    /// Auth0's Allowed Web Origins (web_message targets).
    web_origins: Option<Vec<String>>,
    /// Auth0's Allowed Origins (cross-origin authentication).
    allowed_origins: Option<Vec<String>>,
    is_first_party: Option<bool>,
    oidc_conformant: Option<bool>,
    jwt_configuration: Option<JwtConfiguration>,
    refresh_token: Option<RefreshToken>,
    /// Auth0's DPoP switch for an application.
    require_proof_of_possession: Option<bool>,
    /// Tessera: DPoP server nonces for this client (`null` follows the deployment).
    #[serde(default, deserialize_with = "double_option")]
    dpop_nonce: Option<Option<bool>>,
    /// Tessera: the client's public JWK Set for `private_key_jwt`.
    jwks: Option<Value>,
    /// RFC 9126 §5 (Auth0's name): /authorize only through /oauth/par.
    require_pushed_authorization_requests: Option<bool>,
    /// Tessera: the RFC 8693 exchange policy (`null` removes it).
    #[serde(default, deserialize_with = "double_option_policy")]
    token_exchange_policy: Option<Option<TokenExchangePolicy>>,
    /// Auth0's `client_authentication_methods` (`null` clears it): the credentials enabled
    /// for `private_key_jwt`, given in full at creation and by id on update.
    #[serde(default, deserialize_with = "nullable")]
    client_authentication_methods: Option<Option<AuthenticationMethods>>,
}

/// Auth0's `client_authentication_methods`; Tessera has its `private_key_jwt` member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthenticationMethods {
    private_key_jwt: Option<PrivateKeyJwtMethod>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateKeyJwtMethod {
    credentials: Vec<Value>,
}

/// On update, Auth0 names credentials already created on the client by id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialRef {
    id: String,
}

fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The `private_key_jwt` credential entries of a body: `None` when the body does not touch
/// them, an empty list when it clears them. Auth0: `client_authentication_methods` and
/// `token_endpoint_auth_method` are mutually exclusive.
fn method_credentials(body: &mut ClientBody) -> Result<Option<Vec<Value>>, ApiError> {
    match body.client_authentication_methods.take() {
        None => Ok(None),
        Some(None) => Ok(Some(vec![])),
        Some(Some(_)) if body.token_endpoint_auth_method.is_some() => {
            Err(ApiError::invalid_body("client_authentication_methods and token_endpoint_auth_method cannot be used together"))
        }
        Some(Some(m)) => Ok(Some(m.private_key_jwt.map(|p| p.credentials).unwrap_or_default())),
    }
}

/// Auth0: `client_authentication_methods` is shown only with `read:client_keys` or
/// `read:client_credentials`.
fn visible(caller: &Caller, mut v: Value) -> Value {
    if !caller.has_any(super::credentials::READ) {
        if let Some(obj) = v.as_object_mut() {
            obj.remove("client_authentication_methods");
        }
    }
    v
}

fn double_option_policy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<TokenExchangePolicy>>, D::Error> {
    Option::<TokenExchangePolicy>::deserialize(d).map(Some)
}

/// Tells a field that is absent (`None`) from one that is `null` (`Some(None)`).
fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<bool>>, D::Error> {
    Option::<bool>::deserialize(d).map(Some)
}

impl ClientBody {
    fn into_patch(self) -> Result<ClientPatch, ApiError> {
        // Auth0 settings Tessera has no counterpart for are refused rather than ignored, so a
        // caller never believes a setting took effect when it did not.
        if self.oidc_conformant == Some(false) {
            return Err(ApiError::invalid_body("oidc_conformant: Tessera applications are always OIDC conformant"));
        }
        let jwt = self.jwt_configuration.unwrap_or_default();
        if jwt.lifetime_in_seconds.is_some_and(|l| l != tessera_core::model::ID_TOKEN_LIFETIME) {
            return Err(ApiError::invalid_body(
                "jwt_configuration.lifetime_in_seconds: the ID token lifetime is tenant-wide (36000)",
            ));
        }
        if jwt.secret_encoded == Some(true) {
            return Err(ApiError::invalid_body("jwt_configuration.secret_encoded: secrets are not base64-encoded"));
        }
        let rt = self.refresh_token.unwrap_or_default();
        if rt.expiration_type.as_deref().is_some_and(|t| t != "expiring") {
            return Err(ApiError::invalid_body("refresh_token.expiration_type: only \"expiring\" is supported"));
        }
        if rt.infinite_token_lifetime == Some(true) || rt.infinite_idle_token_lifetime == Some(true) {
            return Err(ApiError::invalid_body("refresh_token: refresh tokens always have a finite lifetime"));
        }
        Ok(ClientPatch {
            name: self.name,
            app_type: self.app_type,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            grant_types: self.grant_types,
            callbacks: self.callbacks,
            allowed_logout_urls: self.allowed_logout_urls,
            web_origins: self.web_origins,
            allowed_origins: self.allowed_origins,
            is_first_party: self.is_first_party,
            jwks: self.jwks,
            private_key_jwt_credentials: None,
            rotation_type: rt.rotation_type,
            leeway: rt.leeway,
            token_lifetime: rt.token_lifetime,
            idle_token_lifetime: rt.idle_token_lifetime,
            id_token_signed_response_alg: jwt.alg,
            require_dpop: self.require_proof_of_possession,
            dpop_nonce: self.dpop_nonce,
            token_exchange_policy: self.token_exchange_policy,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
        })
    }
}

fn with_secret(c: &Client, secret: Option<&str>) -> Value {
    let mut v = c.auth0_json();
    if let (Some(s), Some(obj)) = (secret, v.as_object_mut()) {
        obj.insert("client_secret".into(), s.into());
    }
    v
}

pub async fn list(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    caller.require(&["read:clients"])?;
    q.only(&["app_type", "is_first_party", "is_global"])?;
    let paging = q.paging()?;
    let first_party = parse_bool("is_first_party", q.is_first_party.as_deref())?;
    // Auth0's global client is the tenant's own; Tessera has none.
    let global = parse_bool("is_global", q.is_global.as_deref())?.unwrap_or(false);
    let app_types: Option<Vec<&str>> = q.app_type.as_deref().map(|t| t.split(',').map(str::trim).collect());
    let clients = state.deployment.registry.list_clients().await?;
    let items = clients
        .iter()
        .filter(|_| !global)
        .filter(|c| first_party.is_none_or(|f| c.is_first_party == f))
        .filter(|c| app_types.as_ref().is_none_or(|t| t.contains(&c.app_type.as_str())))
        .map(|c| visible(&caller, c.auth0_json()))
        .collect();
    Ok(caller.ok(paging.page_of("clients", items)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(&["read:clients"])?;
    q.only(&[])?;
    let paging = q.paging()?;
    let c = state.deployment.registry.get_client(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(paging.one(visible(&caller, c.auth0_json()))))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(mut body): ApiJson<ClientBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:clients"])?;
    if body.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid_body("Missing required property: name"));
    }
    let credentials = match method_credentials(&mut body)? {
        None => vec![],
        Some(list) => {
            // Auth0: configuring client_authentication_methods takes create:client_credentials.
            caller.require(&["create:client_credentials"])?;
            list.into_iter()
                .map(|c| serde_json::from_value::<NewCredential>(c).map_err(ApiError::invalid_body))
                .collect::<Result<_, _>>()?
        }
    };
    let created = state.deployment.registry.create_client_with_credentials(body.into_patch()?, credentials).await?;
    Ok(caller.respond(StatusCode::CREATED, with_secret(&created.client, created.client_secret.as_deref())))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(mut body): ApiJson<ClientBody>,
) -> Result<Response, ApiError> {
    caller.require(&["update:clients"])?;
    let credentials = method_credentials(&mut body)?;
    let mut patch = body.into_patch()?;
    if let Some(list) = credentials {
        // Auth0: configuring client_authentication_methods takes update:client_credentials.
        caller.require(&["update:client_credentials"])?;
        let ids: Vec<String> = list
            .into_iter()
            .map(|c| serde_json::from_value::<CredentialRef>(c).map(|r| r.id).map_err(ApiError::invalid_body))
            .collect::<Result<_, _>>()?;
        if !ids.is_empty() {
            patch.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
        }
        patch.private_key_jwt_credentials = Some(ids);
    }
    let updated = state.deployment.registry.update_client(&id, patch).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(with_secret(&updated.client, updated.client_secret.as_deref())))
}

pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["delete:clients"])?;
    state.deployment.registry.delete_client(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.no_content())
}

/// Auth0: `POST /clients/{id}/rotate-secret` answers the client with its new secret; the
/// previous secret stops working at once.
pub async fn rotate_secret(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&["update:client_keys", "update:clients"])?;
    let registry = &state.deployment.registry;
    let client = registry.get_client(&id).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    if !client.token_endpoint_auth_method.uses_secret() {
        return Err(ApiError::invalid_body(format!(
            "the client authenticates with {}, not a client secret",
            client.token_endpoint_auth_method.as_str()
        )));
    }
    let secret = registry.rotate_client_secret(&id, 0).await.map_err(|e| ApiError::from_core(e, NOT_FOUND))?;
    Ok(caller.ok(with_secret(&client, Some(&secret))))
}
