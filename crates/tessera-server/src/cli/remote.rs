//! The CLI's remote mode: a client of a running Tessera's Management API (`/api/v2/`),
//! as Auth0's `auth0` CLI is of a tenant's. It authenticates with a token given on the
//! command line, or gets one by `client_credentials` for the audience `{issuer}api/v2/`
//! (Auth0 "Get Management API Access Tokens for Production"), and turns the API's Auth0
//! error body into the CLI's one line: `<message> (<statusCode> <errorCode>)`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `Retry-After` the CLI waits out before its one retry of a 429.
const MAX_RETRY_WAIT: u64 = 60;
/// The page size the CLI asks for (Auth0's largest).
const PER_PAGE: usize = 100;

/// Options of the remote mode. They come before the command (`tessera --url … clients
/// list`), because `grants` has a `--client-id` of its own. Without `--url` the others are
/// not used.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Remote options (before the command)")]
pub struct RemoteArgs {
    /// Act on a running Tessera through its Management API instead of a local database:
    /// its base URL, e.g. https://auth.example.com.
    #[arg(long, value_name = "URL", env = "TESSERA_URL")]
    pub url: Option<String>,
    /// A Management API access token (audience `{issuer}api/v2/`).
    #[arg(long, value_name = "TOKEN", env = "TESSERA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Get the token by client_credentials as this client (e.g. from `tessera admin bootstrap`).
    #[arg(long, value_name = "ID", env = "TESSERA_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The client's secret (with --client-id).
    #[arg(long, value_name = "SECRET", env = "TESSERA_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// PEM file of a CA to trust for the server's certificate (besides the system's roots).
    #[arg(long, value_name = "FILE", env = "TESSERA_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// A connection to one server's Management API, with its token.
pub struct Remote {
    http: reqwest::Client,
    /// `{url}/api/v2/`.
    base: Url,
    token: String,
}

/// A request error as one line; the source chain of a transport error is kept, since the
/// outermost message ("error sending request") rarely says what went wrong.
fn transport(url: &Url, e: reqwest::Error) -> String {
    let mut msg = format!("cannot reach {}", url.as_str());
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// `Retry-After` in seconds (RFC 9110 §10.2.3; Tessera sends the delay form).
fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

/// The CLI's line for a refused request: Auth0's error body as `<message> (<statusCode>
/// <errorCode>)`, what a 401 means, how long a 429 asks to wait.
fn refusal(url: &Url, status: StatusCode, body: &str, wait: Option<u64>) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |k: &str| parsed.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_string);
    let mut line = match (field("message"), field("errorCode")) {
        (Some(m), Some(c)) => format!("{m} ({} {c})", status.as_u16()),
        // An OAuth error from the token endpoint (RFC 6749 §5.2).
        _ => match (field("error_description"), field("error")) {
            (Some(m), Some(c)) => format!("{m} ({} {c})", status.as_u16()),
            (None, Some(c)) => format!("{c} ({})", status.as_u16()),
            _ => format!("{} answered HTTP {status}", url.as_str()),
        },
    };
    if status == StatusCode::UNAUTHORIZED {
        line.push_str(": the token is wrong or has expired (give a new --token, or --client-id/--client-secret)");
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        match wait {
            Some(s) => line.push_str(&format!(": rate limited, retry after {s} s")),
            None => line.push_str(": rate limited"),
        }
    }
    line
}

impl Remote {
    /// Connects: builds the https client (trusting `--ca-cert`) and gets the token.
    pub async fn connect(args: &RemoteArgs) -> Result<Self, String> {
        let url = args.url.as_deref().ok_or("--url is required")?;
        let root = Url::parse(url).map_err(|e| format!("--url {url:?} is not a URL: {e}"))?;
        if !matches!(root.scheme(), "https" | "http") || root.host_str().is_none() {
            return Err(format!("--url {url:?} must be an http(s) URL"));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tessera-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &args.ca_cert {
            let pem = std::fs::read(path).map_err(|e| format!("cannot read --ca-cert {}: {e}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("--ca-cert {} is not a PEM certificate: {e}", path.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| format!("cannot set up https: {e}"))?;
        let base = root.join(&format!("{}/api/v2/", root.path().trim_end_matches('/'))).map_err(|e| e.to_string())?;
        let token = match (&args.token, &args.client_id, &args.client_secret) {
            (Some(t), _, _) => t.clone(),
            (None, Some(id), Some(secret)) => Self::client_credentials(&http, &root, id, secret).await?,
            (None, Some(_), None) => return Err("--client-id needs --client-secret".into()),
            _ => return Err("--url needs --token, or --client-id and --client-secret".into()),
        };
        Ok(Self { http, base, token })
    }

    /// Auth0's machine-to-machine flow: `client_credentials` at the token endpoint the
    /// server's discovery document names, for the audience `{issuer}api/v2/`.
    async fn client_credentials(http: &reqwest::Client, root: &Url, id: &str, secret: &str) -> Result<String, String> {
        let discovery = root
            .join(&format!("{}/.well-known/openid-configuration", root.path().trim_end_matches('/')))
            .map_err(|e| e.to_string())?;
        let resp = http.get(discovery.clone()).send().await.map_err(|e| transport(&discovery, e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| transport(&discovery, e))?;
        if !status.is_success() {
            return Err(format!("cannot read the server's discovery document: {}", refusal(&discovery, status, &text, None)));
        }
        let doc: Value =
            serde_json::from_str(&text).map_err(|_| format!("{} is not an OpenID discovery document", discovery.as_str()))?;
        let (Some(issuer), Some(endpoint)) = (doc["issuer"].as_str(), doc["token_endpoint"].as_str()) else {
            return Err(format!("{} names no issuer or token_endpoint", discovery.as_str()));
        };
        let endpoint = Url::parse(endpoint).map_err(|e| format!("the token_endpoint {endpoint:?} is not a URL: {e}"))?;
        let audience = tessera_core::registry::management_audience(issuer);
        let form = [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret), ("audience", &audience)];
        let resp = http.post(endpoint.clone()).form(&form).send().await.map_err(|e| transport(&endpoint, e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| transport(&endpoint, e))?;
        if !status.is_success() {
            return Err(format!("cannot get a Management API token: {}", refusal(&endpoint, status, &text, None)));
        }
        let v: Value = serde_json::from_str(&text).map_err(|_| "the token endpoint answered no JSON".to_string())?;
        v["access_token"].as_str().map(str::to_string).ok_or_else(|| "the token endpoint answered no access_token".into())
    }

    /// The URL of `segments` under `/api/v2/` (each one percent-encoded: an API identifier
    /// is a URL) with `query`.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends one request; a 429 is retried once after its `Retry-After` (as Auth0's CLI
    /// does) when that is at most [`MAX_RETRY_WAIT`]. Answers the body (`Null` when empty).
    async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Value, String> {
        let mut retried = false;
        loop {
            let mut req = self.http.request(method.clone(), url.clone()).bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| transport(&url, e))?;
            let status = resp.status();
            let wait = retry_after(&resp);
            if status == StatusCode::TOO_MANY_REQUESTS && !retried && wait.is_some_and(|w| w <= MAX_RETRY_WAIT) {
                retried = true;
                tokio::time::sleep(Duration::from_secs(wait.unwrap_or(1))).await;
                continue;
            }
            let text = resp.text().await.map_err(|e| transport(&url, e))?;
            if !status.is_success() {
                return Err(refusal(&url, status, &text, wait));
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|_| format!("{} answered no JSON", url.as_str()));
        }
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Value, String> {
        self.send(Method::GET, self.url(segments, query), None).await
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> Result<Value, String> {
        self.send(Method::POST, self.url(segments, &[]), Some(body)).await
    }

    pub async fn patch(&self, segments: &[&str], body: &Value) -> Result<Value, String> {
        self.send(Method::PATCH, self.url(segments, &[]), Some(body)).await
    }

    pub async fn put(&self, segments: &[&str]) -> Result<Value, String> {
        self.send(Method::PUT, self.url(segments, &[]), None).await
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<(), String> {
        self.send(Method::DELETE, self.url(segments, &[]), None).await.map(|_| ())
    }

    /// `take` items of a paged list from position `skip` on (all of them with `None`),
    /// read page by page with `include_totals` (Auth0's offset pagination).
    pub async fn list(
        &self,
        segment: &str,
        key: &str,
        query: &[(&str, String)],
        skip: usize,
        take: Option<usize>,
    ) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let mut page = skip / PER_PAGE;
        let mut drop = skip % PER_PAGE;
        loop {
            let mut q = query.to_vec();
            q.extend([("page", page.to_string()), ("per_page", PER_PAGE.to_string()), ("include_totals", "true".into())]);
            let v = self.get(&[segment], &q).await?;
            let items = v.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
            let total = v.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
            let got = items.len();
            out.extend(items.into_iter().skip(drop));
            drop = 0;
            page += 1;
            if let Some(t) = take {
                if out.len() >= t {
                    out.truncate(t);
                    break;
                }
            }
            if got == 0 || page * PER_PAGE >= total {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://auth.example.com/api/v2/clients").unwrap()
    }

    #[test]
    fn auth0_error_bodies_become_one_line() {
        let body = r#"{"statusCode":409,"error":"Conflict","message":"The user already exists.","errorCode":"auth0_idp_error"}"#;
        assert_eq!(refusal(&url(), StatusCode::CONFLICT, body, None), "The user already exists. (409 auth0_idp_error)");
        let body = r#"{"statusCode":401,"error":"Unauthorized","message":"Invalid token","errorCode":"invalid_token"}"#;
        let line = refusal(&url(), StatusCode::UNAUTHORIZED, body, None);
        assert!(line.starts_with("Invalid token (401 invalid_token): the token is wrong or has expired"), "{line}");
        let body = r#"{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}"#;
        assert_eq!(
            refusal(&url(), StatusCode::TOO_MANY_REQUESTS, body, Some(90)),
            "Global limit has been reached (429 too_many_requests): rate limited, retry after 90 s"
        );
    }

    #[test]
    fn oauth_and_foreign_error_bodies_are_named_too() {
        let body = r#"{"error":"invalid_client","error_description":"client authentication failed"}"#;
        assert_eq!(
            refusal(&url(), StatusCode::UNAUTHORIZED, body, None).split(':').next().unwrap(),
            "client authentication failed (401 invalid_client)"
        );
        assert_eq!(
            refusal(&url(), StatusCode::BAD_GATEWAY, "<html>bad gateway</html>", None),
            "https://auth.example.com/api/v2/clients answered HTTP 502 Bad Gateway"
        );
    }
}
