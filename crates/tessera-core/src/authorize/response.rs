//! The authorization response (RFC 6749 §4.1.2 and §4.1.2.1) and its encodings: the query
//! component of the redirect URI (RFC 6749 §3.1.2: a registered query component is kept,
//! parameters are appended), an auto-submitted form (Form Post Response Mode §2), or a
//! message posted to a verified web origin (Auth0's web_message).
//!
//! RFC 9207 §2: every response, success or error, carries `iss`.

use super::request::{AuthorizeRequest, Reply, ResponseMode};
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    /// In order: `code` or `error`/`error_description`, then `state`, then `iss`.
    pub params: Vec<(&'static str, String)>,
    /// For web_message: the verified origin the page posts to.
    pub web_message_origin: Option<String>,
}

impl AuthorizationResponse {
    pub fn code(req: &AuthorizeRequest, code: &str, issuer: &str) -> Self {
        Self::build(&req.reply, vec![("code", code.to_string())], issuer)
    }

    /// OIDC Core §3.2.2.5: the implicit flow's response carries the ID token (and no
    /// access token here: RFC 9700 §2.1.2).
    pub fn id_token(req: &AuthorizeRequest, id_token: &str, issuer: &str) -> Self {
        Self::build(&req.reply, vec![("id_token", id_token.to_string())], issuer)
    }

    pub fn error(reply: &Reply, error: &Error, issuer: &str) -> Self {
        let params = vec![("error", error.code.as_str().to_string()), ("error_description", error.description().to_string())];
        Self::build(reply, params, issuer)
    }

    fn build(reply: &Reply, mut params: Vec<(&'static str, String)>, issuer: &str) -> Self {
        // RFC 6749 §4.1.2: `state` exactly as the client sent it.
        if let Some(s) = &reply.state {
            params.push(("state", s.clone()));
        }
        params.push(("iss", issuer.to_string()));
        Self {
            redirect_uri: reply.redirect_uri.clone(),
            response_mode: reply.response_mode,
            params,
            web_message_origin: reply.web_message_origin.clone(),
        }
    }

    fn encoded(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            ser.append_pair(k, v);
        }
        ser.finish()
    }

    /// The redirect URI with the parameters in its fragment, for the `fragment` response
    /// mode (OIDC Core §3.2.2.5; the registered URI has no fragment, decision 7).
    pub fn fragment_location(&self) -> String {
        format!("{}#{}", self.redirect_uri, self.encoded())
    }

    /// The redirect URI with the parameters appended to its query component, for the
    /// `query` response mode. RFC 6749 §3.1.2: the registered query component is retained.
    pub fn location(&self) -> String {
        let encoded = self.encoded();
        let sep = match self.redirect_uri.find('?') {
            None => "?",
            Some(_) if self.redirect_uri.ends_with('?') || self.redirect_uri.ends_with('&') => "",
            Some(_) => "&",
        };
        format!("{}{sep}{encoded}", self.redirect_uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(uri: &str, state: Option<&str>) -> Reply {
        Reply {
            redirect_uri: uri.into(),
            response_mode: ResponseMode::Query,
            state: state.map(Into::into),
            web_message_origin: None,
        }
    }

    #[test]
    fn parameters_are_appended_and_encoded() {
        let e = Error::access_denied("user said no");
        let r = AuthorizationResponse::error(
            &reply("https://app.example.com/cb?tenant=a", Some("x y&z=é")),
            &e,
            "https://id.example.com/",
        );
        assert_eq!(
            r.location(),
            "https://app.example.com/cb?tenant=a&error=access_denied&error_description=user+said+no&state=x+y%26z%3D%C3%A9&iss=https%3A%2F%2Fid.example.com%2F"
        );
        let r = AuthorizationResponse::error(&reply("https://app.example.com/cb", None), &e, "https://id.example.com/");
        assert!(r.location().starts_with("https://app.example.com/cb?error=access_denied&"));
    }
}
