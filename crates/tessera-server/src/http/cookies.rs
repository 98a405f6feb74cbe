//! The browser-flow cookies (RFC 6265): the SSO session cookie and the browser-binding
//! cookie that ties a login transaction to the browser that started it.
//!
//! Both are `HttpOnly` (no script reads them). When the issuer is https they are `Secure`
//! and carry the `__Host-` prefix (RFC 6265bis §4.1.3.2: host-only, `Path=/`, cannot be
//! planted by a sibling domain or over plain http).
//!
//! The binding cookie is `SameSite=Lax`: it is needed only on the top-level navigations of
//! a login. The session cookie must also reach /authorize in a SPA's hidden iframe
//! (`prompt=none&response_mode=web_message`) when the app is on another site, as Auth0's
//! does: over https it is `SameSite=None; Secure` (RFC 6265bis §5.4.7: sent with cross-site
//! subrequests; browsers refuse `None` without `Secure`). Over plain http (a loopback
//! development issuer) it stays `SameSite=Lax`, which browsers accept there; an app on
//! another loopback port is the same site, so silent authentication still works.

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

    /// A `SameSite=Lax` `Set-Cookie` value. `max_age: None` makes a browser-session cookie.
    pub fn set(self, name: &str, value: &str, max_age: Option<i64>) -> Option<HeaderValue> {
        self.build(name, value, max_age, "Lax")
    }

    /// A `Set-Cookie` value also sent on cross-site subrequests (iframes) when the issuer is
    /// https (`SameSite=None; Secure`); `SameSite=Lax` over http.
    pub fn set_cross_site(self, name: &str, value: &str, max_age: Option<i64>) -> Option<HeaderValue> {
        self.build(name, value, max_age, if self.secure { "None" } else { "Lax" })
    }

    fn build(self, name: &str, value: &str, max_age: Option<i64>, same_site: &str) -> Option<HeaderValue> {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
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
        assert_eq!(https.set_cross_site("a", "b", Some(5)).unwrap(), "a=b; Path=/; HttpOnly; SameSite=None; Secure; Max-Age=5");
        let http = Cookies::for_issuer("http://127.0.0.1:8080/");
        assert_eq!(
            http.set("tessera_session", "v", Some(60)).unwrap(),
            "tessera_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        assert_eq!(http.set_cross_site("a", "b", None).unwrap(), "a=b; Path=/; HttpOnly; SameSite=Lax");
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("x=1; tessera_session=abc; y="));
        assert_eq!(get(&h, "tessera_session").as_deref(), Some("abc"));
        assert_eq!(get(&h, "y"), None);
        assert_eq!(get(&h, "z"), None);
    }
}
