//! Web origins (RFC 6454 §4, §6.2: `scheme "://" host [ ":" port ]`) as clients register
//! them: Auth0's Allowed Web Origins (`web_origins`, where `response_mode=web_message`
//! may post an authorization response) and Allowed Origins (`allowed_origins`, Auth0's
//! cross-origin authentication).
//!
//! A registered origin is compared by exact string match with the origin of a presented
//! URI, so it must be written in RFC 6454 §6.2's serialization: lower-case scheme and host,
//! the port only when it is not the scheme's default, no path, query, fragment or
//! userinfo. No wildcards (DESIGN decision 7). `https`, or `http` on a loopback host, as for
//! redirect URIs (RFC 9700 §2.1).

use url::Url;

/// Validates a registered origin; `what` names the field in the message.
pub fn validate_registration(origin: &str, what: &str) -> Result<(), String> {
    let shape = || format!("{what} {origin:?} must be an origin: scheme://host[:port], without path, query or fragment");
    if origin.contains('*') {
        return Err(format!("{what} {origin:?} must not contain a wildcard"));
    }
    let url = Url::parse(origin).map_err(|_| shape())?;
    match (url.scheme(), url.host_str()) {
        ("https", Some(h)) if !h.is_empty() => {}
        ("http", Some("127.0.0.1" | "[::1]" | "localhost")) => {}
        ("http", Some(_)) => return Err(format!("{what} {origin:?} must use https (http is allowed only for loopback hosts)")),
        _ => return Err(shape()),
    }
    // RFC 6454 §6.2: the serialization is exactly what a browser sends in `Origin`.
    let canonical = url.origin().ascii_serialization();
    if origin != canonical {
        return Err(format!("{} (here: {canonical:?})", shape()));
    }
    Ok(())
}

/// The RFC 6454 §6.2 serialization of the origin of `uri`, when it has a tuple origin.
pub fn of(uri: &str) -> Option<String> {
    let u = Url::parse(uri).ok()?;
    match u.origin() {
        o @ url::Origin::Tuple(..) => Some(o.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// Whether the origin of `uri` is one of `registered`.
pub fn is_allowed(registered: &[String], uri: &str) -> bool {
    of(uri).is_some_and(|o| registered.contains(&o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_table() {
        for ok in ["https://app.example.com", "https://app.example.com:8443", "http://localhost:3000", "http://127.0.0.1:8080"] {
            assert_eq!(validate_registration(ok, "web origin"), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("https://app.example.com/", "without path"),
            ("https://app.example.com/cb", "without path"),
            ("https://app.example.com?x=1", "without path"),
            ("https://app.example.com#f", "without path"),
            ("https://App.Example.com", "here: \"https://app.example.com\""),
            ("https://app.example.com:443", "here: \"https://app.example.com\""),
            ("https://u@app.example.com", "without path"),
            ("https://*.example.com", "wildcard"),
            ("http://app.example.com", "must use https"),
            ("app.example.com", "must be an origin"),
            ("com.example.app:", "must be an origin"),
            ("", "must be an origin"),
        ] {
            let e = validate_registration(bad, "web origin").expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn matching_is_by_serialized_origin() {
        let reg = vec!["https://app.example.com".to_string(), "http://localhost:3000".to_string()];
        assert!(is_allowed(&reg, "https://app.example.com/callback?x=1"));
        assert!(is_allowed(&reg, "https://app.example.com:443/cb"));
        assert!(is_allowed(&reg, "http://localhost:3000/"));
        assert!(!is_allowed(&reg, "http://localhost:3001/"));
        assert!(!is_allowed(&reg, "https://app.example.com.evil.net/"));
        assert!(!is_allowed(&reg, "http://app.example.com/"));
        assert!(!is_allowed(&reg, "com.example.app:/cb"));
        assert!(!is_allowed(&[], "https://app.example.com/"));
    }
}
