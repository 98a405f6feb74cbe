//! Redirect URIs (DESIGN decision 7).
//!
//! - Registration (RFC 6749 §3.1.2, RFC 9700 §2.1, RFC 8252 §7): absolute URI, no fragment,
//!   no userinfo, no wildcard; `https`, or `http` on a loopback host, or (native apps only) a
//!   private-use reverse-domain scheme.
//! - Matching at /authorize and /oauth/token (RFC 9700 §4.1.3: exact string comparison). The
//!   one exception is RFC 8252 §7.3, for native apps only (RFC 9700 §2.1: "except for port
//!   numbers in localhost redirection URIs of native apps"): for `http` on the loopback IP
//!   literals `127.0.0.1` and `[::1]` the port may differ, because such an app binds an
//!   ephemeral port. A web app's loopback callback is a fixed development server, matched
//!   exactly like any other.

use url::Url;

use crate::model::AppType;

/// Schemes that must never receive an authorization response.
const FORBIDDEN_SCHEMES: &[&str] =
    &["javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "view-source", "ftp", "ws", "wss"];

/// Validates a redirect URI (or logout URL) at registration time.
pub fn validate_registration(uri: &str, app_type: AppType) -> Result<(), String> {
    if uri.is_empty() || uri.len() > 2048 {
        return Err("redirect URI must be 1 to 2048 characters".into());
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) || !uri.is_ascii() {
        return Err(format!("redirect URI {uri:?} contains whitespace, control or non-ASCII characters"));
    }
    // RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment component.
    if uri.contains('#') {
        return Err(format!("redirect URI {uri:?} must not contain a fragment"));
    }
    // RFC 9700 §4.1.3: no pattern matching, so no wildcards.
    if uri.contains('*') {
        return Err(format!("redirect URI {uri:?} must not contain a wildcard"));
    }
    let url = Url::parse(uri).map_err(|e| format!("redirect URI {uri:?} is not an absolute URI: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("redirect URI {uri:?} must not contain user information"));
    }
    let scheme = url.scheme();
    if FORBIDDEN_SCHEMES.contains(&scheme) {
        return Err(format!("redirect URI scheme {scheme:?} is not allowed"));
    }
    match scheme {
        "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("redirect URI {uri:?} has no host"));
            }
            Ok(())
        }
        // RFC 8252 §7.3 / RFC 9700 §2.1: plain http only for loopback redirects.
        "http" => match url.host_str() {
            Some("127.0.0.1" | "[::1]" | "localhost") => Ok(()),
            _ => Err(format!("redirect URI {uri:?} must use https (http is allowed only for loopback hosts)")),
        },
        // RFC 8252 §7.1: private-use URI schemes, reverse domain names, for native apps.
        _ if app_type == AppType::Native && scheme.contains('.') => Ok(()),
        _ if app_type == AppType::Native => Err(format!(
            "private-use scheme {scheme:?} must be a reverse domain name such as com.example.app (RFC 8252 section 7.1)"
        )),
        _ => Err(format!("redirect URI scheme {scheme:?} is allowed only for native apps")),
    }
}

/// Returns the registered URI that `presented` matches, if any, for a client of `app_type`.
pub fn find_match<'a>(registered: &'a [String], presented: &str, app_type: AppType) -> Option<&'a String> {
    if let Some(exact) = registered.iter().find(|r| r.as_str() == presented) {
        return Some(exact);
    }
    // RFC 8252 §7.3 / RFC 9700 §2.1: any port on a loopback IP literal, for native apps only.
    if app_type != AppType::Native {
        return None;
    }
    let presented_portless = strip_loopback_port(presented)?;
    registered.iter().find(|r| strip_loopback_port(r).as_deref() == Some(presented_portless.as_str()))
}

/// For `http://127.0.0.1[:port]...` and `http://[::1][:port]...`, the URI without its port;
/// `None` for anything else. Purely textual, so nothing is normalised away.
fn strip_loopback_port(uri: &str) -> Option<String> {
    let (prefix, rest) = ["http://127.0.0.1", "http://[::1]"].iter().find_map(|p| uri.strip_prefix(p).map(|rest| (*p, rest)))?;
    let rest = match rest.strip_prefix(':') {
        Some(after_colon) => {
            let digits = after_colon.bytes().take_while(u8::is_ascii_digit).count();
            // RFC 3986 §3.2.3 / RFC 8252 §7.3: the port of a URI the client can listen on,
            // a 16-bit number; `:99999` is no port, so the URI is not a loopback redirect.
            if digits == 0 || digits > 5 || after_colon[..digits].parse::<u16>().is_err() {
                return None;
            }
            &after_colon[digits..]
        }
        None => rest,
    };
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
        return None;
    }
    Some(format!("{prefix}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_table() {
        let cases: &[(&str, AppType, bool)] = &[
            ("https://app.example.com/callback", AppType::RegularWeb, true),
            ("https://app.example.com/cb?x=1", AppType::RegularWeb, true),
            ("http://127.0.0.1:8080/demo/callback", AppType::RegularWeb, true),
            ("http://[::1]/cb", AppType::Native, true),
            ("http://localhost:3000/cb", AppType::Spa, true),
            ("com.example.app:/oauth2redirect", AppType::Native, true),
            ("com.example.app:/oauth2redirect", AppType::RegularWeb, false),
            ("myapp://callback", AppType::Native, false),
            ("http://app.example.com/cb", AppType::RegularWeb, false),
            ("https://app.example.com/cb#frag", AppType::RegularWeb, false),
            ("https://user:pw@app.example.com/cb", AppType::RegularWeb, false),
            ("https://*.example.com/cb", AppType::RegularWeb, false),
            ("javascript:alert(1)", AppType::Native, false),
            ("data:text/html,hi", AppType::Native, false),
            ("/relative/cb", AppType::RegularWeb, false),
            ("https://app.example.com/c b", AppType::RegularWeb, false),
            ("", AppType::RegularWeb, false),
        ];
        for (uri, app, ok) in cases {
            assert_eq!(validate_registration(uri, *app).is_ok(), *ok, "{uri} as {app:?}");
        }
    }

    /// Regression (issue 22, found by `properties::redirect_uri`): five digits were taken as
    /// a loopback port whatever their value, so `http://127.0.0.1:99999/native`, which is no
    /// URI at all (RFC 3986 §3.2.3 ports are 16 bits), matched a native app's registration.
    #[test]
    fn loopback_port_above_65535_is_not_a_port() {
        let reg = vec!["http://127.0.0.1/native".to_string(), "http://[::1]/v6".to_string()];
        for presented in ["http://127.0.0.1:99999/native", "http://127.0.0.1:65536/native", "http://[::1]:70000/v6"] {
            assert_eq!(find_match(&reg, presented, AppType::Native), None, "{presented}");
            assert!(validate_registration(presented, AppType::Native).is_err(), "{presented}");
        }
        assert!(find_match(&reg, "http://127.0.0.1:65535/native", AppType::Native).is_some());
        assert!(find_match(&reg, "http://[::1]:1/v6", AppType::Native).is_some());
    }

    #[test]
    fn matching_table() {
        let reg = vec![
            "https://app.example.com/cb".to_string(),
            "http://127.0.0.1/native".to_string(),
            "http://[::1]:9000/v6".to_string(),
            "http://localhost:3000/cb".to_string(),
        ];
        let cases: &[(&str, Option<&str>)] = &[
            ("https://app.example.com/cb", Some("https://app.example.com/cb")),
            ("https://app.example.com/cb?x=1", None),
            ("https://app.example.com/CB", None),
            ("https://APP.example.com/cb", None),
            ("https://app.example.com/cb/", None),
            ("https://app.example.com/cb/../cb", None),
            ("https://app.example.com/%2e%2e/cb", None),
            ("https://app.example.com:443/cb", None),
            ("https://evil@app.example.com/cb", None),
            ("https://app.example.com.evil/cb", None),
            ("http://127.0.0.1:51234/native", Some("http://127.0.0.1/native")),
            ("http://127.0.0.1/native", Some("http://127.0.0.1/native")),
            ("http://127.0.0.1:51234/other", None),
            ("http://127.0.0.1:51234@evil.com/native", None),
            ("http://127.0.0.1.evil.com/native", None),
            ("http://[::1]:1234/v6", Some("http://[::1]:9000/v6")),
            // The port exception is for IP literals only (RFC 8252 §8.3).
            ("http://localhost:3001/cb", None),
            ("http://localhost:3000/cb", Some("http://localhost:3000/cb")),
        ];
        for (presented, want) in cases {
            assert_eq!(find_match(&reg, presented, AppType::Native).map(String::as_str), *want, "{presented}");
            // Any other app type: exact matches only.
            let exact = want.filter(|w| w == presented);
            for other in [AppType::RegularWeb, AppType::Spa] {
                assert_eq!(find_match(&reg, presented, other).map(String::as_str), exact, "{other:?} {presented}");
            }
        }
    }
}
