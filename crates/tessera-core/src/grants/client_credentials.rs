//! `grant_type=client_credentials` (RFC 6749 §4.4), Auth0 style: the client asks for an
//! `audience` (or RFC 8707 `resource`) and needs a client grant for that API.
//!
//! This path writes nothing and runs no slow hash (DESIGN decision 10): the token is a
//! self-contained JWT and client authentication is an HMAC comparison.

use super::{Params, TokenContext, TokenResponse};
use crate::client_auth::AuthenticatedClient;
use crate::error::Error;
use crate::model::{Client, ResourceServer};
use crate::scope::Scope;
use crate::tokens::claims::{sign_access_token, AccessTokenSpec};
use std::sync::Arc;

pub async fn exchange(ctx: &TokenContext<'_>, params: &Params, auth: &AuthenticatedClient) -> Result<TokenResponse, Error> {
    let client = &auth.client;
    let (api, scope) = granted_api_and_scope(ctx, params, client).await?;
    let jkt = super::dpop_binding(ctx, client, Some(api.as_ref()))?;
    let subject = format!("{}@clients", client.client_id);
    let access = sign_access_token(
        &*ctx.signer(api.signing_alg)?,
        &AccessTokenSpec {
            issuer: ctx.issuer,
            subject: &subject,
            client_id: &client.client_id,
            audience: Some(&api.identifier),
            scope: &scope,
            now: ctx.now,
            lifetime: api.token_lifetime,
            auth_time: None,
            gty: Some("client-credentials"),
            jkt: jkt.as_deref(),
        },
    );
    Ok(TokenResponse {
        access_token: access.token,
        refresh_token: None,
        id_token: None,
        token_type: super::token_type(jkt.as_deref()),
        expires_in: api.token_lifetime,
        scope: scope.to_string(),
        issued_token_type: None,
    })
}

/// The API the client asks for (`audience`, `resource`, or the tenant's default audience)
/// and the scope it gets there: its client grant's, or the requested subset of it. Shared
/// with the jwt-bearer grant, which authorizes the same way.
pub(super) async fn granted_api_and_scope(
    ctx: &TokenContext<'_>,
    params: &Params,
    client: &Client,
) -> Result<(Arc<ResourceServer>, Scope), Error> {
    let store = ctx.registry.store();
    let resource = params.get("resource");
    if let Some(r) = resource {
        super::check_resource_uri(r)?;
    }
    let audience = match (params.get("audience"), resource) {
        (Some(a), Some(r)) if a != r => {
            return Err(Error::new(crate::ErrorCode::InvalidTarget, "audience and resource name different APIs"))
        }
        (Some(a), _) | (None, Some(a)) => a.clone(),
        (None, None) => match store.get_setting(crate::registry::DEFAULT_AUDIENCE).await? {
            Some(a) if !a.is_empty() => a,
            _ => {
                return Err(Error::access_denied(
                    "No audience parameter was provided, and no default audience has been configured",
                ))
            }
        },
    };
    let api = ctx.registry.api_by_identifier(&audience).await?.ok_or_else(|| match resource {
        // RFC 8707 §2: a resource that names no API served here is invalid_target.
        Some(_) => Error::new(crate::ErrorCode::InvalidTarget, "the resource is not an API served here"),
        None => Error::access_denied(format!("Service not enabled within domain: {audience}")),
    })?;
    // Auth0's wording, with single quotes: RFC 6749 §5.2 excludes '"' from error_description.
    let grant = ctx.registry.client_grant(&client.client_id, &api.identifier).await?.ok_or_else(|| {
        Error::access_denied(format!(
            "Client '{}' is not authorized to access resource server '{}'",
            client.client_id, api.identifier
        ))
    })?;
    let allowed = Scope::from_tokens(grant.scope.iter().cloned());
    // RFC 6749 §3.3 / §5.2 invalid_scope: the requested scope exceeds what was granted.
    let scope = match params.get("scope") {
        Some(s) => {
            let asked = Scope::parse(s)?;
            if !asked.is_subset(&allowed) {
                return Err(Error::invalid_scope(format!(
                    "scope exceeds what client '{}' was granted for '{}'",
                    client.client_id, api.identifier
                )));
            }
            asked
        }
        None => allowed,
    };
    Ok((api, scope))
}
