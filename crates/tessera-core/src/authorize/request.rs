//! The validated authorization request: what the checks in [`super`] produce, what a login
//! transaction parks server-side (as JSON) and what the code is issued from.

use serde::{Deserialize, Serialize};

use crate::scope::Scope;

/// How the authorization response travels back (OAuth 2.0 Multiple Response Type Encoding
/// Practices §2.1; OAuth 2.0 Form Post Response Mode §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query component (the default for `code`).
    Query,
    /// Parameters as an HTML form auto-submitted by the browser with POST.
    FormPost,
    /// Auth0's `web_message`: a page that posts the parameters to the window that opened
    /// or framed it (`postMessage`), for silent authentication in an iframe and popups.
    WebMessage,
    /// Parameters in the redirect URI's fragment (the default for `id_token`, Multiple
    /// Response Type Encoding Practices §2.1).
    Fragment,
}

/// What the authorization endpoint returns (RFC 6749 §3.1.1, OIDC Core §3.2.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// An authorization code (RFC 6749 §4.1).
    #[default]
    Code,
    /// An ID token only, for a client allowed the implicit grant (OIDC Core §3.2); never an
    /// access token (RFC 9700 §2.1.2).
    IdToken,
}

/// OIDC Core §3.1.2.1 `prompt`: a set of values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// No user interaction: fail with `login_required` / `consent_required` instead.
    pub none: bool,
    /// Re-authenticate even with a valid session.
    pub login: bool,
    /// Ask for consent even if it was given before.
    pub consent: bool,
}

/// Where the authorization response goes, known as soon as the redirect URI is verified,
/// so that every later error can be sent there (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    /// RFC 6749 §4.1.2: echoed exactly as received.
    pub state: Option<String>,
    /// For [`ResponseMode::WebMessage`]: the verified origin the response is posted to
    /// (one of the client's `web_origins`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_message_origin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    /// (Absent from requests parked before it existed: those asked for a code.)
    #[serde(default, skip_serializing_if = "is_code")]
    pub response_type: ResponseType,
    pub reply: Reply,
    /// Whether the request named the redirect URI (RFC 6749 §4.1.3: the token request must
    /// then repeat it). When omitted, the client's single registered callback is used.
    pub redirect_uri_sent: bool,
    /// The scope granted: the requested scope minus what the client or API does not allow.
    pub scope: Scope,
    /// The API identifier the access token is for.
    pub audience: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Prompt,
    /// OIDC Core §3.1.2.1: maximum seconds since the user last authenticated.
    pub max_age: Option<i64>,
    /// Pre-fills the login form.
    pub login_hint: Option<String>,
    /// OIDC Core §3.1.2.1: the `sub` of a verified `id_token_hint`, the only user whose
    /// session may answer. (Absent from requests parked before it existed.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hinted_sub: Option<String>,
    /// RFC 9449 §10: the DPoP key the code is bound to.
    pub dpop_jkt: Option<String>,
}

fn is_code(t: &ResponseType) -> bool {
    *t == ResponseType::Code
}

impl AuthorizeRequest {
    /// The audience as consent is keyed: the API identifier, or "" for OpenID-only requests.
    pub fn consent_audience(&self) -> &str {
        self.audience.as_deref().unwrap_or("")
    }
}
