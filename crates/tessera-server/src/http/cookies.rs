//! The browser-flow cookies (RFC 6265): the SSO session cookie and the browser-binding
//! cookie that ties a login transaction to the browser that started it.
//!
//! Both are `HttpOnly` (no script reads them) and `SameSite=Lax` (sent on the top-level
//! navigations the flow is made of, not on cross-site POSTs). When the issuer is https they
//! are `Secure` and carry the `__Host-` prefix (RFC 6265bis §4.1.3.2: host-only, `Path=/`,
//! cannot be planted by a sibling domain or over plain http).

use axum::http::{header, HeaderMap, HeaderValue};

/// Names and attributes for this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub fn for_issuer(issuer: &str) -> Self {
        Self { secure: issuer.starts_with("https://") }
    }

    pub fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-tessera_session"
        } else {
            "tessera_session"
        }
    }

    pub fn browser_name(self) -> &'static str {
        if self.secure {
            "__Host-tessera_browser"
        } else {
            "tessera_browser"
        }
    }

    /// A `Set-Cookie` value. `max_age: None` makes a browser-session cookie.
    pub fn set(self, name: &str, value: &str, max_age: Option<i64>) -> Option<HeaderValue> {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={}", age.max(0)));
        }
        HeaderValue::from_str(&c).ok()
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub fn clear(self, name: &str) -> Option<HeaderValue> {
        self.set(name, "", Some(0))
    }
}

/// The value of cookie `name` in the request, if present and non-empty
/// ([`tessera_core::cookie::value`]).
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    tessera_core::cookie::value(headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_attributes_and_parsing() {
        let https = Cookies::for_issuer("https://id.example.com/");
        assert_eq!(https.session_name(), "__Host-tessera_session");
        assert_eq!(https.set("a", "b", None).unwrap(), "a=b; Path=/; HttpOnly; SameSite=Lax; Secure");
        let http = Cookies::for_issuer("http://127.0.0.1:8080/");
        assert_eq!(
            http.set("tessera_session", "v", Some(60)).unwrap(),
            "tessera_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("x=1; tessera_session=abc; y="));
        assert_eq!(get(&h, "tessera_session").as_deref(), Some("abc"));
        assert_eq!(get(&h, "y"), None);
        assert_eq!(get(&h, "z"), None);
    }
}
