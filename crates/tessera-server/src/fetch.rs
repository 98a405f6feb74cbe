//! An SSRF-safe fetcher for URLs that clients name: client ID metadata documents and their
//! `jwks_uri` (the [`DocumentFetcher`] port of `tessera_core::client_metadata`), and the
//! `jwks_uri` of registered `private_key_jwt` clients (the registry's [`JwksFetcher`] port
//! for client keys). A client that makes Tessera fetch a URL must
//! not reach anything Tessera can reach but the client cannot:
//!
//! - `https` only; redirects are not followed (a 3xx is a refusal), cookies are never kept
//!   or sent, no credentials are added.
//! - The host's addresses are checked after DNS resolution, and the connection goes to the
//!   checked addresses only: the resolver given to the HTTP client returns just those, so
//!   a second, different answer (DNS rebinding) cannot slip in between check and connect.
//!   An IP-literal host is checked directly (the client does not resolve it).
//! - Refused targets: loopback, private (RFC 1918, RFC 4193), link-local (with the cloud
//!   metadata address 169.254.169.254), shared (RFC 6598), unspecified, broadcast,
//!   multicast, documentation, benchmarking and reserved ranges, and IPv4-mapped or NAT64
//!   forms of any of them. `allow_private` (off by default; for tests and private
//!   deployments) lifts that check.
//! - Connect and total timeouts, and a size limit enforced while reading.
//! - `Cache-Control` is read for how long the document may be used (`max-age`; `no-store`
//!   and `no-cache` count as 0); the caller bounds it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tessera_core::client_metadata::{DocumentFetcher, FetchedDocument};
use tessera_core::registry::JwksFetcher;

/// How the fetcher is bounded.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Loopback and private targets allowed (never by default).
    pub allow_private: bool,
    /// PEM CA certificates trusted in addition to the built-in roots.
    pub extra_roots_pem: Option<Vec<u8>>,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_bytes: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_private: false,
            extra_roots_pem: None,
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            max_bytes: 5 * 1024,
        }
    }
}

/// Whether `ip` is an address a client-named URL may not make Tessera connect to.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            // RFC 6052 NAT64 (64:ff9b::/96): the IPv4 address it reaches decides.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return forbidden_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, RFC 4193
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation, RFC 3849
                || s[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated) and the like
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, with the metadata service 169.254.169.254
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space, RFC 6598
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking, RFC 2544
        || o[0] >= 240 // reserved
}

/// The resolver the HTTP client connects through: only checked addresses come out of it.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all.into_iter().filter(|a| allow_private || !forbidden(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no address that may be fetched").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// A refusal or failure, with a message for the log and the client's error description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

pub struct SafeFetcher {
    client: reqwest::Client,
    policy: FetchPolicy,
}

impl SafeFetcher {
    pub fn new(policy: FetchPolicy) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.total_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .pool_max_idle_per_host(0)
            .dns_resolver(Arc::new(GuardedResolver { allow_private: policy.allow_private }))
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &policy.extra_roots_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("the CA bundle is not PEM: {e}"))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| format!("cannot build the fetch HTTP client: {e}"))?;
        Ok(Self { client, policy })
    }

    /// Fetches `url` under the policy; the body on a 200, with its caching lifetime.
    pub async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError> {
        let fail = |m: String| Err(FetchError(m));
        let parsed = url::Url::parse(url).map_err(|e| FetchError(format!("not a URL: {e}")))?;
        if parsed.scheme() != "https" {
            return fail("only https URLs are fetched".into());
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return fail("the URL must not carry credentials".into());
        }
        // An IP literal is connected to without resolution: check it here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
            None => return fail("the URL has no host".into()),
        };
        if literal.is_some_and(|ip| !self.policy.allow_private && forbidden(ip)) {
            return fail("the URL names an address that may not be fetched".into());
        }
        let mut resp = self.client.get(parsed).send().await.map_err(|e| FetchError(format!("request failed: {}", chain(&e))))?;
        if resp.status().is_redirection() {
            return fail("redirects are not followed".into());
        }
        if resp.status() != reqwest::StatusCode::OK {
            return fail(format!("HTTP status {}", resp.status().as_u16()));
        }
        let max_age = resp.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).and_then(max_age);
        let max = self.policy.max_bytes;
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return fail(format!("the document is larger than {max} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError(format!("reading the body failed: {e}")))? {
            if body.len() + chunk.len() > max {
                return fail(format!("the document is larger than {max} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedDocument { body, max_age })
    }
}

#[async_trait]
impl DocumentFetcher for SafeFetcher {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, String> {
        SafeFetcher::fetch(self, url).await.map_err(|e| e.0)
    }
}

/// A client's JWK Set; the registry caches it for its own fixed times (a `max-age` is not
/// needed: an unknown `kid` refetches).
#[async_trait]
impl JwksFetcher for SafeFetcher {
    async fn fetch(&self, url: &str) -> Result<serde_json::Value, String> {
        let doc = SafeFetcher::fetch(self, url).await.map_err(|e| e.0)?;
        serde_json::from_slice(&doc.body).map_err(|e| format!("the JWK Set is not JSON: {e}"))
    }
}

/// RFC 9111 §5.2.2: how many seconds a response may be reused; `no-store` and `no-cache`
/// allow none.
fn max_age(cache_control: &str) -> Option<i64> {
    let mut age = None;
    for directive in cache_control.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return Some(0);
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            age = v.trim_matches('"').parse::<i64>().ok().map(|n| n.max(0));
        }
    }
    age
}

/// An error with its causes (reqwest's own message leaves out why a connection failed).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_address_table() {
        let bad = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ];
        for ip in bad {
            assert!(forbidden(ip.parse().unwrap()), "{ip} must be refused");
        }
        let good = [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
        ];
        for ip in good {
            assert!(!forbidden(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn cache_control() {
        assert_eq!(max_age("public, max-age=600"), Some(600));
        assert_eq!(max_age("max-age=600, no-store"), Some(0));
        assert_eq!(max_age("no-cache"), Some(0));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=x"), None);
    }

    #[tokio::test]
    async fn refusals_before_any_connection() {
        let f = SafeFetcher::new(FetchPolicy::default()).unwrap();
        let table = [
            ("http://example.com/client.json", "only https"),
            ("https://user:pw@example.com/c", "credentials"),
            ("https://127.0.0.1/client.json", "may not be fetched"),
            ("https://[::1]/client.json", "may not be fetched"),
            ("https://169.254.169.254/latest/meta-data", "may not be fetched"),
            ("https://[::ffff:10.0.0.1]/c", "may not be fetched"),
            // localhost resolves (from /etc/hosts) to loopback only.
            ("https://localhost/client.json", "resolves to no address"),
        ];
        for (url, why) in table {
            let e = f.fetch(url).await.unwrap_err();
            assert!(format!("{e:?}").contains(why), "{url}: {e:?}");
        }
    }
}
