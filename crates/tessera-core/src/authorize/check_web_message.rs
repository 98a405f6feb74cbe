//! `response_mode=web_message` (Auth0's silent authentication and popups; OAuth 2.0 Web
//! Message Response Mode, draft-sakimura-oauth-wmrm-00): the response is a page that hands
//! the authorization response to the window that opened or framed it with `postMessage`.
//!
//! - draft-sakimura-oauth-wmrm §4.1: the message goes to the origin of `web_message_uri`,
//!   or of the redirect URI when it is absent.
//! - Auth0 ("Allowed Web Origins"): that origin must be one of the client's `web_origins`.
//!   Until it is, nothing may be posted anywhere, so every refusal here is an error page
//!   (RFC 6749 §4.1.2.1 in spirit: an unverified target never receives a response).

use super::error::AuthorizeError;
use super::params::Params;
use super::request::ResponseMode;
use crate::error::Error;
use crate::model::Client;
use crate::origin;

/// For a web_message request, the verified origin the response is posted to.
pub fn run(
    client: &Client,
    params: &Params,
    mode: Option<ResponseMode>,
    redirect_uri: &str,
) -> Result<Option<String>, AuthorizeError> {
    if mode != Some(ResponseMode::WebMessage) {
        return Ok(None);
    }
    let page = |d: String| AuthorizeError::Page(Error::invalid_request(d));
    // A repeated target is ambiguous (RFC 6749 §3.1), and decides where the response goes.
    if params.is_repeated("web_message_uri") {
        return Err(page("parameter web_message_uri is repeated".into()));
    }
    let target = params.get("web_message_uri").unwrap_or(redirect_uri);
    let Some(target_origin) = origin::of(target) else {
        return Err(page("web_message_uri must be an absolute http(s) URI".into()));
    };
    // Auth0: web_message answers only an origin in the application's Allowed Web Origins.
    if !origin::is_allowed(&client.web_origins, target) {
        return Err(page(format!("{target_origin} is not an allowed web origin of this application (web_origins)")));
    }
    Ok(Some(target_origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppType, ClientPatch};

    fn spa(web_origins: &[&str]) -> Client {
        let patch = ClientPatch {
            name: Some("SPA".into()),
            app_type: Some(AppType::Spa),
            callbacks: Some(vec!["https://app.example.com/cb".into()]),
            web_origins: Some(web_origins.iter().map(|o| o.to_string()).collect()),
            ..Default::default()
        };
        Client::create("c".into(), patch, 0).unwrap()
    }

    #[test]
    fn only_registered_origins_get_a_message() {
        let wm = Some(ResponseMode::WebMessage);
        let p = |q: &str| Params::parse(q.as_bytes());
        let cb = "https://app.example.com/cb";
        let allowed = spa(&["https://app.example.com"]);
        assert_eq!(run(&allowed, &p(""), Some(ResponseMode::Query), cb), Ok(None));
        assert_eq!(run(&spa(&[]), &p(""), Some(ResponseMode::FormPost), cb), Ok(None));
        assert_eq!(run(&allowed, &p(""), wm, cb), Ok(Some("https://app.example.com".into())));
        let via = p("web_message_uri=https%3A%2F%2Fapp.example.com%2Fsilent");
        assert_eq!(run(&allowed, &via, wm, cb), Ok(Some("https://app.example.com".into())));
        for (client, q, says) in [
            (spa(&[]), "", "https://app.example.com is not an allowed web origin"),
            (allowed.clone(), "web_message_uri=https%3A%2F%2Fevil.example.net%2F", "https://evil.example.net is not an allowed"),
            (allowed.clone(), "web_message_uri=a&web_message_uri=b", "web_message_uri is repeated"),
            (allowed.clone(), "web_message_uri=com.example.app%3A%2Fx", "must be an absolute http(s) URI"),
        ] {
            match run(&client, &p(q), wm, cb) {
                Err(AuthorizeError::Page(e)) => assert!(e.description().contains(says), "{q}: {}", e.description()),
                other => panic!("{q}: {other:?}"),
            }
        }
    }
}
