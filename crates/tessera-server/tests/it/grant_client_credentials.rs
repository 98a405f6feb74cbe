//! grant_type=client_credentials (issue 5), Auth0 style, on every store.

use serde_json::Value;

use crate::oauth_fixture::{backends, jwt_parts, Fixture, API};

async fn cc(f: &Fixture, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", f.m2m.id.as_str()),
        ("client_secret", f.m2m.secret.as_deref().unwrap()),
    ];
    form.extend_from_slice(extra);
    let (s, _, v) = f.token(&form, None).await;
    (s, v)
}

#[tokio::test]
async fn client_credentials_with_and_without_a_grant() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let (s, v) = cc(&f, &[("audience", API)]).await;
        assert_eq!((s, v["error"].as_str()), (403, Some("access_denied")), "{backend}: no client grant yet");
        assert_eq!(v["error_description"], format!("Client '{}' is not authorized to access resource server '{API}'", f.m2m.id));
        let r = &f.state.deployment.registry;
        let grant = r.create_grant(&f.m2m.id, API, Some(vec!["read:things".into()])).await.unwrap();
        let (s, v) = cc(&f, &[("audience", API)]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 86_400);
        assert_eq!(v["scope"], "read:things", "default: every granted scope");
        assert!(v.get("refresh_token").is_none() && v.get("id_token").is_none());
        let (h, at) = jwt_parts(v["access_token"].as_str().unwrap());
        assert_eq!(h["typ"], "at+jwt");
        assert_eq!(at["sub"], format!("{}@clients", f.m2m.id));
        assert_eq!(at["gty"], "client-credentials");
        assert_eq!(at["aud"], API);
        assert_eq!(at["client_id"], f.m2m.id.as_str());
        // RFC 8707 resource is an alias.
        assert_eq!(cc(&f, &[("resource", API)]).await.0, 200);
        // Narrower scope: fine. Wider: invalid_scope.
        r.update_grant(&grant.id, vec!["read:things".into(), "write:things".into()]).await.unwrap();
        let (s, v) = cc(&f, &[("audience", API), ("scope", "write:things")]).await;
        assert_eq!((s, v["scope"].as_str()), (200, Some("write:things")));
        r.update_grant(&grant.id, vec!["read:things".into()]).await.unwrap();
        let (s, v) = cc(&f, &[("audience", API), ("scope", "read:things write:things")]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_scope")), "{backend}");
        // Unknown API, missing audience.
        let (s, v) = cc(&f, &[("audience", "https://nope.example")]).await;
        assert_eq!((s, v["error_description"].as_str()), (403, Some("Service not enabled within domain: https://nope.example")));
        let (s, v) = cc(&f, &[]).await;
        assert_eq!((s, v["error"].as_str()), (403, Some("access_denied")));
        // ... unless the tenant has a default audience.
        r.set_default_audience(Some(API)).await.unwrap();
        let (s, v) = cc(&f, &[]).await;
        assert_eq!(s, 200, "{backend}: default audience: {v}");
        assert_eq!(jwt_parts(v["access_token"].as_str().unwrap()).1["aud"], API);
        assert!(r.set_default_audience(Some("https://nope.example")).await.is_err(), "must name an API");
        r.set_default_audience(None).await.unwrap();
        assert_eq!(cc(&f, &[]).await.0, 403, "{backend}: cleared");
        // A wrong secret is still a 401.
        let (s, _, _) = f
            .token(
                &[("grant_type", "client_credentials"), ("audience", API), ("client_id", &f.m2m.id), ("client_secret", "x")],
                None,
            )
            .await;
        assert_eq!(s, 401);
        // A client without the grant type.
        let (s, _, v) = f
            .token(
                &[
                    ("grant_type", "client_credentials"),
                    ("audience", API),
                    ("client_id", &f.post.id),
                    ("client_secret", f.post.secret.as_deref().unwrap()),
                ],
                None,
            )
            .await;
        assert_eq!((s, v["error"].as_str()), (400, Some("unauthorized_client")), "{backend}");
    }
}

/// An API created while the server runs, signing with an algorithm that had no key until
/// then (the registry creates it with the API), issues tokens within a second or two: the
/// server re-reads its keys when it sees the registry change, not only every
/// `keys.reload_interval` (15 s), and never answers 500 for long.
#[tokio::test]
async fn an_api_with_a_new_signing_algorithm_is_usable_at_once() {
    use tessera_core::model::{ResourceServerPatch, SigningAlg};
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let r = &f.state.deployment.registry;
        assert!(f.state.keys.get().signer(SigningAlg::ES256).is_none(), "{backend}: no ES256 key yet");
        let identifier = "https://es256.example";
        r.create_api(ResourceServerPatch {
            identifier: Some(identifier.into()),
            signing_alg: Some(SigningAlg::ES256),
            ..Default::default()
        })
        .await
        .unwrap();
        r.create_grant(&f.m2m.id, identifier, None).await.unwrap();
        let started = std::time::Instant::now();
        let (s, v) = loop {
            let (s, v) = cc(&f, &[("audience", identifier)]).await;
            if s == 200 || started.elapsed() > std::time::Duration::from_secs(5) {
                break (s, v);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(s, 200, "{backend}: {v}");
        assert_eq!(jwt_parts(v["access_token"].as_str().unwrap()).0["alg"], "ES256");
        drop(f);
    }
}
