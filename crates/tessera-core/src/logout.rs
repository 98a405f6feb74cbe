//! Logout: OpenID Connect RP-Initiated Logout 1.0 (`/oidc/logout`) and Auth0's
//! `/v2/logout`. Both end the browser's SSO session; where the browser goes next is
//! decided here.
//!
//! - RP-Initiated Logout §2: `id_token_hint` is an ID token Tessera issued; it is accepted
//!   even when expired (§4, [`crate::tokens::id_token_hint`]). `client_id`, when also
//!   given, must be one of its audiences.
//! - §3: `post_logout_redirect_uri` must have been registered by the client (Auth0:
//!   "Allowed Logout URLs"), compared like redirect URIs (exact, loopback port exception);
//!   it needs the client to be known. `state` is passed back on it.
//! - Auth0 `/v2/logout`: `returnTo` must be one of the client's allowed logout URLs; with a
//!   `client_id` and no `returnTo`, the first allowed logout URL is used.
//! - An unregistered URL is an error page, never a redirect (no open redirector).

use crate::authorize::Params;
use crate::error::Error;
use crate::model::Client;
use crate::redirect_uri::find_match;
use crate::store::Store;
use crate::tokens::id_token_hint;
use crate::tokens::KeySet;

/// What a logout request resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutPlan {
    /// Where to send the browser afterwards; `None` shows a "logged out" page.
    pub redirect: Option<String>,
    /// The session named by the ID token hint (`sid`), ended as well.
    pub sid: Option<String>,
}

fn no_repeats(params: &Params) -> Result<(), Error> {
    match params.repeated().next() {
        Some(name) => Err(Error::invalid_request(format!("parameter {name} is repeated"))),
        None => Ok(()),
    }
}

async fn client(store: &dyn Store, client_id: &str) -> Result<Client, Error> {
    store.get_client(client_id).await?.ok_or_else(|| Error::invalid_request("unknown client_id"))
}

fn registered<'a>(client: &Client, uri: &'a str, what: &str) -> Result<&'a str, Error> {
    find_match(&client.allowed_logout_urls, uri, client.app_type)
        .map(|_| uri)
        .ok_or_else(|| Error::invalid_request(format!("{what} is not an allowed logout URL of the client")))
}

fn with_state(uri: &str, state: Option<&str>) -> String {
    let Some(state) = state else { return uri.to_string() };
    let encoded = url::form_urlencoded::Serializer::new(String::new()).append_pair("state", state).finish();
    let sep = if uri.contains('?') { "&" } else { "?" };
    format!("{uri}{sep}{encoded}")
}

/// `GET /oidc/logout`.
pub async fn rp_initiated(store: &dyn Store, keys: &KeySet, issuer: &str, params: &Params) -> Result<LogoutPlan, Error> {
    no_repeats(params)?;
    let hint = params.get("id_token_hint").map(|t| id_token_hint::verify(keys, issuer, t)).transpose()?;
    let client_id = match (params.get("client_id"), &hint) {
        (Some(c), Some(h)) if !h.audiences.iter().any(|a| a == c) => {
            return Err(Error::invalid_request("client_id is not an audience of id_token_hint"));
        }
        (Some(c), _) => Some(c.to_string()),
        (None, Some(h)) => h.audiences.first().cloned(),
        (None, None) => None,
    };
    let sid = hint.and_then(|h| h.sid);
    let Some(uri) = params.get("post_logout_redirect_uri") else { return Ok(LogoutPlan { redirect: None, sid }) };
    let Some(client_id) = client_id else {
        return Err(Error::invalid_request("post_logout_redirect_uri requires client_id or id_token_hint"));
    };
    let client = client(store, &client_id).await?;
    let uri = registered(&client, uri, "post_logout_redirect_uri")?;
    Ok(LogoutPlan { redirect: Some(with_state(uri, params.get("state"))), sid })
}

/// `GET /v2/logout` (Auth0).
pub async fn auth0_v2(store: &dyn Store, params: &Params) -> Result<LogoutPlan, Error> {
    no_repeats(params)?;
    let return_to = params.get("returnTo");
    let Some(client_id) = params.get("client_id") else {
        return match return_to {
            Some(_) => Err(Error::invalid_request("returnTo requires client_id")),
            None => Ok(LogoutPlan::default()),
        };
    };
    let client = client(store, client_id).await?;
    let redirect = match return_to {
        Some(uri) => Some(registered(&client, uri, "returnTo")?.to_string()),
        None => client.allowed_logout_urls.first().cloned(),
    };
    Ok(LogoutPlan { redirect, sid: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_appended_encoded() {
        assert_eq!(with_state("https://a.example/out", Some("a b")), "https://a.example/out?state=a+b");
        assert_eq!(with_state("https://a.example/out?x=1", Some("s")), "https://a.example/out?x=1&state=s");
        assert_eq!(with_state("https://a.example/out", None), "https://a.example/out");
    }
}
