//! grant_type=refresh_token (issue 5): rotation with and without a reuse interval, reuse
//! detection, expiry with an injected clock, scope narrowing, client binding, and
//! concurrent refreshes — on every store.

use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, RefreshToken, TokenResponse};
use serde_json::Value;
use tessera_core::model::{ClientPatch, RotationType};
use tessera_core::state::{AccessTokenRecord, Issuance, RefreshFamily, RefreshTokenRecord};

use crate::oauth_fixture::{backends, jwt_parts, Fixture, API};

/// Redeems a fresh code (openid offline_access read:things) for the post client.
async fn first_tokens(f: &Fixture) -> Value {
    f.post_tokens().await
}

async fn refresh(f: &Fixture, token: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", f.post.id.as_str()),
        ("client_secret", f.post.secret.as_deref().unwrap()),
    ];
    form.extend_from_slice(extra);
    let (s, _, v) = f.token(&form, None).await;
    (s, v)
}

async fn set_policy(f: &Fixture, rotation: RotationType, leeway: i64) {
    f.state
        .deployment
        .registry
        .update_client(&f.post.id, ClientPatch { rotation_type: Some(rotation), leeway: Some(leeway), ..Default::default() })
        .await
        .unwrap();
}

#[tokio::test]
async fn non_rotating_tokens_are_reusable_and_id_tokens_keep_sub_and_auth_time() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let first = first_tokens(&f).await;
        let rt = first["refresh_token"].as_str().unwrap();
        let (_, id0) = jwt_parts(first["id_token"].as_str().unwrap());
        // Driven by the openidconnect client, as an RP would.
        let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(f.issuer.clone()).unwrap(), &f.http).await.unwrap();
        let client = CoreClient::from_provider_metadata(
            meta,
            ClientId::new(f.post.id.clone()),
            Some(ClientSecret::new(f.post.secret.clone().unwrap())),
        )
        .set_auth_type(openidconnect::AuthType::RequestBody);
        for _ in 0..2 {
            f.clock.advance(10);
            let resp = client
                .exchange_refresh_token(&RefreshToken::new(rt.into()))
                .unwrap()
                .request_async(&f.http)
                .await
                .expect("refresh");
            assert!(resp.refresh_token().is_none(), "{backend}: non-rotating returns no new refresh token");
            let (_, id) = jwt_parts(&resp.id_token().expect("openid → ID token").to_string());
            assert_eq!(id["sub"], id0["sub"]);
            assert_eq!(id["auth_time"], id0["auth_time"], "{backend}: auth_time of the original authentication");
            assert!(id["iat"].as_i64() > id0["iat"].as_i64());
            let (_, at) = jwt_parts(resp.access_token().secret());
            assert_eq!(at["aud"][0], API);
        }
        // Narrower scope is fine; wider is invalid_scope.
        let (s, v) = refresh(&f, rt, &[("scope", "read:things")]).await;
        assert_eq!((s, v["scope"].as_str()), (200, Some("read:things")), "{backend}");
        assert!(v.get("id_token").is_none(), "no openid in the narrowed scope");
        let (s, v) = refresh(&f, rt, &[("scope", "read:things write:things")]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_scope")), "{backend}");
        // Another client cannot use it.
        let (s, _, v) = f
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt),
                    ("client_id", &f.basic.id),
                    ("client_secret", f.basic.secret.as_deref().unwrap()),
                ],
                None,
            )
            .await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: bound to its client");
    }
}

#[tokio::test]
async fn rotation_without_leeway_detects_any_reuse() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        set_policy(&f, RotationType::Rotating, 0).await;
        let first = first_tokens(&f).await;
        let t0 = first["refresh_token"].as_str().unwrap().to_string();
        let (s, v1) = refresh(&f, &t0, &[]).await;
        assert_eq!(s, 200);
        let t1 = v1["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(t0, t1, "{backend}: rotation issues a new token");
        let (s, v2) = refresh(&f, &t1, &[]).await;
        assert_eq!(s, 200);
        let t2 = v2["refresh_token"].as_str().unwrap().to_string();
        // Presenting t0 again is reuse: the family (t2 included) is revoked.
        let (s, v) = refresh(&f, &t0, &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}");
        let (s, v) = refresh(&f, &t2, &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: family revoked");
        let events = f.state.deployment.store.list_audit(20).await.unwrap();
        assert!(events.iter().any(|e| e.kind == "refresh_token_reuse_detected"), "{backend}");
    }
}

#[tokio::test]
async fn rotation_with_leeway_returns_the_same_successor_to_a_retry() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        set_policy(&f, RotationType::Rotating, 30).await;
        let first = first_tokens(&f).await;
        let t0 = first["refresh_token"].as_str().unwrap().to_string();
        let (_, v1) = refresh(&f, &t0, &[]).await;
        let t1 = v1["refresh_token"].as_str().unwrap().to_string();
        f.clock.advance(5);
        let (s, retry) = refresh(&f, &t0, &[]).await;
        assert_eq!(s, 200, "{backend}: retry inside the leeway");
        assert_eq!(retry["refresh_token"].as_str(), Some(t1.as_str()), "{backend}: same successor, no new branch");
        // t1 rotates to t2; now t0 is no longer the immediately previous token: reuse.
        let (_, v2) = refresh(&f, &t1, &[]).await;
        let t2 = v2["refresh_token"].as_str().unwrap().to_string();
        let (s, v) = refresh(&f, &t0, &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: second-to-last token");
        let (s, _) = refresh(&f, &t2, &[]).await;
        assert_eq!(s, 400, "{backend}: the family is revoked");
        // Outside the leeway even the immediately previous token is reuse.
        let first = first_tokens(&f).await;
        let u0 = first["refresh_token"].as_str().unwrap().to_string();
        let (_, w) = refresh(&f, &u0, &[]).await;
        let u1 = w["refresh_token"].as_str().unwrap().to_string();
        f.clock.advance(31);
        assert_eq!(refresh(&f, &u0, &[]).await.0, 400, "{backend}: after the leeway");
        assert_eq!(refresh(&f, &u1, &[]).await.0, 400, "{backend}: family revoked");
    }
}

#[tokio::test]
async fn absolute_and_idle_expiry() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        f.state
            .deployment
            .registry
            .update_client(
                &f.post.id,
                ClientPatch {
                    rotation_type: Some(RotationType::Rotating),
                    token_lifetime: Some(1000),
                    idle_token_lifetime: Some(300),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut t = first_tokens(&f).await["refresh_token"].as_str().unwrap().to_string();
        // Used every 299 s the idle limit never bites; the absolute one does.
        for _ in 0..3 {
            f.clock.advance(299);
            let (s, v) = refresh(&f, &t, &[]).await;
            assert_eq!(s, 200, "{backend}: {v}");
            t = v["refresh_token"].as_str().unwrap().to_string();
        }
        f.clock.advance(200); // 1097 s after issuance: past the absolute lifetime.
        let (s, v) = refresh(&f, &t, &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: absolute");
        let t = first_tokens(&f).await["refresh_token"].as_str().unwrap().to_string();
        f.clock.advance(301);
        let (s, v) = refresh(&f, &t, &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: idle");
    }
}

#[tokio::test]
async fn ten_parallel_refreshes_leave_one_family_and_no_5xx() {
    for backend in backends() {
        for leeway in [30, 0] {
            let f = Fixture::start(backend).await;
            set_policy(&f, RotationType::Rotating, leeway).await;
            let t0 = first_tokens(&f).await["refresh_token"].as_str().unwrap().to_string();
            let mut tasks = Vec::new();
            for _ in 0..10 {
                let http = f.http.clone();
                let url = f.url("/oauth/token");
                let form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", t0.clone()),
                    ("client_id", f.post.id.clone()),
                    ("client_secret", f.post.secret.clone().unwrap()),
                ];
                tasks.push(tokio::spawn(async move {
                    let r = http.post(url).form(&form).send().await.unwrap();
                    let s = r.status().as_u16();
                    (s, r.json::<Value>().await.unwrap())
                }));
            }
            let mut successors = std::collections::BTreeSet::new();
            let mut failures = 0;
            for t in tasks {
                let (s, v) = t.await.unwrap();
                match s {
                    200 => {
                        successors.insert(v["refresh_token"].as_str().unwrap().to_string());
                    }
                    400 => {
                        assert_eq!(v["error"], "invalid_grant");
                        failures += 1;
                    }
                    other => panic!("{backend}/leeway {leeway}: status {other}: {v}"),
                }
            }
            if leeway > 0 {
                // Every request is the same retry: one successor, family alive.
                assert_eq!((successors.len(), failures), (1, 0), "{backend}/leeway {leeway}");
                let head = successors.into_iter().next().unwrap();
                assert_eq!(refresh(&f, &head, &[]).await.0, 200, "{backend}: the one family lives on");
            } else {
                // Without a reuse interval concurrent use is reuse: at most one success, and the
                // family is then revoked — never two live branches.
                assert!(successors.len() <= 1, "{backend}: {successors:?}");
                for s in successors {
                    assert_eq!(refresh(&f, &s, &[]).await.0, 400, "{backend}: no second branch survives");
                }
            }
        }
    }
}

#[tokio::test]
async fn blocking_the_user_or_disabling_rotation_revokes_families() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        set_policy(&f, RotationType::Rotating, 0).await;
        let t = first_tokens(&f).await["refresh_token"].as_str().unwrap().to_string();
        set_policy(&f, RotationType::NonRotating, 0).await;
        assert_eq!(refresh(&f, &t, &[]).await.0, 400, "{backend}: rotating → non-rotating revokes");
        let t = first_tokens(&f).await["refresh_token"].as_str().unwrap().to_string();
        f.state.deployment.registry.set_blocked(&f.user_id, true).await.unwrap();
        assert_eq!(refresh(&f, &t, &[]).await.0, 400, "{backend}: blocked user");
        f.state.deployment.registry.set_blocked(&f.user_id, false).await.unwrap();
        assert_eq!(refresh(&f, &t, &[]).await.0, 400, "{backend}: unblocking does not resurrect the family");
    }
}

/// A refresh token issued before codes and refresh tokens carried their issue time (43
/// base64url characters, stored under its plain keyed hash) still rotates after the upgrade;
/// its successor is an ordered one, and the old token is then spent.
#[tokio::test]
async fn a_refresh_token_issued_before_ordered_handles_still_rotates() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        set_policy(&f, RotationType::Rotating, 0).await;
        let (keyring, store) = (&f.state.deployment.keyring, &f.state.deployment.store);
        let scope = "openid offline_access read:things";
        let code = f.code(&f.post.id, scope, Some(API), None, None).await;
        let now = f.now();
        let old = tessera_core::crypto::random_token::<32>();
        let family_id = "rtf_issued_before".to_string();
        let family = RefreshFamily {
            family_id: family_id.clone(),
            client_id: f.post.id.clone(),
            user_id: f.user_id.clone(),
            scope: scope.into(),
            audience: Some(API.into()),
            nonce: None,
            auth_time: now - 5,
            sid: None,
            dpop_jkt: None,
            created_at: now,
            absolute_expires_at: now + 30 * 86_400,
            revoked_at: None,
        };
        let token = RefreshTokenRecord {
            token_hash: keyring.hash_handle(&old),
            family_id: family_id.clone(),
            generation: 0,
            created_at: now,
            idle_expires_at: now + 86_400,
            superseded_at: None,
            successor_hash: None,
            successor_token: None,
        };
        let access_token = AccessTokenRecord {
            jti: "jti-issued-before".into(),
            client_id: f.post.id.clone(),
            family_id: Some(family_id),
            code_hash: Some(keyring.hash_handle(&code)),
            expires_at: now + 3600,
        };
        let issuance = Issuance { access_token, refresh: Some((family, token)) };
        assert!(store.redeem_code(&keyring.hash_handle(&code), now, &issuance).await.unwrap(), "{backend}");
        assert_eq!(old.len(), 43);
        let (s, v) = refresh(&f, &old, &[]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        let next = v["refresh_token"].as_str().unwrap();
        let (time, random) = next.split_once('.').expect("an ordered successor");
        assert_eq!((time.len(), random.len()), (12, 43), "{backend}: {next}");
        let (s, v) = refresh(&f, &old, &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: the old token is spent");
    }
}
