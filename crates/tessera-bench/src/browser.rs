//! A browser-less browser: just enough of one to walk the hosted login (`/authorize` →
//! login form → consent → callback) and come back with an authorization code.
//!
//! It keeps cookies itself (name=value pairs from `Set-Cookie`, sent back in one `Cookie`
//! header; attributes such as `Secure` are ignored because the benchmark talks plain HTTP
//! to 127.0.0.1), follows redirects by hand, and reads the first `<form>` of a page: its
//! `action` and hidden fields. Anything unexpected becomes an error string naming the
//! step, so a broken login page marks the scenario as errored instead of ending the run.

use crate::http::{Conn, Extra, Resp};

/// Cookies of one browser session.
#[derive(Debug, Default, Clone)]
pub struct Jar {
    cookies: Vec<(String, String)>,
}

impl Jar {
    /// Takes every `Set-Cookie` of a response; a later value replaces an earlier one and an
    /// empty value (how servers clear a cookie) removes it.
    pub fn absorb(&mut self, resp: &Resp) {
        for v in resp.headers.get_all("set-cookie") {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim().to_string(), value.trim().to_string());
            self.cookies.retain(|(n, _)| *n != name);
            if !value.is_empty() {
                self.cookies.push((name, value));
            }
        }
    }

    pub fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        Some(self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; "))
    }
}

/// The first form of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub action: String,
    /// Hidden inputs, in document order.
    pub hidden: Vec<(String, String)>,
    pub has_password: bool,
    /// A `<button name="decision">`: the consent page.
    pub has_decision: bool,
}

/// Decodes the entities the server's escaper produces, plus numeric ones.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of attribute `name` in one tag's text (`<input type="hidden" name=x ...>`).
fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(name) {
        let start = from + pos;
        from = start + name.len();
        // Must be a whole attribute name: preceded by whitespace, followed by `=`.
        if !lower[..start].ends_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let after = tag[from..].trim_start();
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let raw = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value.split(|c: char| c.is_ascii_whitespace() || c == '>').next().unwrap_or(""),
        };
        return Some(unescape(raw));
    }
    None
}

/// The tags named `name` (e.g. `input`) in `html`, as their text between `<` and `>`.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let lower = html.to_ascii_lowercase();
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&open) {
        let start = from + pos;
        let end = lower[start..].find('>').map(|e| start + e).unwrap_or(lower.len());
        out.push(&html[start..end]);
        from = end;
    }
    out
}

/// The first `<form>` of `html`.
pub fn first_form(html: &str) -> Option<Form> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<form")?;
    let end = lower[start..].find("</form").map(|e| start + e).unwrap_or(html.len());
    let inner = &html[start..end];
    let form_tag = tags(inner, "form").into_iter().next()?;
    let mut hidden = Vec::new();
    let mut has_password = false;
    for input in tags(inner, "input") {
        let kind = attr(input, "type").unwrap_or_default().to_ascii_lowercase();
        let name = attr(input, "name").unwrap_or_default();
        if kind == "hidden" && !name.is_empty() {
            hidden.push((name, attr(input, "value").unwrap_or_default()));
        } else if kind == "password" || name == "password" {
            has_password = true;
        }
    }
    let has_decision = tags(inner, "button").iter().any(|b| attr(b, "name").as_deref() == Some("decision"));
    Some(Form { action: attr(form_tag, "action").unwrap_or_default(), hidden, has_password, has_decision })
}

/// A server URL as a path for our connection: absolute URLs on the server lose their
/// origin; relative ones are resolved against `base` (the page's path).
pub fn to_path(origin: &str, base: &str, target: &str) -> Result<String, String> {
    if let Some(rest) = target.strip_prefix(origin) {
        return Ok(if rest.is_empty() { "/".into() } else { rest.to_string() });
    }
    if target.starts_with('/') {
        return Ok(target.to_string());
    }
    if target.contains("://") {
        return Err(format!("the flow left the server: {target}"));
    }
    let base_url = url::Url::parse(&format!("{origin}{base}")).map_err(|e| e.to_string())?;
    let joined = base_url.join(target).map_err(|e| e.to_string())?;
    let mut path = joined.path().to_string();
    if let Some(q) = joined.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(path)
}

/// What the browser needs to know to log in.
#[derive(Debug, Clone)]
pub struct Login {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub origin: String,
    pub redirect_uri: String,
    pub username: String,
    pub password: String,
}

/// Most steps a login takes: authorize → login page → POST → (consent → POST) → callback,
/// with room for an extra redirect or two.
const MAX_STEPS: usize = 12;

/// Follows `/authorize` (given as a path with its query) through login and consent until
/// the redirect to the client, and returns the `code`. With a session cookie in `jar`,
/// this is a single request.
pub async fn authorize(conn: &mut Conn, jar: &mut Jar, login: &Login, authorize_path: &str) -> Result<String, String> {
    let mut path = authorize_path.to_string();
    let mut resp = get(conn, jar, &path).await?;
    for _ in 0..MAX_STEPS {
        jar.absorb(&resp);
        match resp.status {
            301 | 302 | 303 | 307 => {
                let location = resp.header("location").ok_or("a redirect without Location")?.to_string();
                if location.starts_with(&login.redirect_uri) {
                    return code_from_callback(&location);
                }
                path = to_path(&login.origin, &path, &location)?;
                resp = get(conn, jar, &path).await?;
            }
            200 => {
                let page = resp.text();
                let form = first_form(&page).ok_or_else(|| format!("no form on the page at {}", short(&path)))?;
                let mut fields: Vec<(&str, &str)> = form.hidden.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                if form.has_password {
                    fields.push(("username", &login.username));
                    fields.push(("password", &login.password));
                } else if form.has_decision {
                    fields.push(("decision", "allow"));
                } else {
                    return Err(format!("unexpected form on the page at {}", short(&path)));
                }
                let action = if form.action.is_empty() { path.clone() } else { to_path(&login.origin, &path, &form.action)? };
                let cookie = jar.header();
                let extra = Extra { cookie: cookie.as_deref(), authorization: None };
                let body = crate::http::form(&fields);
                resp = conn.post_form(&action, &extra, body).await.map_err(|e| format!("POST {}: {e}", short(&action)))?;
                path = action;
            }
            _ => return Err(format!("{} at {}", resp.describe(), short(&path))),
        }
    }
    Err("the login flow did not reach the callback".into())
}

async fn get(conn: &mut Conn, jar: &Jar, path: &str) -> Result<Resp, String> {
    let cookie = jar.header();
    let extra = Extra { cookie: cookie.as_deref(), authorization: None };
    conn.get(path, &extra).await.map_err(|e| format!("GET {}: {e}", short(path)))
}

fn short(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// `code` from the callback URL, or the OAuth error it carries.
fn code_from_callback(location: &str) -> Result<String, String> {
    let url = url::Url::parse(location).map_err(|e| format!("bad callback URL: {e}"))?;
    let mut code = None;
    let mut error = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => error = Some(format!("{}: {v}", error.unwrap_or_default())),
            _ => {}
        }
    }
    match (code, error) {
        (Some(c), _) => Ok(c),
        (None, Some(e)) => Err(format!("the callback carried an error: {e}")),
        (None, None) => Err("the callback carried no code".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_login_form() {
        let html = r#"<h1>Log in</h1><form method="post" action="http://127.0.0.1:8080/u/login">
            <input type="hidden" name="txn" value="a&amp;b"><input type='hidden' name='csrf' value="x&#39;y&#x27;z">
            <input id="username" name="username" type="text" value="" required>
            <input id="password" name="password" type="password" required>
            <button type="submit">Continue</button></form><form action="/other"></form>"#;
        let f = first_form(html).unwrap();
        assert_eq!(f.action, "http://127.0.0.1:8080/u/login");
        assert_eq!(f.hidden, vec![("txn".into(), "a&b".into()), ("csrf".into(), "x'y'z".into())]);
        assert!(f.has_password);
        assert!(!f.has_decision);
    }

    #[test]
    fn reads_the_consent_form() {
        let html = r#"<form method="post" action="/u/consent"><input type="hidden" name="txn" value="t">
            <button type="submit" name="decision" value="deny">Deny</button>
            <button type="submit" name="decision" value="allow">Allow</button></form>"#;
        let f = first_form(html).unwrap();
        assert!(f.has_decision && !f.has_password);
        assert_eq!(f.action, "/u/consent");
    }

    #[test]
    fn unescapes_entities() {
        assert_eq!(unescape("&lt;a&gt; &quot;&amp;&quot; &#39;&#x27; & &bogus; &"), "<a> \"&\" '' & &bogus; &");
    }

    #[test]
    fn resolves_paths() {
        let o = "http://127.0.0.1:9000";
        assert_eq!(to_path(o, "/authorize?x", "http://127.0.0.1:9000/u/login?txn=1").unwrap(), "/u/login?txn=1");
        assert_eq!(to_path(o, "/authorize?x", "/u/login").unwrap(), "/u/login");
        assert_eq!(to_path(o, "/u/login?txn=1", "consent?txn=2").unwrap(), "/u/consent?txn=2");
        assert!(to_path(o, "/", "https://elsewhere.example/").is_err());
    }

    #[test]
    fn cookies_replace_and_clear() {
        let mut jar = Jar::default();
        let mut resp = Resp { status: 200, headers: Default::default(), body: Default::default() };
        resp.headers.append("set-cookie", "a=1; Path=/; HttpOnly".parse().unwrap());
        resp.headers.append("set-cookie", "b=2".parse().unwrap());
        jar.absorb(&resp);
        assert_eq!(jar.header().as_deref(), Some("a=1; b=2"));
        let mut resp2 = Resp { status: 200, headers: Default::default(), body: Default::default() };
        resp2.headers.append("set-cookie", "a=; Max-Age=0".parse().unwrap());
        resp2.headers.append("set-cookie", "b=3".parse().unwrap());
        jar.absorb(&resp2);
        assert_eq!(jar.header().as_deref(), Some("b=3"));
    }

    #[test]
    fn callback_code_or_error() {
        assert_eq!(code_from_callback("http://127.0.0.1:9/cb?code=abc&state=s").unwrap(), "abc");
        assert!(code_from_callback("http://127.0.0.1:9/cb?error=access_denied").unwrap_err().contains("access_denied"));
    }
}
