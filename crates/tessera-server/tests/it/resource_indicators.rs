//! RFC 8707 `resource` at the token endpoint and the device authorization endpoint, with
//! the same meaning as Auth0's `audience` (issue 21): every grant accepts it, an unknown or
//! malformed resource is `invalid_target`, a second `resource` is `invalid_target` (one
//! token serves one API), `resource` and `audience` that disagree are `invalid_target`, and
//! a refresh may name the one audience the grant covered and nothing else. /authorize and
//! PAR are covered by the tables in `authorize.rs` and `par.rs`.

use serde_json::Value;
use tessera_core::model::{AppType, ClientPatch, TokenEndpointAuthMethod};
use tessera_core::routes;

use crate::oauth_fixture::{backends, jwt_parts, Fixture, API, CALLBACK};

const OTHER: &str = "https://other.example";

/// A table row: its name, the extra parameters, the status and error code expected.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], (u16, Option<&'a str>));

/// Expected outcome: a status and, for refusals, the error code.
fn outcome(s: u16, v: &Value) -> (u16, Option<&str>) {
    (s, v["error"].as_str())
}

#[tokio::test]
async fn resource_at_the_token_endpoint_for_every_grant() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let secret = f.post.secret.clone().unwrap();
        let redeem = async |extra: &[(&str, &str)]| {
            let code = f.code(&f.post.id, "openid offline_access read:things", Some(API), None, None).await;
            let mut form = vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CALLBACK),
                ("client_id", f.post.id.as_str()),
                ("client_secret", secret.as_str()),
            ];
            form.extend_from_slice(extra);
            let (s, _, v) = f.token(&form, None).await;
            (s, v)
        };
        // authorization_code: resource may repeat the authorized API, nothing else.
        let table: &[Case] = &[
            ("same resource", &[("resource", API)], (200, None)),
            ("same audience and resource", &[("resource", API), ("audience", API)], (200, None)),
            ("unknown resource", &[("resource", OTHER)], (400, Some("invalid_target"))),
            ("relative resource", &[("resource", "api")], (400, Some("invalid_target"))),
            ("resource with fragment", &[("resource", "https://api.test.example#x")], (400, Some("invalid_target"))),
            ("audience and resource differ", &[("audience", API), ("resource", OTHER)], (400, Some("invalid_target"))),
            ("two resources", &[("resource", API), ("resource", API)], (400, Some("invalid_target"))),
        ];
        for (name, extra, want) in table {
            let (s, v) = redeem(extra).await;
            assert_eq!(outcome(s, &v), *want, "[{backend}] code grant, {name}: {v}");
        }

        // refresh_token: the audience the grant covered, or none; never another.
        let tokens = f.post_tokens().await;
        let rt = tokens["refresh_token"].as_str().unwrap().to_string();
        let refresh = async |extra: &[(&str, &str)]| {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
                ("client_id", f.post.id.as_str()),
                ("client_secret", secret.as_str()),
            ];
            form.extend_from_slice(extra);
            let (s, _, v) = f.token(&form, None).await;
            (s, v)
        };
        let (s, v) = refresh(&[("resource", OTHER)]).await;
        assert_eq!(outcome(s, &v), (400, Some("invalid_target")), "[{backend}] refresh widening: {v}");
        let (s, v) = refresh(&[("resource", API), ("resource", OTHER)]).await;
        assert_eq!(outcome(s, &v), (400, Some("invalid_target")), "[{backend}] refresh with two resources: {v}");
        let (s, v) = refresh(&[("resource", API)]).await;
        assert_eq!(s, 200, "[{backend}] refresh narrowed to the grant's audience: {v}");
        let aud = &jwt_parts(v["access_token"].as_str().unwrap()).1["aud"];
        assert!(aud == API || aud.as_array().is_some_and(|a| a.first() == Some(&Value::from(API))), "{aud}");

        // client_credentials: resource names the API; unknown is invalid_target (an unknown
        // audience stays Auth0's access_denied).
        let r = &f.state.deployment.registry;
        r.create_grant(&f.m2m.id, API, Some(vec!["read:things".into()])).await.unwrap();
        let m2m_secret = f.m2m.secret.clone().unwrap();
        let cc = async |extra: &[(&str, &str)]| {
            let mut form = vec![
                ("grant_type", "client_credentials"),
                ("client_id", f.m2m.id.as_str()),
                ("client_secret", m2m_secret.as_str()),
            ];
            form.extend_from_slice(extra);
            let (s, _, v) = f.token(&form, None).await;
            (s, v)
        };
        let table: &[Case] = &[
            ("resource", &[("resource", API)], (200, None)),
            ("unknown resource", &[("resource", OTHER)], (400, Some("invalid_target"))),
            ("malformed resource", &[("resource", "not a uri")], (400, Some("invalid_target"))),
            ("unknown audience", &[("audience", OTHER)], (403, Some("access_denied"))),
            ("audience and resource differ", &[("audience", API), ("resource", OTHER)], (400, Some("invalid_target"))),
            ("two resources", &[("resource", API), ("resource", API)], (400, Some("invalid_target"))),
        ];
        for (name, extra, want) in table {
            let (s, v) = cc(extra).await;
            assert_eq!(outcome(s, &v), *want, "[{backend}] client_credentials, {name}: {v}");
        }
    }
}

#[tokio::test]
async fn resource_at_device_authorization_and_its_poll() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let r = &f.state.deployment.registry;
        let tv = r
            .create_client(ClientPatch {
                name: Some("tv".into()),
                app_type: Some(AppType::Native),
                token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
                grant_types: Some(vec!["urn:ietf:params:oauth:grant-type:device_code".into(), "refresh_token".into()]),
                ..Default::default()
            })
            .await
            .unwrap()
            .client
            .client_id;
        let start = async |extra: &[(&str, &str)]| {
            let mut form = vec![("client_id", tv.as_str()), ("scope", "openid read:things")];
            form.extend_from_slice(extra);
            f.post_form(routes::DEVICE_CODE, &form, None).await
        };
        let table: &[Case] = &[
            ("unknown resource", &[("resource", OTHER)], (400, Some("invalid_target"))),
            ("two resources", &[("resource", API), ("resource", API)], (400, Some("invalid_target"))),
            ("audience and resource differ", &[("audience", API), ("resource", OTHER)], (400, Some("invalid_target"))),
        ];
        for (name, extra, want) in table {
            let (s, v) = start(extra).await;
            assert_eq!(outcome(s, &v), *want, "[{backend}] device authorization, {name}: {v}");
        }
        let (s, v) = start(&[("resource", API)]).await;
        assert_eq!(s, 200, "[{backend}] {v}");
        let device_code = v["device_code"].as_str().unwrap().to_string();
        let user_code: String = v["user_code"].as_str().unwrap().chars().filter(|c| *c != '-').collect();
        let keyring = r.keyring();
        let stored = f.state.deployment.store.find_device_code_by_user_code(&keyring.hash_handle(&user_code)).await.unwrap();
        assert_eq!(stored.as_ref().and_then(|c| c.audience.as_deref()), Some(API), "[{backend}] resource kept as the audience");
        let approved = f
            .state
            .deployment
            .store
            .decide_device_code(&keyring.hash_handle(&user_code), true, &f.user_id, f.now(), None, f.now())
            .await
            .unwrap();
        assert!(approved);
        let poll = async |extra: &[(&str, &str)]| {
            let mut form = vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code.as_str()),
                ("client_id", tv.as_str()),
            ];
            form.extend_from_slice(extra);
            let (s, _, v) = f.token(&form, None).await;
            (s, v)
        };
        let (s, v) = poll(&[("resource", OTHER)]).await;
        assert_eq!(outcome(s, &v), (400, Some("invalid_target")), "[{backend}] poll naming another API: {v}");
        let (s, v) = poll(&[("resource", API)]).await;
        assert_eq!(s, 200, "[{backend}] poll naming the approved API: {v}");
        // With openid the token also serves /userinfo (Auth0): the API comes first.
        assert_eq!(jwt_parts(v["access_token"].as_str().unwrap()).1["aud"][0], API);
    }
}
