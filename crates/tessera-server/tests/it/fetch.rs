//! The SSRF-safe fetcher (`tessera_server::fetch`, for client ID metadata documents)
//! against a real https server on loopback: a live `tessera serve` with a certificate from
//! a test CA. Loopback is refused unless the allowance is on; with it on and the CA
//! trusted, a document is fetched; a non-200, an oversized body and a certificate from an
//! untrusted CA are refused.

use tessera_server::fetch::{FetchPolicy, SafeFetcher};

use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};

#[tokio::test]
async fn fetches_https_on_loopback_only_with_the_allowance_and_within_bounds() {
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls()).await;
    let ca = std::fs::read(live.ca_file().expect("a test CA")).unwrap();
    let url = live.url("/.well-known/openid-configuration");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let strict = SafeFetcher::new(FetchPolicy { extra_roots_pem: Some(ca.clone()), ..Default::default() }).unwrap();
    let e = strict.fetch(&url).await.unwrap_err();
    assert!(e.0.contains("may not be fetched"), "loopback refused without the allowance: {e:?}");

    let allowed =
        FetchPolicy { allow_private: true, extra_roots_pem: Some(ca.clone()), max_bytes: 64 * 1024, ..Default::default() };
    let f = SafeFetcher::new(allowed.clone()).unwrap();
    let body = f.fetch(&url).await.unwrap().body;
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["issuer"], live.issuer());

    let e = f.fetch(&live.url("/no/such/document")).await.unwrap_err();
    assert_eq!(e.0, "HTTP status 404");
    let small = SafeFetcher::new(FetchPolicy { max_bytes: 100, ..allowed.clone() }).unwrap();
    let e = small.fetch(&url).await.unwrap_err();
    assert!(e.0.contains("larger than 100 bytes"), "{e:?}");
    let untrusted = SafeFetcher::new(FetchPolicy { extra_roots_pem: None, ..allowed }).unwrap();
    let e = untrusted.fetch(&url).await.unwrap_err();
    assert!(e.0.contains("certificate") || e.0.contains("Certificate"), "unknown CA refused: {e:?}");
    let e = f.fetch(&url.replacen("https://", "http://", 1)).await.unwrap_err();
    assert_eq!(e.0, "only https URLs are fetched");
}
