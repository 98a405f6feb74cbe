//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, "CIMD";
//! the MCP authorization profile's preferred way for a client to meet an authorization
//! server it has never seen): a `client_id` that is an `https` URL names a JSON document of
//! the client's metadata, which Tessera fetches when it first meets the client
//! ([`resolver`]) and validates here.
//!
//! - Draft §3: the client identifier URL uses `https`, has a path, no `.`/`..` segments, no
//!   fragment and no user information ([`check_client_id`]).
//! - Draft §4.1: the document's `client_id` equals the URL by simple string comparison; it
//!   must not carry `client_secret` or `client_secret_expires_at`, and a shared-secret
//!   `token_endpoint_auth_method` is not allowed (there is no way to establish a secret):
//!   only `none` (the default here) or `private_key_jwt` with `jwks` or `jwks_uri`.
//! - The rest is RFC 7591 client metadata, validated as dynamic client registration
//!   validates it ([`crate::registration::validate`]), with this policy's grants:
//!   `authorization_code` and `refresh_token` only.
//! - Such a client is third-party: consent is always asked, naming the URL's host, and it
//!   gets only the scopes and APIs the tenant's [`MetadataPolicy`] allows.

pub mod resolver;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Client, GrantType, TokenEndpointAuthMethod};
use crate::registration::{self, RegistrationMode, RegistrationPolicy};

pub use resolver::{DocumentFetcher, FetchedDocument, MetadataResolver};

/// The tenant's policy over clients identified by a metadata document (the server's
/// `[client_metadata_documents]` settings, read as they are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataPolicy {
    pub enabled: bool,
    /// Hosts whose documents are accepted (an entry also covers its subdomains); empty: any.
    pub allowed_domains: Vec<String>,
    /// Hosts whose documents are refused (with their subdomains); wins over the allow list.
    pub denied_domains: Vec<String>,
    /// Scope values such clients may be granted (OpenID and API scopes alike).
    pub scopes: Vec<String>,
    /// API identifiers such clients may get tokens for; empty: none (userinfo only).
    pub audiences: Vec<String>,
    /// Bounds on how long a fetched document is used, in seconds, whatever its HTTP caching
    /// headers say (no header: the minimum).
    pub cache_min: i64,
    pub cache_max: i64,
}

impl Default for MetadataPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            allowed_domains: vec![],
            denied_domains: vec![],
            scopes: ["openid", "profile", "email", "offline_access"].map(String::from).to_vec(),
            audiences: vec![],
            cache_min: 60,
            cache_max: 86_400,
        }
    }
}

/// Whether `host` is `domain` or one of its subdomains (both compared lowercase).
fn within(host: &str, domain: &str) -> bool {
    let (host, domain) = (host.to_ascii_lowercase(), domain.trim_end_matches('.').to_ascii_lowercase());
    host == domain || host.strip_suffix(&domain).is_some_and(|rest| rest.ends_with('.'))
}

impl MetadataPolicy {
    /// The settings' own rules, with a message naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.cache_min < 0 || self.cache_max < self.cache_min || self.cache_max > 30 * 86_400 {
            return Err(format!(
                "client_metadata_documents.cache_min and cache_max must satisfy 0 <= cache_min <= cache_max <= 2592000, got {} and {}",
                self.cache_min, self.cache_max
            ));
        }
        for d in self.allowed_domains.iter().chain(&self.denied_domains) {
            if d.is_empty() || d.contains(['/', ':', '*', ' ']) {
                return Err(format!("client_metadata_documents: {d:?} is not a domain name (no scheme, port or wildcard)"));
            }
        }
        Ok(())
    }

    /// Whether a document on `host` may be used.
    pub fn host_allowed(&self, host: &str) -> Result<(), String> {
        if self.denied_domains.iter().any(|d| within(host, d)) {
            return Err(format!("documents from {host} are not accepted here"));
        }
        if !self.allowed_domains.is_empty() && !self.allowed_domains.iter().any(|d| within(host, d)) {
            return Err(format!("{host} is not among the domains whose clients are accepted here"));
        }
        Ok(())
    }

    /// How long a document whose HTTP caching allows `max_age` seconds is used.
    pub fn cache_seconds(&self, max_age: Option<i64>) -> i64 {
        max_age.unwrap_or(self.cache_min).clamp(self.cache_min, self.cache_max.max(self.cache_min))
    }
}

/// Whether `client_id` is meant as a metadata document URL (the only client ids Tessera
/// does not issue itself: registered ones are random alphanumerics).
pub fn names_document(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Draft §3: the rules on the client identifier URL. Returns its host.
pub fn check_client_id(client_id: &str) -> Result<String, String> {
    if client_id.len() > 2048 {
        return Err("the client_id URL is longer than 2048 characters".into());
    }
    let url = url::Url::parse(client_id).map_err(|e| format!("the client_id is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err("a client ID metadata document URL must use https".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a client ID metadata document URL must not contain user information".into());
    }
    if url.fragment().is_some() {
        return Err("a client ID metadata document URL must not contain a fragment".into());
    }
    if url.path().len() <= 1 {
        return Err("a client ID metadata document URL must have a path".into());
    }
    // A URL with `.` or `..` segments, percent-encoded dots or an uppercase host parses to
    // a different string; only the canonical spelling is the document's identifier.
    if url.as_str() != client_id || client_id.split(['/', '?']).any(|s| s == "." || s == "..") {
        return Err("a client ID metadata document URL must be in canonical form (no dot segments)".into());
    }
    url.host_str().map(str::to_string).ok_or_else(|| "the client_id URL has no host".into())
}

/// The host of a metadata-document client (for the consent page).
pub fn host_of(client_id: &str) -> Option<String> {
    url::Url::parse(client_id).ok()?.host_str().map(str::to_string)
}

/// Draft §4.1 checks of the raw document, before RFC 7591 validation. Returns the object
/// and, when the keys are by reference, the `jwks_uri` to fetch.
pub fn check_document(client_id: &str, body: &[u8]) -> Result<(Map<String, Value>, Option<String>), String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("the document is not JSON: {e}"))?;
    let Value::Object(obj) = doc else { return Err("the document is not a JSON object".into()) };
    // Draft §4.1: the document's client_id MUST equal the URL it was fetched from.
    match obj.get("client_id") {
        Some(Value::String(id)) if id == client_id => {}
        Some(Value::String(id)) => return Err(format!("the document's client_id {id:?} is not its URL")),
        _ => return Err("the document has no client_id".into()),
    }
    // Draft §4.1: no shared secret can exist between a CIMD client and the server.
    for name in ["client_secret", "client_secret_expires_at"] {
        if obj.contains_key(name) {
            return Err(format!("a client metadata document must not contain {name}"));
        }
    }
    let method = match obj.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => TokenEndpointAuthMethod::None,
        Some(Value::String(m)) => {
            TokenEndpointAuthMethod::parse(m).map_err(|_| format!("token_endpoint_auth_method {m:?} is not supported"))?
        }
        Some(_) => return Err("token_endpoint_auth_method must be a string".into()),
    };
    if method.uses_secret() {
        return Err(format!(
            "token_endpoint_auth_method {} needs a shared secret, which a client metadata document cannot have",
            method.as_str()
        ));
    }
    let jwks_uri = match obj.get("jwks_uri") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if u.starts_with("https://") => Some(u.clone()),
        Some(_) => return Err("jwks_uri must be an https URL".into()),
    };
    if jwks_uri.is_some() && obj.get("jwks").is_some_and(|v| !v.is_null()) {
        return Err("the document must not have both jwks and jwks_uri".into());
    }
    Ok((obj, jwks_uri))
}

/// The client a checked document describes; `jwks` is the set fetched from its `jwks_uri`.
pub fn client_from(client_id: &str, mut obj: Map<String, Value>, jwks: Option<Value>, now: i64) -> Result<Client, String> {
    obj.remove("client_id");
    obj.remove("jwks_uri");
    if let Some(set) = jwks {
        obj.insert("jwks".into(), set);
    }
    // Defaults that differ from RFC 7591's: public, and named after the URL's host.
    obj.entry("token_endpoint_auth_method").or_insert_with(|| "none".into());
    if obj.get("client_name").is_none_or(Value::is_null) {
        obj.insert("client_name".into(), host_of(client_id).unwrap_or_default().into());
    }
    // A client that names no application_type but redirects to loopback or a private-use
    // scheme is a native app (RFC 8252), as the MCP clients that publish documents are.
    if obj.get("application_type").is_none_or(Value::is_null) {
        let https_only = obj
            .get("redirect_uris")
            .and_then(Value::as_array)
            .is_some_and(|uris| uris.iter().all(|u| u.as_str().is_some_and(|s| s.starts_with("https://"))));
        let public = obj.get("token_endpoint_auth_method").and_then(Value::as_str) == Some("none");
        if !https_only && public {
            obj.insert("application_type".into(), "native".into());
        }
    }
    let policy = RegistrationPolicy {
        mode: RegistrationMode::Open,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        auth_methods: vec![TokenEndpointAuthMethod::None, TokenEndpointAuthMethod::PrivateKeyJwt],
        ..Default::default()
    };
    let validated = registration::validate(&Value::Object(obj), &policy).map_err(|e| e.description.into_owned())?;
    Client::create(client_id.to_string(), validated.patch, now).map_err(|e| e.description().to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "https://mcp.example.com/client.json";

    fn client(doc: Value) -> Result<Client, String> {
        let (obj, uri) = check_document(ID, doc.to_string().as_bytes())?;
        assert!(uri.is_none());
        client_from(ID, obj, None, 0)
    }

    #[test]
    fn client_id_urls() {
        assert_eq!(check_client_id(ID).unwrap(), "mcp.example.com");
        assert!(check_client_id("https://mcp.example.com:8443/c?v=1").is_ok());
        for bad in [
            "http://mcp.example.com/client.json",
            "https://mcp.example.com",
            "https://mcp.example.com/",
            "https://mcp.example.com/a/../client.json",
            "https://mcp.example.com/./client.json",
            "https://mcp.example.com/%2e%2e/client.json",
            "https://MCP.example.com/client.json",
            "https://u:p@mcp.example.com/client.json",
            "https://mcp.example.com/client.json#x",
            "https://mcp.example.com:443/client.json",
        ] {
            assert!(check_client_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn documents() {
        let ok = client(json!({"client_id": ID, "client_name": "Agent", "redirect_uris": ["http://127.0.0.1:3000/cb"]})).unwrap();
        assert_eq!(ok.name, "Agent");
        assert!(ok.is_public() && !ok.is_first_party);
        assert_eq!(ok.app_type, crate::model::AppType::Native);
        let web = client(json!({"client_id": ID, "redirect_uris": ["https://mcp.example.com/cb"]})).unwrap();
        assert_eq!(web.name, "mcp.example.com");
        let refused = |doc: Value, why: &str| {
            let e = client(doc.clone()).unwrap_err();
            assert!(e.contains(why), "{doc}: {e}");
        };
        refused(json!({"client_id": "https://other.example/c.json", "redirect_uris": ["https://a/cb"]}), "is not its URL");
        refused(json!({"redirect_uris": ["https://a/cb"]}), "no client_id");
        refused(json!({"client_id": ID, "client_secret": "s", "redirect_uris": ["https://a/cb"]}), "client_secret");
        refused(
            json!({"client_id": ID, "token_endpoint_auth_method": "client_secret_basic", "redirect_uris": ["https://a/cb"]}),
            "shared secret",
        );
        refused(json!({"client_id": ID, "redirect_uris": ["https://a/cb"], "grant_types": ["client_credentials"]}), "grant type");
        refused(json!({"client_id": ID}), "redirect_uris is required");
        refused(
            json!({"client_id": ID, "token_endpoint_auth_method": "private_key_jwt", "redirect_uris": ["https://a/cb"]}),
            "jwks",
        );
        refused(json!({"client_id": ID, "redirect_uris": ["https://a/cb"], "jwks_uri": "http://a/jwks"}), "jwks_uri");
        assert!(check_document(ID, b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(check_document(ID, b"{").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn policy() {
        let p = MetadataPolicy {
            allowed_domains: vec!["example.com".into()],
            denied_domains: vec!["bad.example.com".into()],
            ..Default::default()
        };
        assert!(p.host_allowed("example.com").is_ok());
        assert!(p.host_allowed("mcp.example.com").is_ok());
        assert!(p.host_allowed("x.bad.example.com").is_err());
        assert!(p.host_allowed("notexample.com").is_err());
        assert!(p.host_allowed("example.com.evil").is_err());
        assert_eq!(p.cache_seconds(None), 60);
        assert_eq!(p.cache_seconds(Some(0)), 60);
        assert_eq!(p.cache_seconds(Some(600)), 600);
        assert_eq!(p.cache_seconds(Some(10_000_000)), 86_400);
    }
}
