//! The /authorize pipeline (RFC 6749 §4.1.1, OIDC Core §3.1.2) as an ordered list of named
//! checks, one file each. Until the client and its redirect URI are verified every error is
//! shown on a page; after that, errors go back to the client ([`AuthorizeError`]).
//!
//! [`validate`] turns raw parameters into an [`AuthorizeRequest`]; [`decide`] picks the
//! next step ([`AuthorizeOutcome`]): log in, consent, or [`issue_code`]. The response is an
//! [`AuthorizationResponse`], which always carries `iss` (RFC 9207).

mod check_audience;
mod check_client;
mod check_dpop_jkt;
mod check_id_token_hint;
mod check_params;
mod check_pkce;
pub mod check_prompt; // pub for the fuzz target `scope_params`
mod check_redirect_uri;
mod check_response_mode;
mod check_response_type;
mod check_scope;
mod code;
mod consent;
mod error;
mod interaction;
mod params;
mod request;
mod response;

pub use code::issue_code;
pub use consent::{needs_consent, remember};
pub use error::AuthorizeError;
pub use interaction::{decide, park, resume, AuthorizeOutcome, Pending};
pub use params::Params;
pub use request::{AuthorizeRequest, Prompt, Reply, ResponseMode};
pub use response::AuthorizationResponse;

use std::sync::Arc;

use crate::model::Client;
use crate::registry::Registry;
use crate::tokens::KeySet;

/// Runs the checks in order. Returns the request with the client it names. Clients and APIs
/// come from the registry's cache; `keys` and `issuer` verify an `id_token_hint`.
pub async fn validate(
    registry: &Registry,
    keys: &KeySet,
    issuer: &str,
    params: &Params,
) -> Result<(AuthorizeRequest, Arc<Client>), AuthorizeError> {
    // Not redirectable: nothing yet says where a response may go.
    check_params::unambiguous_target(params).map_err(AuthorizeError::Page)?;
    let client = check_client::run(registry, params).await?;
    let (redirect_uri, redirect_uri_sent) = check_redirect_uri::run(&client, params)?;

    // From here on errors are redirected, in the requested mode when it is a valid one.
    let reply = Reply {
        redirect_uri,
        response_mode: check_response_mode::parse(params).unwrap_or(ResponseMode::Query),
        state: params.get("state").filter(|_| !params.is_repeated("state")).map(str::to_string),
    };
    let fail = |e| AuthorizeError::redirect(e, &reply);
    check_params::run(params).map_err(fail)?;
    check_response_type::run(&client, params).map_err(fail)?;
    check_response_mode::run(params).map_err(fail)?;
    let requested = check_scope::parse(params).map_err(fail)?;
    let api = check_audience::run(registry, params).await.map_err(fail)?;
    let scope = check_scope::grant(&requested, &client, api.as_deref());
    let (code_challenge, code_challenge_method) = check_pkce::run(&client, params).map_err(fail)?;
    let interaction = check_prompt::run(params).map_err(fail)?;
    let hinted_sub = check_id_token_hint::run(keys, issuer, params).map_err(fail)?;
    let dpop_jkt = check_dpop_jkt::run(params).map_err(fail)?;

    let request = AuthorizeRequest {
        client_id: client.client_id.clone(),
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
    };
    Ok((request, client))
}
