//! The /authorize pipeline (RFC 6749 §4.1.1, OIDC Core §3.1.2) as an ordered list of named
//! checks, one file each. Until the client and its redirect URI are verified every error is
//! shown on a page; after that, errors go back to the client ([`AuthorizeError`]).
//!
//! [`validate`] turns raw parameters into an [`AuthorizeRequest`]; [`decide`] picks the
//! next step ([`AuthorizeOutcome`]): log in, consent, or [`issue_code`]. The response is an
//! [`AuthorizationResponse`], which always carries `iss` (RFC 9207).
//!
//! Pushed authorization requests (RFC 9126): [`push`] runs the same checks when the client
//! pushes; `/authorize` then gets only `client_id` and `request_uri`
//! (`check_request_uri`), and uses the request as it was validated then.

mod check_audience;
mod check_client;
mod check_dpop_jkt;
mod check_id_token_hint;
mod check_metadata_client;
mod check_params;
mod check_pkce;
pub mod check_prompt; // pub for the fuzz target `scope_params`
pub mod check_redirect_uri; // pub for /passwordless/start's magic links
mod check_request_uri;
mod check_response_mode;
mod check_response_type;
pub(crate) mod check_scope;
mod check_web_message;
mod code;
mod consent;
mod error;
mod id_token;
mod interaction;
mod par;
mod params;
mod request;
mod response;

pub use code::issue_code;
pub use consent::{needs_consent, remember};
pub use error::AuthorizeError;
pub use id_token::issue_id_token;
pub use interaction::{decide, park, resume, AuthorizeOutcome, Pending};
pub use par::{push, Pushed};
pub use params::Params;
pub use request::{AuthorizeRequest, Prompt, Reply, ResponseMode, ResponseType};
pub use response::AuthorizationResponse;

use std::sync::Arc;

use crate::model::Client;
use crate::registry::Registry;
use crate::tokens::KeySet;

/// Runs the checks in order. Returns the request with the client it names. Clients and APIs
/// come from the registry's cache; `keys` and `issuer` verify an `id_token_hint`.
/// `tenant_requires_par` is the deployment-wide RFC 9126 §5 setting.
pub async fn validate(
    registry: &Registry,
    keys: &KeySet,
    issuer: &str,
    params: &Params,
    tenant_requires_par: bool,
) -> Result<(AuthorizeRequest, Arc<Client>), AuthorizeError> {
    // Not redirectable: nothing yet says where a response may go.
    check_params::unambiguous_target(params).map_err(AuthorizeError::Page)?;
    let client = check_client::run(registry, params).await?;
    // RFC 9126 §4: a request_uri stands for the whole request, checked when it was pushed.
    if let Some(pushed) = check_request_uri::run(registry, &client, params).await? {
        return Ok((pushed, client));
    }
    let request = validate_for(registry, keys, issuer, params, &client).await?;
    check_request_uri::required(&client, tenant_requires_par).map_err(|e| AuthorizeError::redirect(e, &request.reply))?;
    Ok((request, client))
}

/// The reply of a request whose redirect URI is verified: errors are redirected there from
/// now on, in the requested mode when it is a valid one (a web_message reply only to an
/// origin the client allows).
fn reply_to(client: &Client, redirect_uri: String, params: &Params) -> Result<Reply, AuthorizeError> {
    let mode = check_response_mode::parse(params);
    let web_message_origin = check_web_message::run(client, params, mode, &redirect_uri)?;
    Ok(Reply {
        redirect_uri,
        response_mode: mode.unwrap_or_else(|| check_response_mode::default_for(params)),
        state: params.get("state").filter(|_| !params.is_repeated("state")).map(str::to_string),
        web_message_origin,
    })
}

/// The checks after the client is known: what /authorize runs on a request sent by the
/// browser and what the PAR endpoint runs on a pushed one ([`push`]).
async fn validate_for(
    registry: &Registry,
    keys: &KeySet,
    issuer: &str,
    params: &Params,
    client: &Client,
) -> Result<AuthorizeRequest, AuthorizeError> {
    // Not redirectable: nothing yet says where a response may go (a push starts here).
    check_params::unambiguous_target(params).map_err(AuthorizeError::Page)?;
    let (redirect_uri, redirect_uri_sent) = check_redirect_uri::run(client, params)?;
    let reply = reply_to(client, redirect_uri, params)?;
    let fail = |e| AuthorizeError::redirect(e, &reply);
    check_params::run(params).map_err(fail)?;
    let response_type = check_response_type::run(client, params).map_err(fail)?;
    check_response_mode::run(params).map_err(fail)?;
    let requested = check_scope::parse(params).map_err(fail)?;
    // OIDC Core §3.2.2.1: an implicit request is an OpenID request; scope must have openid.
    if response_type == ResponseType::IdToken && !requested.contains("openid") {
        return Err(fail(crate::error::Error::invalid_scope("scope must contain openid with response_type id_token")));
    }
    let api = check_audience::run(registry, params).await.map_err(fail)?;
    let scope = check_scope::grant(&requested, client, api.as_deref());
    let scope = check_metadata_client::run(registry, client, api.as_deref(), scope).map_err(fail)?;
    // PKCE protects a code; the implicit response has none (its nonce binds the ID token).
    let (code_challenge, code_challenge_method) = match response_type {
        ResponseType::Code => check_pkce::run(client, params).map_err(fail)?,
        ResponseType::IdToken => (None, None),
    };
    let interaction = check_prompt::run(params).map_err(fail)?;
    let hinted_sub = check_id_token_hint::run(keys, issuer, params).map_err(fail)?;
    let dpop_jkt = check_dpop_jkt::run(params).map_err(fail)?;

    Ok(AuthorizeRequest {
        client_id: client.client_id.clone(),
        response_type,
        reply,
        redirect_uri_sent,
        scope,
        audience: api.map(|a| a.identifier.clone()),
        nonce: params.get("nonce").map(str::to_string),
        code_challenge,
        code_challenge_method,
        prompt: interaction.prompt,
        max_age: interaction.max_age,
        login_hint: interaction.login_hint,
        hinted_sub,
        dpop_jkt,
    })
}

/// The scope and API of a request, judged as /authorize judges them (the device
/// authorization endpoint asks for the same two things, RFC 8628 §3.1).
pub(crate) async fn scope_and_api(
    registry: &Registry,
    params: &Params,
    client: &Client,
) -> Result<(crate::scope::Scope, Option<Arc<crate::model::ResourceServer>>), crate::error::Error> {
    let requested = check_scope::parse(params)?;
    let api = check_audience::run(registry, params).await?;
    let scope = check_scope::grant(&requested, client, api.as_deref());
    Ok((check_metadata_client::run(registry, client, api.as_deref(), scope)?, api))
}
