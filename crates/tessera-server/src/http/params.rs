//! Request parameters for the token, revocation and introspection endpoints: a form body
//! (RFC 6749 §4.1.3) or, as Auth0 accepts, a JSON object, parsed by
//! [`tessera_core::token_request`] (RFC 6749 §3.1: no repeated parameter, empty values
//! omitted); credentials never in the URL; client credentials from Basic and the body.

use axum::http::{header, HeaderMap, Uri};
use tessera_core::client_auth::{parse_basic, ClientCredentials};
use tessera_core::grants::Params;
use tessera_core::Error;

/// Largest accepted body: enough for a client assertion and a DPoP-bound request.
pub const MAX_BODY: usize = 64 * 1024;

/// Parameters that carry credentials or grants and so must never ride in a URL, where
/// they end up in logs and browser history (RFC 6749 §2.3.1, §3.2; RFC 6750 §2.3).
const NEVER_IN_QUERY: &[&str] = &[
    "client_secret",
    "client_assertion",
    "code",
    "code_verifier",
    "refresh_token",
    "password",
    "token",
    "assertion",
    "subject_token",
];

/// The body, or a JSON `invalid_request` (instead of the framework's plain-text 413) when
/// it is larger than [`MAX_BODY`] or unreadable.
pub fn body_or_error(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, Error> {
    body.map_err(|e| {
        Error::invalid_request(format!("the request body is too large or unreadable (at most {MAX_BODY} bytes)"))
            .with_detail(e.to_string())
    })
}

pub fn refuse_credentials_in_query(uri: &Uri) -> Result<(), Error> {
    if let Some(q) = uri.query() {
        if let Some((k, _)) = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| NEVER_IN_QUERY.contains(&k.as_ref())) {
            return Err(Error::invalid_request(format!("{k} must be sent in the request body, not the URL")));
        }
    }
    Ok(())
}

/// Parses the body by its Content-Type ([`tessera_core::token_request::parse_body`]).
pub fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, Error> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    tessera_core::token_request::parse_body(ct, body)
}

/// The client credentials of a request: HTTP Basic and/or body parameters.
/// Returns them with whether Basic was used (a 401 must then name the Basic scheme).
pub fn client_credentials(headers: &HeaderMap, params: &Params) -> Result<(ClientCredentials, bool), Error> {
    let authz: Vec<_> = headers.get_all(header::AUTHORIZATION).iter().collect();
    if authz.len() > 1 {
        return Err(Error::invalid_request("more than one Authorization header"));
    }
    let basic = match authz.first() {
        Some(v) => {
            let v = v.to_str().map_err(|_| Error::invalid_client("malformed Authorization header"))?;
            Some(parse_basic(v)?)
        }
        None => None,
    };
    let used_basic = basic.is_some();
    Ok((
        ClientCredentials {
            basic,
            client_id: params.get("client_id").cloned(),
            client_secret: params.get("client_secret").cloned(),
            client_assertion: params.get("client_assertion").cloned(),
            client_assertion_type: params.get("client_assertion_type").cloned(),
        },
        used_basic,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[test]
    fn body_parsing_table() {
        let form = headers("application/x-www-form-urlencoded; charset=UTF-8");
        let json = headers("application/json");
        let p = parse_body(&form, b"grant_type=authorization_code&code=abc&empty=&x=%2B").unwrap();
        assert_eq!(p.get("code").map(String::as_str), Some("abc"));
        assert_eq!(p.get("x").map(String::as_str), Some("+"));
        assert!(!p.contains_key("empty"));
        assert!(parse_body(&form, b"code=a&code=b").unwrap_err().description().contains("repeated"));
        let p = parse_body(&json, br#"{"grant_type":"authorization_code","code":"abc","n":5}"#).unwrap();
        assert_eq!(p.get("n").map(String::as_str), Some("5"));
        assert!(parse_body(&json, br#"{"code":"a","code":"b"}"#).unwrap_err().description().contains("repeated"));
        assert!(parse_body(&json, br#"{"code":{"x":1}}"#).is_err());
        assert!(parse_body(&json, br#"["code"]"#).is_err());
        assert!(parse_body(&json, br#"{"code":"a"} x"#).is_err());
        assert!(parse_body(&HeaderMap::new(), b"code=a").is_err());
        assert!(parse_body(&headers("text/plain"), b"code=a").is_err());
    }

    #[test]
    fn credentials_never_in_the_query() {
        assert!(refuse_credentials_in_query(&"/oauth/token?client_secret=x".parse().unwrap()).is_err());
        assert!(refuse_credentials_in_query(&"/oauth/token?foo=bar".parse().unwrap()).is_ok());
    }
}
