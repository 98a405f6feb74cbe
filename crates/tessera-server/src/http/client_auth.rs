//! The shared front half of the token, revocation and introspection endpoints: refuse
//! credentials in the URL, parse the body, authenticate the client, audit failures.

use axum::http::{header, HeaderMap, Uri};
use serde_json::json;
use tessera_core::client_auth::{AuthenticatedClient, ClientAuthContext};
use tessera_core::grants::Params;
use tessera_core::{routes, ErrorCode};

use super::error::HttpError;
use super::params::{client_credentials, parse_body, refuse_credentials_in_query};
use crate::app::AppState;

/// Parses the request; `before_auth` runs on the parameters first (e.g. `grant_type`
/// checks that need no client).
pub fn parse(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Params, HttpError> {
    refuse_credentials_in_query(uri)?;
    Ok(parse_body(headers, body)?)
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
    let ctx = ClientAuthContext { registry, issuer: &state.issuer, token_endpoint: &token_endpoint, now: state.now() };
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
