//! The shared front half of the token, revocation and introspection endpoints: refuse
//! credentials in the URL, parse the body, authenticate the client, audit failures.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, Uri};
use serde_json::json;
use tessera_core::client_auth::{AuthenticatedClient, ClientAuthContext};
use tessera_core::grants::Params;
use tessera_core::{routes, Error, ErrorCode};

use super::error::HttpError;
use super::params::{body_or_error, client_credentials, parse_body, refuse_credentials_in_query};
use crate::app::AppState;

/// Parses the request: no credentials in the URL, a body of bounded size, form or JSON.
pub fn parse(uri: &Uri, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Params, HttpError> {
    refuse_credentials_in_query(uri)?;
    Ok(parse_body(headers, &body_or_error(body)?)?)
}

/// A revocation or introspection request from an authenticated client.
pub struct TokenRequest {
    pub client: AuthenticatedClient,
    pub token: String,
    pub hint: Option<String>,
}

/// The front half shared by revocation and introspection: `token` is REQUIRED and
/// `token_type_hint` optional (RFC 7009 §2.1, RFC 7662 §2.1).
pub async fn token_request(
    state: &AppState,
    endpoint: &'static str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenRequest, HttpError> {
    let params = parse(uri, headers, body)?;
    let client = authenticate(state, endpoint, headers, &params).await?;
    let token = params.get("token").cloned().ok_or_else(|| Error::invalid_request("token is required"))?;
    Ok(TokenRequest { client, token, hint: params.get("token_type_hint").cloned() })
}

pub async fn authenticate(
    state: &AppState,
    endpoint: &'static str,
    headers: &HeaderMap,
    params: &Params,
) -> Result<AuthenticatedClient, HttpError> {
    let (credentials, basic) = client_credentials(headers, params).map_err(|error| HttpError {
        error,
        basic_auth: headers.contains_key(header::AUTHORIZATION),
        dpop_nonce: None,
    })?;
    let registry = &state.deployment.registry;
    let token_endpoint = routes::url(&state.issuer, routes::TOKEN);
    let endpoint_url = routes::url(&state.issuer, endpoint);
    let ctx = ClientAuthContext {
        registry,
        issuer: &state.issuer,
        token_endpoint: &token_endpoint,
        endpoint: &endpoint_url,
        now: state.now(),
        limits: state.deployment.config.client_assertions.limits(),
    };
    match credentials.authenticate(&ctx).await {
        Ok(c) => Ok(c),
        Err(error) => {
            if error.code == ErrorCode::InvalidClient {
                let claimed = credentials.basic.as_ref().map(|b| b.0.clone()).or_else(|| credentials.client_id.clone());
                registry
                    .record(
                        "client_authentication_failed",
                        claimed.as_deref(),
                        None,
                        json!({"endpoint": endpoint, "reason": error.detail.clone().unwrap_or_default()}),
                    )
                    .await;
            }
            Err(HttpError { error, basic_auth: basic, dpop_nonce: None })
        }
    }
}
