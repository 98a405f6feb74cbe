//! `POST /oauth/token` (RFC 6749 §3.2, §5): extract parameters and credentials, authenticate
//! the client, check the DPoP proof, run the grant, render. The decisions live in
//! `tessera_core::grants`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde_json::json;
use tessera_core::grants::{self, TokenContext, TokenResponse};
use tessera_core::model::GrantType;
use tessera_core::routes;
use tessera_core::store::AuditEvent;
use tessera_core::{Error, ErrorCode};

use super::client_auth::{authenticate, parse};
use super::error::HttpError;
use crate::app::AppState;

pub async fn token(
    State(state): State<AppState>,
    peer: PeerIp,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let params = parse(&uri, &headers, body)?;
    let grant = grants::grant_type(&params)?;
    // RFC 6749 §5.2: a grant this deployment has not enabled is unsupported here; discovery
    // advertises exactly the same list.
    if !state.capabilities.grant_types.contains(&grant.as_str()) {
        return Err(Error::new(ErrorCode::UnsupportedGrantType, format!("grant type {:?} is not enabled", grant.as_str())).into());
    }
    let client = authenticate(&state, routes::TOKEN, &headers, &params).await?;
    let nonce_required = super::dpop::nonce_required(&state, Some(&client.client));
    let proof = super::dpop::proof(&state, &headers, "POST", routes::TOKEN, None, nonce_required).await?;
    let nonce = proof.as_ref().and_then(|_| super::dpop::fresh_nonce(&state, nonce_required));
    let keys = state.keys.get();
    let ip = peer.0.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let ctx = TokenContext {
        registry: &state.deployment.registry,
        keys: &keys,
        issuer: &state.issuer,
        now: state.now(),
        id_token_lifetime: state.deployment.config.tokens.id_token_lifetime,
        otp_max_attempts: state.deployment.config.email.otp_max_attempts,
        dpop: proof.as_ref(),
        resource_owner: grants::password::ResourceOwnerContext {
            verifier: &state.passwords,
            policy: super::interaction::login_policy(&state),
            ip: &ip,
        },
        assertion_limits: state.deployment.config.client_assertions.limits(),
    };
    let result = grants::exchange(&ctx, grant, &params, &client).await;
    log_exchange(&state, grant, &client.client.client_id, &params, &headers, peer.0, &result);
    let response = match result {
        Ok(r) => r,
        Err(e) if is_password_grant(grant) => return Ok(password_refusal(e, nonce)),
        Err(e) => return Err(HttpError::from(e).with_dpop_nonce(nonce)),
    };
    state.metrics.token_issued(grant.as_str());
    // Issue 21: a dynamic client's use keeps it from expiring as idle. Only grants that
    // write anyway count (client_credentials stays free of writes, DESIGN decision 10), and
    // only third-party clients, which every dynamic client is.
    let counted = matches!(grant, GrantType::AuthorizationCode | GrantType::RefreshToken | GrantType::DeviceCode);
    if counted && !client.client.is_first_party {
        state.deployment.registry.touch_dynamic_client(&client.client.client_id).await;
    }
    Ok(super::dpop::with_nonce(super::no_store_json(&response), nonce))
}

fn is_password_grant(grant: GrantType) -> bool {
    matches!(grant, GrantType::Password | GrantType::PasswordRealm)
}

/// Auth0 answers the password grants' refusals of the credentials and of the client with
/// 403: `invalid_grant` ("Wrong email or password.") and `unauthorized_client` ("Grant
/// type '…' not allowed for the client."); RFC 6749 §5.2 would say 400.
fn password_refusal(error: tessera_core::Error, nonce: Option<String>) -> Response {
    use axum::response::IntoResponse;
    let forbidden = matches!(error.code, ErrorCode::InvalidGrant | ErrorCode::UnauthorizedClient);
    let mut resp = HttpError::from(error).with_dpop_nonce(nonce).into_response();
    if forbidden {
        *resp.status_mut() = axum::http::StatusCode::FORBIDDEN;
    }
    resp
}

/// The peer's address, when the server recorded it for the connection.
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical())))
    }
}

/// Queues the audit entry of a token exchange (Auth0's `seccft`, `feacft`, …; see
/// [`tessera_core::audit`]). No I/O here: [`crate::audit_log`] writes it off the request.
fn log_exchange(
    state: &AppState,
    grant: GrantType,
    client_id: &str,
    params: &std::collections::BTreeMap<String, String>,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
    result: &Result<TokenResponse, tessera_core::Error>,
) {
    if !state.audit.enabled() {
        return;
    }
    let user_agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let mut detail = json!({"grant_type": grant.as_str(), "user_agent": user_agent, "audience": params.get("audience")});
    let (kind, user_id) = match result {
        Ok(r) => {
            detail["scope"] = r.scope.clone().into();
            // The subject of a user's token (client_credentials tokens have none).
            let user = (grant != GrantType::ClientCredentials).then(|| jwt_subject(&r.access_token)).flatten();
            (format!("{}_exchanged", grant.as_str()), user)
        }
        Err(e) => {
            detail["error"] = e.code.as_str().into();
            detail["error_description"] = e.description().into();
            (format!("{}_exchange_failed", grant.as_str()), None)
        }
    };
    state.audit.push(AuditEvent {
        at: state.now(),
        kind,
        client_id: Some(client_id.to_string()),
        user_id,
        ip: ip.map(|i| i.to_string()),
        detail,
    });
}

/// `sub` of a JWT Tessera just signed (so no verification is needed to read it).
fn jwt_subject(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_string)
}
