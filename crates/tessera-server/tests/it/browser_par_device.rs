//! Issue 20 in a real headless Chromium: a pushed authorization request (RFC 9126) whose
//! `request_uri` the browser takes to /authorize and the real login page, and the device
//! flow (RFC 8628) approved by a person on the real /activate page, with the token endpoint
//! polled as a device would.

use serde_json::Value;
use tessera_core::model::{AppType, ClientPatch, TokenEndpointAuthMethod};
use tessera_core::routes;

use crate::browser::{callback_listener, chromedriver, next_callback, params, wait_for_text, Driver};
use crate::oauth_fixture::{jwt_parts, pkce_pair};
use crate::support_web::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pushed_request_and_a_device_code_approved_in_a_real_browser() {
    let Some(chromedriver) = chromedriver() else { return };
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let (port, mut hits) = callback_listener().await;
        let callback = format!("http://127.0.0.1:{port}/cb");
        let registry = &app.state.deployment.registry;
        let web = registry
            .create_client(ClientPatch {
                name: Some("PAR Browser App".into()),
                app_type: Some(AppType::RegularWeb),
                token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretBasic),
                grant_types: Some(vec!["authorization_code".into()]),
                callbacks: Some(vec![callback.clone()]),
                require_pushed_authorization_requests: Some(true),
                ..Default::default()
            })
            .await
            .unwrap();
        let (id, secret) = (web.client.client_id.clone(), web.client_secret.clone().unwrap());
        let http = reqwest::Client::new();

        // The client pushes the request; the browser carries only client_id + request_uri.
        let (verifier, challenge) = pkce_pair();
        let pushed: Value = http
            .post(app.url(routes::PAR))
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("response_type", "code"),
                ("redirect_uri", callback.as_str()),
                ("scope", "openid email"),
                ("state", "par-state"),
                ("nonce", "par-nonce"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let request_uri = pushed["request_uri"].as_str().unwrap_or_else(|| panic!("[{backend}] {pushed}"));
        let driver = Driver::start(&chromedriver).await;
        let authorize = format!(
            "{}?client_id={id}&request_uri={}",
            app.url(routes::AUTHORIZE),
            url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>()
        );
        driver.goto(&authorize).await;
        driver.type_into("input[name=username]", EMAIL).await;
        driver.type_into("input[name=password]", PASSWORD).await;
        driver.click("button[type=submit]").await;
        let hit = next_callback(&mut hits).await;
        let q = params(hit.target.split_once('?').map(|(_, q)| q).unwrap_or(""));
        assert_eq!(q.get("state").map(String::as_str), Some("par-state"), "[{backend}] {hit:?}");
        let code = q.get("code").unwrap_or_else(|| panic!("[{backend}] no code: {hit:?}"));
        let tokens: Value = http
            .post(app.url(routes::TOKEN))
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", callback.as_str()),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap_or_else(|| panic!("[{backend}] {tokens}")));
        assert_eq!((claims["nonce"].as_str(), claims["email"].as_str()), (Some("par-nonce"), Some(EMAIL)), "[{backend}]");
        // The same request_uri a second time is refused (single use).
        driver.goto(&authorize).await;
        assert!(wait_for_text(&driver, "invalid_request_uri").await, "[{backend}] a reused request_uri");

        // The device flow: the TV shows a code, the person approves it on /activate (signed in
        // already in this browser), the TV's next poll gets tokens.
        let tv = registry
            .create_client(ClientPatch {
                name: Some("Living Room TV".into()),
                app_type: Some(AppType::Native),
                token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
                grant_types: Some(vec![DEVICE_GRANT.into()]),
                ..Default::default()
            })
            .await
            .unwrap();
        let tv_id = tv.client.client_id;
        let started: Value = http
            .post(app.url(routes::DEVICE_CODE))
            .form(&[("client_id", tv_id.as_str()), ("scope", "openid profile")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let device_code = started["device_code"].as_str().unwrap_or_else(|| panic!("[{backend}] {started}")).to_string();
        let poll = || {
            http.post(app.url(routes::TOKEN))
                .form(&[("grant_type", DEVICE_GRANT), ("device_code", device_code.as_str()), ("client_id", tv_id.as_str())])
                .send()
        };
        let pending: Value = poll().await.unwrap().json().await.unwrap();
        assert_eq!(pending["error"], "authorization_pending", "[{backend}] {pending}");
        driver.goto(started["verification_uri"].as_str().unwrap()).await;
        // Typed as a person would: lower case, without the dash.
        let typed = started["user_code"].as_str().unwrap().replace('-', "").to_lowercase();
        driver.type_into("input[name=user_code]", &typed).await;
        driver.click("button[type=submit]").await;
        assert!(wait_for_text(&driver, "Living Room TV").await, "[{backend}] the approval page names the app");
        driver.click("button[value=allow]").await;
        assert!(wait_for_text(&driver, "Device connected").await, "[{backend}] approved");
        app.clock.advance(10);
        let resp = poll().await.unwrap();
        let status = resp.status().as_u16();
        let tokens: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "[{backend}] {tokens}");
        let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
        assert_eq!(
            (claims["sub"].as_str(), claims["aud"].as_str()),
            (Some(app.user_id.as_str()), Some(tv_id.as_str())),
            "[{backend}]"
        );
        app.clock.advance(10);
        let again: Value = poll().await.unwrap().json().await.unwrap();
        assert_eq!(again["error"], "invalid_grant", "[{backend}] a device code yields tokens once: {again}");
        driver.quit().await;
    }
}
