//! POST /oauth/revoke (RFC 7009) and POST /oauth/introspect (RFC 7662), on every store.

use serde_json::{json, Value};
use tessera_core::client_auth::JWT_BEARER_ASSERTION_TYPE;

use crate::oauth_fixture::{backends, Fixture, API, CALLBACK};

async fn issue(f: &Fixture) -> (String, String) {
    let v = f.post_tokens().await;
    (v["access_token"].as_str().unwrap().into(), v["refresh_token"].as_str().unwrap().into())
}

async fn as_post(f: &Fixture, path: &str, token: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form =
        vec![("token", token), ("client_id", f.post.id.as_str()), ("client_secret", f.post.secret.as_deref().unwrap())];
    form.extend_from_slice(extra);
    f.post_form(path, &form, None).await
}

async fn as_basic(f: &Fixture, path: &str, token: &str) -> (u16, Value) {
    f.post_form(path, &[("token", token)], Some((&f.basic.id, f.basic.secret.as_deref().unwrap()))).await
}

#[tokio::test]
async fn introspection_of_active_expired_revoked_and_foreign_tokens() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let (at, rt) = issue(&f).await;
        let (s, v) = as_post(&f, "/oauth/introspect", &at, &[]).await;
        assert_eq!(s, 200);
        assert_eq!(v["active"], true, "{backend}");
        assert_eq!(v["client_id"], f.post.id.as_str());
        assert_eq!(v["sub"], f.user_id.as_str());
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["scope"], "offline_access openid read:things");
        assert_eq!(v["iss"], f.issuer.as_str());
        for k in ["exp", "iat", "jti", "aud"] {
            assert!(!v[k].is_null(), "{k}");
        }
        let (_, v) = as_post(&f, "/oauth/introspect", &rt, &[("token_type_hint", "refresh_token")]).await;
        assert_eq!((v["active"].as_bool(), v["token_type"].as_str()), (Some(true), Some("refresh_token")), "{backend}");
        // Foreign: another client with no grant for the API learns nothing.
        assert_eq!(as_basic(&f, "/oauth/introspect", &at).await.1, serde_json::json!({"active": false}));
        assert_eq!(as_basic(&f, "/oauth/introspect", &rt).await.1["active"], false);
        // ... unless it holds a client grant for the token's audience (an API's own client).
        f.state
            .deployment
            .registry
            .update_client(
                &f.basic.id,
                tessera_core::model::ClientPatch {
                    grant_types: Some(vec!["authorization_code".into(), "client_credentials".into()]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        f.state.deployment.registry.create_grant(&f.basic.id, API, None).await.unwrap();
        assert_eq!(as_basic(&f, "/oauth/introspect", &at).await.1["active"], true, "{backend}: resource server introspects");
        // Unknown and garbage tokens.
        assert_eq!(as_post(&f, "/oauth/introspect", "garbage", &[]).await.1["active"], false);
        // Expired (injected clock).
        f.clock.advance(86_401);
        assert_eq!(as_post(&f, "/oauth/introspect", &at, &[]).await.1["active"], false, "{backend}: expired");
        // Unauthenticated callers are refused.
        let (s, v) = f.post_form("/oauth/introspect", &[("token", &at)], None).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
        let (s, v) = as_post(&f, "/oauth/introspect", "", &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")), "{backend}: token required");
    }
}

#[tokio::test]
async fn revocation_of_each_token_kind_and_of_foreign_tokens() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        // Access token: recorded as revoked, visible to introspection.
        let (at, rt) = issue(&f).await;
        assert_eq!(as_post(&f, "/oauth/revoke", &at, &[("token_type_hint", "access_token")]).await.0, 200, "{backend}");
        assert_eq!(as_post(&f, "/oauth/introspect", &at, &[]).await.1["active"], false, "{backend}: revoked access token");
        assert_eq!(
            as_post(&f, "/oauth/introspect", &rt, &[]).await.1["active"],
            true,
            "revoking an access token leaves the refresh token"
        );
        // Refresh token: the family and its access tokens.
        let (at2, rt2) = issue(&f).await;
        assert_eq!(as_post(&f, "/oauth/revoke", &rt2, &[]).await.0, 200);
        assert_eq!(as_post(&f, "/oauth/introspect", &rt2, &[]).await.1["active"], false, "{backend}");
        assert_eq!(as_post(&f, "/oauth/introspect", &at2, &[]).await.1["active"], false, "{backend}: family's access tokens");
        let (s, _, v) = f
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt2),
                    ("client_id", &f.post.id),
                    ("client_secret", f.post.secret.as_deref().unwrap()),
                ],
                None,
            )
            .await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
        // A foreign token: 200, no effect.
        let (at3, rt3) = issue(&f).await;
        assert_eq!(as_basic(&f, "/oauth/revoke", &rt3).await.0, 200);
        assert_eq!(as_basic(&f, "/oauth/revoke", &at3).await.0, 200);
        assert_eq!(as_post(&f, "/oauth/introspect", &rt3, &[]).await.1["active"], true, "{backend}: foreign revocation ignored");
        assert_eq!(as_post(&f, "/oauth/introspect", &at3, &[]).await.1["active"], true);
        // Unknown token: 200. Missing token: invalid_request. No credentials: 401.
        assert_eq!(as_post(&f, "/oauth/revoke", "no-such-token", &[]).await.0, 200);
        assert_eq!(as_post(&f, "/oauth/revoke", "", &[]).await.1["error"], "invalid_request");
        assert_eq!(f.post_form("/oauth/revoke", &[("token", &rt3)], None).await.0, 401);
    }
}

/// Discovery advertises client_secret_jwt and private_key_jwt, with the token endpoint's
/// algorithms, at both endpoints (RFC 8414 §2): both work there.
#[tokio::test]
async fn client_assertions_authenticate_revocation_and_introspection() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let with_assertion = async |path: &str, token: &str, assertion: String| {
            let form = [("token", token), ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE), ("client_assertion", &assertion)];
            f.post_form(path, &form, None).await
        };
        // The private_key_jwt client (ES256) redeems a code, introspects and revokes its token.
        let code = f.code(&f.key_jwt.id, "openid read:things", Some(API), None, None).await;
        let assertion = f.key_assertion(json!({}));
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ];
        let (s, _, v) = f.token(&form, None).await;
        assert_eq!(s, 200, "{backend}: {v}");
        let at = v["access_token"].as_str().unwrap();
        let (s, v) = with_assertion("/oauth/introspect", at, f.key_assertion(json!({}))).await;
        assert_eq!((s, &v["active"], &v["client_id"]), (200, &json!(true), &json!(f.key_jwt.id)), "{backend}: {v}");
        let (s, _) = with_assertion("/oauth/revoke", at, f.key_assertion(json!({}))).await;
        assert_eq!(s, 200, "{backend}");
        let (s, v) = with_assertion("/oauth/introspect", at, f.key_assertion(json!({}))).await;
        assert_eq!((s, v), (200, json!({"active": false})), "{backend}: revoked");
        // The client_secret_jwt client (HS256) at both endpoints.
        let (s, v) = with_assertion("/oauth/introspect", "garbage", f.secret_assertion(json!({}))).await;
        assert_eq!((s, v), (200, json!({"active": false})), "{backend}");
        let (s, _) = with_assertion("/oauth/revoke", "garbage", f.secret_assertion(json!({}))).await;
        assert_eq!(s, 200, "{backend}");
        // A replayed assertion is refused there as at the token endpoint.
        let (s, v) = with_assertion("/oauth/revoke", "garbage", assertion.clone()).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "{backend}: replayed jti");
    }
}

#[tokio::test]
async fn a_storage_failure_is_503_with_retry_after_never_a_false_200() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let (at, rt) = issue(&f).await;
        // The client is now in the registry cache, so authentication needs no database;
        // recording the revocation does, and the database is gone.
        f.state.deployment.sql.close().await;
        for token in [&at, &rt] {
            let resp = f
                .http
                .post(f.url("/oauth/revoke"))
                .form(&[
                    ("token", token.as_str()),
                    ("client_id", &f.post.id),
                    ("client_secret", f.post.secret.as_deref().unwrap()),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 503, "{backend}");
            assert_eq!(resp.headers()["retry-after"], "5");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["error"], "temporarily_unavailable", "{backend}");
            assert!(!v["error_description"].as_str().unwrap().contains("pool"), "no internals in the body: {v}");
        }
    }
}
