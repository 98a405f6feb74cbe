//! CORS on the endpoints a browser app calls cross-origin (`POST /oauth/token`,
//! `POST /oauth/revoke`, `/userinfo`): preflights are answered, and every response, errors
//! included, lets the page read it — as a SPA (auth0-spa-js) redeeming a PKCE code needs.

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use tessera_core::routes;

use crate::oauth_fixture::{backends, pkce_pair, Fixture, CALLBACK};

const ORIGIN: &str = "https://spa.example.com";

/// The response's `access-control-*` headers, sorted.
fn cors_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut v: Vec<_> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("access-control-"))
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

fn readable() -> Vec<(String, String)> {
    vec![
        ("access-control-allow-origin".into(), "*".into()),
        ("access-control-expose-headers".into(), "WWW-Authenticate, DPoP-Nonce".into()),
    ]
}

/// POSTs `form` from the SPA's origin; returns status, headers and JSON body.
async fn from_spa(f: &Fixture, path: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, HeaderMap, Value) {
    let mut req = f.http.post(f.url(path)).header("Origin", ORIGIN).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn preflights_are_answered_for_any_origin_without_credentials() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        for (path, methods) in [(routes::TOKEN, "POST"), (routes::REVOKE, "POST"), (routes::USERINFO, "GET, POST")] {
            let resp = f
                .http
                .request(Method::OPTIONS, f.url(path))
                .header("Origin", ORIGIN)
                .header("Access-Control-Request-Method", "POST")
                // What auth0-spa-js asks for on every token, refresh and revocation call.
                .header("Access-Control-Request-Headers", "auth0-client,content-type,dpop")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 204, "[{backend}] OPTIONS {path}");
            let want: Vec<(String, String)> = [
                ("access-control-allow-headers", "Authorization, Content-Type, DPoP, Auth0-Client"),
                ("access-control-allow-methods", methods),
                ("access-control-allow-origin", "*"),
                ("access-control-max-age", "600"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            assert_eq!(cors_headers(resp.headers()), want, "[{backend}] OPTIONS {path}: no allow-credentials");
            assert!(resp.bytes().await.unwrap().is_empty(), "[{backend}] OPTIONS {path}: no body");
        }
    }
}

#[tokio::test]
async fn token_and_revocation_responses_are_readable_cross_origin() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        // A public client redeems its PKCE code from the browser.
        let (verifier, challenge) = pkce_pair();
        let code = f.code(&f.public.id, "openid offline_access", None, Some(&challenge), None).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("client_id", f.public.id.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let (s, h, v) = from_spa(&f, routes::TOKEN, &form, None).await;
        assert_eq!(s, 200, "[{backend}] {v}");
        assert_eq!(cors_headers(&h), readable(), "[{backend}] token response");
        let refresh = v["refresh_token"].as_str().expect("refresh token").to_string();

        // A JSON body (which needs the preflight above) is read the same way.
        let resp = f
            .http
            .post(f.url(routes::TOKEN))
            .header("Origin", ORIGIN)
            .json(&json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": f.public.id}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "[{backend}] JSON refresh");
        assert_eq!(cors_headers(resp.headers()), readable(), "[{backend}] JSON refresh");
        let rotated: Value = resp.json().await.unwrap();
        let rotated = rotated["refresh_token"].as_str().expect("rotated refresh token");

        // Errors too: 400 invalid_grant (the code is spent, which also revokes its tokens),
        // and 401 invalid_client with its Basic challenge, which the page may read.
        let (s, h, v) = from_spa(&f, routes::TOKEN, &form, None).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "[{backend}] {v}");
        assert_eq!(cors_headers(&h), readable(), "[{backend}] 400 from the token endpoint");
        let bad = [("grant_type", "client_credentials")];
        let (s, h, v) = from_spa(&f, routes::TOKEN, &bad, Some((&f.m2m.id, "wrong"))).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "[{backend}] {v}");
        assert_eq!(h["www-authenticate"], "Basic realm=\"tessera\", charset=\"UTF-8\"", "[{backend}]");
        assert_eq!(cors_headers(&h), readable(), "[{backend}] 401 from the token endpoint");

        // Revocation: 200, a 400 without the token, a 401 for bad credentials.
        let (s, h, _) = from_spa(&f, routes::REVOKE, &[("token", rotated), ("client_id", &f.public.id)], None).await;
        assert_eq!(s, 200, "[{backend}] revoke");
        assert_eq!(cors_headers(&h), readable(), "[{backend}] revocation response");
        let (s, h, v) = from_spa(&f, routes::REVOKE, &[("client_id", &f.public.id)], None).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")), "[{backend}] {v}");
        assert_eq!(cors_headers(&h), readable(), "[{backend}] 400 from the revocation endpoint");
        let (s, h, v) = from_spa(&f, routes::REVOKE, &[("token", rotated)], Some((&f.basic.id, "wrong"))).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "[{backend}] {v}");
        assert_eq!(cors_headers(&h), readable(), "[{backend}] 401 from the revocation endpoint");

        // Introspection is for resource servers, not pages: no CORS.
        let (s, h, _) = from_spa(&f, routes::INTROSPECT, &[("token", rotated)], Some((&f.basic.id, "wrong"))).await;
        assert_eq!(s, 401);
        assert_eq!(cors_headers(&h), vec![], "[{backend}] introspection");
    }
}
