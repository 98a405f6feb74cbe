//! Server-rendered HTML for the browser flow (login, consent, form_post, error and logout
//! pages): escaping, one page frame, and the headers every page carries.
//!
//! No template engine and no third-party resources. Every page has:
//! - `Content-Security-Policy`: `default-src 'self'`, no framing, forms only to ourselves
//!   (and to the client's redirect origin where a form's answer goes there); the one inline
//!   style and the two fixed scripts (form_post's auto-submit, web_message's postMessage)
//!   are allowed by their SHA-256 hashes (CSP3 §2.3.1 hash-source), so no `'unsafe-inline'`.
//! - `X-Frame-Options: DENY` (clickjacking, for browsers without frame-ancestors),
//!   `Referrer-Policy: no-referrer` (codes and transaction ids stay out of Referer),
//!   `X-Content-Type-Options: nosniff`, `Cache-Control: no-store`.
//!
//! The one exception to "no framing" is the web_message response page: a SPA loads it in a
//! hidden iframe, so it may be framed by exactly the one verified web origin it posts to
//! (`frame-ancestors <origin>`, and no `X-Frame-Options`, which cannot name an origin).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tessera_core::Error;

/// The stylesheet, inlined and allowed by hash.
const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 4px #0002}\
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.8rem 0 .3rem}\
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #aab;border-radius:.3rem}\
button{margin-top:1.2rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#2f5bd3;color:#fff;font-size:1rem}\
button.secondary{background:#e3e6ee;color:#1d2330;margin-right:.5rem}.error{color:#b3261e}code{word-break:break-all}";

/// Submits the form_post response (Form Post Response Mode §5 uses an onload handler,
/// which CSP would block; a hashed script does the same).
pub const AUTO_SUBMIT: &str = "document.forms[0].submit();";

/// Posts the web_message response (Auth0's `{type: "authorization_response", response}`)
/// to the window that opened (popup) or framed (silent authentication) this page. The
/// target origin and the parameters are data attributes, so the script is one fixed text
/// allowed by its hash, and the browser itself delivers the message to that origin only.
pub const POST_MESSAGE: &str = "var e=document.getElementById(\"r\");\
var w=window.opener||(window.parent!==window?window.parent:null);\
if(w){w.postMessage({type:\"authorization_response\",response:JSON.parse(e.dataset.response)},e.dataset.origin);}";

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn hash_source(text: &str) -> String {
    format!("'sha256-{}'", STANDARD.encode(tessera_core::crypto::sha256(text.as_bytes())))
}

/// The CSP source expression for the origin of `uri`: `scheme://host[:port]`, or
/// `scheme:` for private-use schemes (RFC 8252 §7.1), which have no host.
pub fn origin_of(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => Some(format!("{}:", u.scheme())),
    }
}

/// The Content-Security-Policy of a page whose forms may post to (or be redirected to)
/// `form_targets` besides this server, that runs `script` (one of the fixed scripts) and
/// that only `frame_ancestor` may frame.
pub fn csp(form_targets: &[String], script: Option<&str>, frame_ancestor: Option<&str>) -> String {
    let mut form_action = String::from("'self'");
    for t in form_targets {
        form_action.push(' ');
        form_action.push_str(t);
    }
    let frame_ancestors = frame_ancestor.unwrap_or("'none'");
    let mut policy = format!(
        "default-src 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}; form-action {form_action}; style-src {}",
        hash_source(STYLE)
    );
    if let Some(script) = script {
        policy.push_str(&format!("; script-src {}", hash_source(script)));
    }
    policy
}

/// The security headers of every HTML page (and of redirects that carry protocol values).
/// `framable`: the CSP names the one origin that may frame it, so no `X-Frame-Options`.
pub fn security_headers(h: &mut HeaderMap, csp: &str, framable: bool) {
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if !framable {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// An HTML page. `body` is already-escaped markup.
pub struct Page {
    pub status: StatusCode,
    pub title: String,
    pub body: String,
    /// Origins forms on this page may submit or be redirected to, besides this server.
    pub form_targets: Vec<String>,
    /// The fixed script the page runs ([`AUTO_SUBMIT`] or [`POST_MESSAGE`]), if any.
    pub script: Option<&'static str>,
    /// The one origin that may frame the page (web_message); otherwise none may.
    pub frame_ancestor: Option<String>,
}

impl Page {
    pub fn new(status: StatusCode, title: &str, body: String) -> Self {
        Self { status, title: title.to_string(), body, form_targets: vec![], script: None, frame_ancestor: None }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let script = self.script.map(|s| format!("<script>{s}</script>")).unwrap_or_default();
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"referrer\" content=\"no-referrer\"><title>{}</title><style>{STYLE}</style></head>\
             <body><main>{}</main>{script}</body></html>\n",
            escape(&self.title),
            self.body
        );
        let mut resp = (self.status, html).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        let policy = csp(&self.form_targets, self.script, self.frame_ancestor.as_deref());
        security_headers(h, &policy, self.frame_ancestor.is_some());
        resp
    }
}

/// A redirect carrying protocol values (codes, transaction ids): never cached, never
/// leaking a Referer. 302 answers a GET, 303 a POST (RFC 9110 §15.4.4).
pub fn redirect(after_post: bool, location: &str) -> Response {
    let status = if after_post { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(v) => {
            h.insert(header::LOCATION, v);
        }
        // Every location is built from validated, percent-encoded parts.
        Err(_) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &Error::server_error("unencodable Location")),
    }
    security_headers(h, &csp(&[], None, None), false);
    resp
}

/// The page an error is shown on when it must not be redirected. The RFC code is shown so
/// that a developer can tell what went wrong; the description is client-safe by design.
pub fn error_page(status: StatusCode, e: &Error) -> Response {
    let body = format!(
        "<h1>Something went wrong</h1><p class=\"error\"><code>{}</code></p><p>{}</p>",
        escape(e.code.as_str()),
        escape(e.description())
    );
    let mut resp = Page::new(status, "Error", body).into_response();
    resp.extensions_mut().insert(e.code);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_origins() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(origin_of("https://app.example.com/cb?x=1").as_deref(), Some("https://app.example.com"));
        assert_eq!(origin_of("http://127.0.0.1:8080/cb").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(origin_of("com.example.app:/cb").as_deref(), Some("com.example.app:"));
        assert!(csp(&["https://a.example".into()], None, None).contains("form-action 'self' https://a.example;"));
        assert!(!csp(&[], None, None).contains("script-src"));
        assert!(csp(&[], None, None).contains("frame-ancestors 'none';"));
        assert!(csp(&[], Some(POST_MESSAGE), Some("https://a.example")).contains("frame-ancestors https://a.example;"));
    }
}
