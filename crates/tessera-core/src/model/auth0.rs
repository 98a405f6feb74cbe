//! The Management API's Auth0-shaped request bodies for applications and APIs (Auth0
//! "Clients" and "Resource Servers"), and how they become the registry's patches. Auth0
//! settings Tessera has no counterpart for are refused with a message, never ignored.
//! Here rather than in the server's `http/management/` so that the fuzz target
//! `management_bodies` drives exactly what the endpoints run.

use serde::Deserialize;
use serde_json::Value;

use super::{
    ApiScope, AppType, ClientPatch, ResourceServerPatch, RotationType, SigningAlg, TokenEndpointAuthMethod, TokenExchangePolicy,
};
use crate::error::Error;

/// Auth0's `jwt_configuration`; Tessera honours `alg` (the ID token's algorithm).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = JwtConfigurationBody)]
struct JwtConfiguration {
    alg: Option<SigningAlg>,
    lifetime_in_seconds: Option<i64>,
    secret_encoded: Option<bool>,
}

/// Auth0's `refresh_token` object.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RefreshTokenBody)]
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
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    pub name: Option<String>,
    app_type: Option<AppType>,
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    #[schema(value_type = Option<Vec<super::GrantType>>)]
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
    #[schema(value_type = Option<bool>)]
    dpop_nonce: Option<Option<bool>>,
    /// Tessera: the client's public JWK Set for `private_key_jwt`.
    #[schema(value_type = Option<Object>)]
    jwks: Option<Value>,
    /// Tessera (RFC 7591 `jwks_uri`; Auth0 has no such field): the https URL of the
    /// client's JWK Set for `private_key_jwt`, instead of `jwks`.
    jwks_uri: Option<String>,
    /// RFC 9126 §5 (Auth0's name): /authorize only through /oauth/par.
    require_pushed_authorization_requests: Option<bool>,
    /// Tessera: the RFC 8693 exchange policy (`null` removes it).
    #[serde(default, deserialize_with = "double_option_policy")]
    #[schema(value_type = Option<TokenExchangePolicy>)]
    token_exchange_policy: Option<Option<TokenExchangePolicy>>,
    /// Auth0's `client_authentication_methods` (`null` clears it): the credentials enabled
    /// for `private_key_jwt`, given in full at creation and by id on update.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<AuthenticationMethods>)]
    client_authentication_methods: Option<Option<AuthenticationMethods>>,
}

/// Auth0's `client_authentication_methods`; Tessera has its `private_key_jwt` member.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuthenticationMethodsBody)]
struct AuthenticationMethods {
    private_key_jwt: Option<PrivateKeyJwtMethod>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PrivateKeyJwtMethod {
    /// At creation each is a new credential (as `POST /clients/{id}/credentials` takes
    /// it); on update each names an existing one by `id`.
    #[schema(value_type = Vec<Object>)]
    credentials: Vec<Value>,
}

/// On update, Auth0 names credentials already created on the client by id.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialRef {
    pub id: String,
}

fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn double_option_policy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<TokenExchangePolicy>>, D::Error> {
    Option::<TokenExchangePolicy>::deserialize(d).map(Some)
}

/// Tells a field that is absent (`None`) from one that is `null` (`Some(None)`).
fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<bool>>, D::Error> {
    Option::<bool>::deserialize(d).map(Some)
}

impl ClientBody {
    /// The `private_key_jwt` credential entries of the body, taken out of it: `None` when
    /// the body does not touch them, an empty list when it clears them. Auth0:
    /// `client_authentication_methods` and `token_endpoint_auth_method` are mutually
    /// exclusive.
    pub fn take_method_credentials(&mut self) -> Result<Option<Vec<Value>>, Error> {
        match self.client_authentication_methods.take() {
            None => Ok(None),
            Some(None) => Ok(Some(vec![])),
            Some(Some(_)) if self.token_endpoint_auth_method.is_some() => {
                Err(Error::invalid_body("client_authentication_methods and token_endpoint_auth_method cannot be used together"))
            }
            Some(Some(m)) => Ok(Some(m.private_key_jwt.map(|p| p.credentials).unwrap_or_default())),
        }
    }

    pub fn into_patch(self) -> Result<ClientPatch, Error> {
        // Auth0 settings Tessera has no counterpart for are refused rather than ignored, so a
        // caller never believes a setting took effect when it did not.
        if self.oidc_conformant == Some(false) {
            return Err(Error::invalid_body("oidc_conformant: Tessera applications are always OIDC conformant"));
        }
        let jwt = self.jwt_configuration.unwrap_or_default();
        if jwt.lifetime_in_seconds.is_some_and(|l| l != super::ID_TOKEN_LIFETIME) {
            return Err(Error::invalid_body(
                "jwt_configuration.lifetime_in_seconds: the ID token lifetime is tenant-wide (36000)",
            ));
        }
        if jwt.secret_encoded == Some(true) {
            return Err(Error::invalid_body("jwt_configuration.secret_encoded: secrets are not base64-encoded"));
        }
        let rt = self.refresh_token.unwrap_or_default();
        if rt.expiration_type.as_deref().is_some_and(|t| t != "expiring") {
            return Err(Error::invalid_body("refresh_token.expiration_type: only \"expiring\" is supported"));
        }
        if rt.infinite_token_lifetime == Some(true) || rt.infinite_idle_token_lifetime == Some(true) {
            return Err(Error::invalid_body("refresh_token: refresh tokens always have a finite lifetime"));
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
            jwks_uri: self.jwks_uri,
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

/// Auth0's `proof_of_possession`: `{mechanism: "dpop", required}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProofOfPossessionBody)]
struct ProofOfPossession {
    mechanism: String,
    required: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerBody {
    pub identifier: Option<String>,
    name: Option<String>,
    scopes: Option<Vec<ApiScope>>,
    signing_alg: Option<SigningAlg>,
    token_lifetime: Option<i64>,
    allow_offline_access: Option<bool>,
    skip_consent_for_verifiable_first_party_clients: Option<bool>,
    #[serde(default, deserialize_with = "pop_option")]
    #[schema(value_type = Option<ProofOfPossession>)]
    proof_of_possession: Option<Option<ProofOfPossession>>,
}

fn pop_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<ProofOfPossession>>, D::Error> {
    Option::<ProofOfPossession>::deserialize(d).map(Some)
}

impl ResourceServerBody {
    pub fn into_patch(self) -> Result<ResourceServerPatch, Error> {
        // Tessera skips consent for first-party clients always (there is no per-API switch).
        if self.skip_consent_for_verifiable_first_party_clients == Some(false) {
            return Err(Error::invalid_body(
                "skip_consent_for_verifiable_first_party_clients: first-party clients always skip consent",
            ));
        }
        let require_dpop = match self.proof_of_possession {
            None => None,
            Some(None) => Some(false),
            // RFC 9449 is the only proof-of-possession mechanism Tessera implements.
            Some(Some(p)) if p.mechanism == "dpop" => Some(p.required),
            Some(Some(p)) => {
                return Err(Error::invalid_body(format!("proof_of_possession.mechanism must be \"dpop\", not {:?}", p.mechanism)))
            }
        };
        Ok(ResourceServerPatch {
            identifier: self.identifier,
            name: self.name,
            scopes: self.scopes,
            signing_alg: self.signing_alg,
            token_lifetime: self.token_lifetime,
            allow_offline_access: self.allow_offline_access,
            require_dpop,
        })
    }
}
