//! `response_type=id_token` (OIDC Core §3.2, issue 17) for a client allowed the implicit
//! grant: an ID token only, in the fragment by default or as a form post, `nonce`
//! required; `token` in any combination refused (RFC 9700 §2.1.2), errors redirected in
//! the response type's default mode once the redirect URI is verified.

use std::collections::BTreeMap;

use serde_json::Value;
use tessera_core::model::{AppType, ClientPatch, TokenEndpointAuthMethod};
use tessera_core::routes;

use crate::oauth_fixture::jwt_parts;
use crate::support_web::*;

async fn implicit_client(app: &WebApp) -> String {
    let c = app
        .state
        .deployment
        .registry
        .create_client(ClientPatch {
            name: Some("Express App".into()),
            app_type: Some(AppType::RegularWeb),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretPost),
            grant_types: Some(vec!["authorization_code".into(), "implicit".into()]),
            callbacks: Some(vec![CALLBACK.into()]),
            is_first_party: Some(true),
            ..Default::default()
        })
        .await
        .expect("client");
    c.client.client_id
}

fn authorize(app: &WebApp, client_id: &str, extra: &[(&'static str, &'static str)]) -> String {
    let mut p: Vec<(&str, &str)> = vec![
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("response_type", "id_token"),
        ("scope", "openid email"),
        ("state", "st-i"),
        ("nonce", "n-implicit"),
    ];
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    app.authorize_url(&p)
}

/// The parameters in a redirect's fragment, which must start at the callback.
fn fragment_of(location: &str) -> BTreeMap<String, String> {
    let (base, fragment) = location.split_once('#').unwrap_or_else(|| panic!("no fragment in {location}"));
    assert_eq!(base, CALLBACK, "{location}");
    url::form_urlencoded::parse(fragment.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[tokio::test]
async fn id_token_is_returned_in_the_fragment_or_posted_and_never_an_access_token() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let client_id = implicit_client(&app).await;
        let d: Value = reqwest::get(app.url(routes::OPENID_CONFIGURATION)).await.unwrap().json().await.unwrap();
        assert_eq!(d["response_types_supported"], serde_json::json!(["code", "id_token"]), "[{backend}]");

        // Fragment, the default for id_token.
        let b = Browser::new();
        let r = b.login(&app, &authorize(&app, &client_id, &[])).await;
        assert_eq!(r.status(), 303, "[{backend}]");
        let f = fragment_of(&location(&r));
        let keys: Vec<&str> = f.keys().map(String::as_str).collect();
        assert_eq!(keys, ["id_token", "iss", "state"], "[{backend}] only the ID token, state and iss");
        assert_eq!((f["state"].as_str(), f["iss"].as_str()), ("st-i", app.issuer.as_str()));
        let (header, claims) = jwt_parts(&f["id_token"]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(claims["nonce"], "n-implicit", "[{backend}] OIDC Core 3.2.2.11: the nonce");
        assert_eq!(claims["aud"], client_id.as_str());
        assert_eq!(claims["sub"], app.user_id.as_str());
        assert_eq!(claims["iss"], app.issuer.as_str());
        assert_eq!(claims["email"], EMAIL, "[{backend}] the email scope's claims are in the ID token");
        assert!(claims.get("at_hash").is_none() && claims["sid"].is_string(), "[{backend}] {claims}");

        // form_post (express-openid-connect's default), with the session now open.
        let r = b.get(&authorize(&app, &client_id, &[("response_mode", "form_post"), ("nonce", "n-2")])).await;
        assert_eq!(r.status(), 200, "[{backend}]");
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!("action=\"{CALLBACK}\"")), "[{backend}] {html}");
        assert_eq!(jwt_parts(&field(&html, "id_token").expect("id_token field")).1["nonce"], "n-2");
        assert_eq!(field(&html, "state").as_deref(), Some("st-i"));
        assert!(field(&html, "access_token").is_none() && field(&html, "code").is_none(), "[{backend}] {html}");

        // The code flow still works for the same client.
        let r = b.get(&authorize(&app, &client_id, &[("response_type", "code")])).await;
        assert!(query_of(&location(&r)).contains_key("code"), "[{backend}]");
    }
}

#[tokio::test]
async fn implicit_refusals_are_redirected_in_the_fragment_with_their_reason() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let client_id = implicit_client(&app).await;
        let no_token = "access tokens are never returned from the authorization endpoint (RFC 9700 section 2.1.2): use response_type code, or id_token for an ID token only";
        let web = app.web.id.clone();
        let cases: Vec<(&str, String, &str, &str)> = vec![
            (
                "client without the implicit grant",
                authorize(&app, &web, &[]),
                "unauthorized_client",
                "the client is not allowed the implicit grant (response_type id_token)",
            ),
            ("token", authorize(&app, &client_id, &[("response_type", "token")]), "unsupported_response_type", no_token),
            (
                "id_token token",
                authorize(&app, &client_id, &[("response_type", "id_token token")]),
                "unsupported_response_type",
                no_token,
            ),
            (
                "token id_token",
                authorize(&app, &client_id, &[("response_type", "token id_token")]),
                "unsupported_response_type",
                no_token,
            ),
            (
                "code id_token",
                authorize(&app, &client_id, &[("response_type", "code id_token")]),
                "unsupported_response_type",
                "response_type must be code or id_token",
            ),
            (
                "no nonce",
                authorize(&app, &client_id, &[("nonce", "")]),
                "invalid_request",
                "nonce is required with response_type id_token",
            ),
            (
                "no openid",
                authorize(&app, &client_id, &[("scope", "email")]),
                "invalid_scope",
                "scope must contain openid with response_type id_token",
            ),
            (
                "query mode",
                authorize(&app, &client_id, &[("response_mode", "query")]),
                "invalid_request",
                "response_mode must be fragment or form_post with response_type id_token",
            ),
        ];
        let b = Browser::new();
        for (name, url, error, description) in cases {
            let r = b.get(&url).await;
            assert_eq!(r.status(), 302, "[{backend}] {name}");
            let f = fragment_of(&location(&r));
            assert_eq!(f.get("error").map(String::as_str), Some(error), "[{backend}] {name}: {f:?}");
            assert_eq!(f.get("error_description").map(String::as_str), Some(description), "[{backend}] {name}");
            assert_eq!(f.get("state").map(String::as_str), Some("st-i"), "[{backend}] {name}");
            assert!(!f.contains_key("id_token"), "[{backend}] {name}");
        }
        // Before the redirect URI is verified nothing is redirected.
        let r = b.get(&authorize(&app, &client_id, &[("redirect_uri", "https://evil.example/cb")])).await;
        assert_eq!(r.status(), 400, "[{backend}]");
        assert!(r.headers().get("location").is_none());
    }
}
