//! The device authorization grant (RFC 8628), the parts outside the token endpoint:
//! the device authorization request ([`start`], §3.1-3.2), the user code ([`user_code`],
//! §6.1), and the pace of the polls ([`polls`], §3.5). The poll itself is the grant
//! `crate::grants::device_code`; the page where the user enters the code lives in the
//! server crate (`/activate`, §3.3).

pub mod activation;
pub mod polls;
pub mod user_code;

use serde::Serialize;

use crate::authorize::{self, Params as AuthorizeParams};
use crate::client_auth::AuthenticatedClient;
use crate::crypto::ordered_handle;
use crate::error::{Error, ErrorCode};
use crate::grants::Params;
use crate::model::GrantType;
use crate::registry::Registry;
use crate::state::{DeviceCode, DeviceStatus};
use crate::store::StoreError;

/// Deployment settings for device authorizations.
#[derive(Debug, Clone, Copy)]
pub struct DevicePolicy {
    /// `expires_in` of the device code and user code, seconds.
    pub lifetime: i64,
    /// `interval`: the minimum seconds between polls.
    pub interval: i64,
}

/// RFC 8628 §3.2 device authorization response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub device_code: String,
    /// Shown as `XXXX-XXXX`.
    pub user_code: String,
    pub verification_uri: String,
    /// §3.3.1: the verification URI with the user code, for a QR code or a link.
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// Attempts at drawing a user code not already in use before giving up.
const USER_CODE_ATTEMPTS: usize = 4;

/// RFC 8628 §3.1-3.2: a device authorization for an authenticated client, stored, and the
/// answer to send. `verification_uri` is the absolute URL of the `/activate` page.
pub async fn start(
    registry: &Registry,
    auth: &AuthenticatedClient,
    params: &Params,
    policy: DevicePolicy,
    verification_uri: &str,
    now: i64,
) -> Result<DeviceAuthorization, Error> {
    let client = &auth.client;
    // RFC 6749 §5.2 unauthorized_client, as at the token endpoint: the client must be
    // allowed the device code grant it is about to use.
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(Error::new(ErrorCode::UnauthorizedClient, "the client is not allowed to use the device code grant"));
    }
    // RFC 8628 §3.1 scope, and Auth0's audience (or RFC 8707 resource): judged as
    // /authorize judges them, so the user approves exactly what the tokens will carry.
    let pairs = params.iter().filter(|(k, _)| matches!(k.as_str(), "scope" | "audience" | "resource"));
    let asked = AuthorizeParams::from_pairs(pairs.map(|(k, v)| (k.clone(), v.clone())));
    let (scope, api) = authorize::scope_and_api(registry, &asked, client).await?;
    let keyring = registry.keyring();
    for _ in 0..USER_CODE_ATTEMPTS {
        let device_code = ordered_handle();
        let user_code = user_code::generate();
        let record = DeviceCode {
            device_code_hash: keyring.hash_handle(&device_code),
            user_code_hash: keyring.hash_handle(&user_code),
            client_id: client.client_id.clone(),
            scope: scope.to_string(),
            audience: api.as_ref().map(|a| a.identifier.clone()),
            status: DeviceStatus::Pending,
            interval: policy.interval,
            user_id: None,
            auth_time: None,
            sid: None,
            created_at: now,
            expires_at: now + policy.lifetime,
            consumed_at: None,
        };
        match registry.store().insert_device_code(&record).await {
            Ok(()) => {
                let shown = user_code::display(&user_code);
                let complete = url::Url::parse_with_params(verification_uri, [("user_code", shown.as_str())])
                    .map_err(|e| Error::server_error(format!("verification uri: {e}")))?;
                return Ok(DeviceAuthorization {
                    device_code,
                    user_code: shown,
                    verification_uri: verification_uri.to_string(),
                    verification_uri_complete: complete.to_string(),
                    expires_in: policy.lifetime,
                    interval: policy.interval,
                });
            }
            // A user code still in use (one in 2^34 per live code): draw another.
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::server_error("no free user code after several attempts"))
}
