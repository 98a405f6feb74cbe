//! DPoP at the token endpoint (issue 6): the proof-validation table, nonces, binding of
//! codes (dpop_jkt), access tokens (cnf.jkt) and public clients' refresh tokens — on every
//! store, plus replay across two server instances sharing one PostgreSQL database.

use serde_json::{json, Value};
use tessera_core::model::ClientPatch;
use tessera_server::store::db::query;

use crate::dpop_proof::DpopKey;
use crate::oauth_fixture::{backends, jwt_parts, pkce_pair, sign_compact, Fixture, API, CALLBACK};
use crate::support::Backend;

async fn token_with(f: &Fixture, form: &[(&str, &str)], proofs: &[String]) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = f.http.post(f.url("/oauth/token")).form(form);
    for p in proofs {
        req = req.header("DPoP", p);
    }
    let resp = req.send().await.unwrap();
    let s = resp.status().as_u16();
    let h = resp.headers().clone();
    (s, h, resp.json().await.unwrap_or(Value::Null))
}

fn cc_form(f: &Fixture) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("audience", API.into()),
        ("client_id", f.m2m.id.clone()),
        ("client_secret", f.m2m.secret.clone().unwrap()),
    ]
}

fn refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn proof_validation_table() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        f.state.deployment.registry.create_grant(&f.m2m.id, API, None).await.unwrap();
        let key = DpopKey::new();
        let now = f.now();
        let htu = f.url("/oauth/token");
        let other = DpopKey::new();
        let private_jwk = {
            let mut j = key.jwk();
            j["d"] = json!("AAAA");
            j
        };
        let cases: Vec<(&str, Vec<String>, bool)> = vec![
            ("valid", vec![key.proof("POST", &htu, now)], true),
            ("htu with query and fragment ignored", vec![key.proof("POST", &format!("{htu}?x=1#f"), now)], true),
            ("iat 10 s early", vec![key.proof("POST", &htu, now - 10)], true),
            ("iat 10 s late", vec![key.proof("POST", &htu, now + 10)], true),
            (
                "unknown claims and exp tolerated",
                vec![key.proof_with("POST", &htu, now, json!({}), json!({"foo": 1, "exp": now + 60, "nbf": now}))],
                true,
            ),
            ("two DPoP headers", vec![key.proof("POST", &htu, now), key.proof("POST", &htu, now)], false),
            ("wrong typ", vec![key.proof_with("POST", &htu, now, json!({"typ": "JWT"}), json!({}))], false),
            (
                "alg none",
                vec![{
                    let h = json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk()});
                    sign_compact(&h, &json!({"jti": "n1", "htm": "POST", "htu": htu, "iat": now}), |_| vec![0])
                }],
                false,
            ),
            (
                "HS256",
                vec![{
                    let h = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk()});
                    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"k");
                    sign_compact(&h, &json!({"jti": "h1", "htm": "POST", "htu": htu, "iat": now}), |m| {
                        ring::hmac::sign(&k, m).as_ref().to_vec()
                    })
                }],
                false,
            ),
            ("private key in jwk", vec![key.proof_with("POST", &htu, now, json!({"jwk": private_jwk}), json!({}))], false),
            (
                "jwk of another key (bad signature)",
                vec![key.proof_with("POST", &htu, now, json!({"jwk": other.jwk()}), json!({}))],
                false,
            ),
            ("no jwk", vec![key.proof_with("POST", &htu, now, json!({"jwk": null}), json!({}))], false),
            ("htm PUT", vec![key.proof("PUT", &htu, now)], false),
            ("htu of another URL", vec![key.proof("POST", &f.url("/oauth/revoke"), now)], false),
            ("iat an hour ago", vec![key.proof("POST", &htu, now - 3600)], false),
            ("iat in an hour", vec![key.proof("POST", &htu, now + 3600)], false),
            ("no jti", vec![key.proof_with("POST", &htu, now, json!({}), json!({"jti": null}))], false),
            ("not a JWT", vec!["abc.def".into()], false),
        ];
        for (name, proofs, ok) in cases {
            let (s, _, v) = token_with(&f, &refs(&cc_form(&f)), &proofs).await;
            if ok {
                assert_eq!(s, 200, "{backend}: {name}: {v}");
                assert_eq!(v["token_type"], "DPoP", "{backend}: {name}");
                let (_, at) = jwt_parts(v["access_token"].as_str().unwrap());
                assert_eq!(at["cnf"]["jkt"], key.jkt(), "{backend}: {name}: cnf.jkt is the RFC 7638 thumbprint");
            } else {
                assert_eq!((s, v["error"].as_str()), (400, Some("invalid_dpop_proof")), "{backend}: {name}: {v}");
                assert!(v["error_description"].as_str().is_some_and(|d| !d.is_empty()));
            }
        }
        // Replay of an accepted proof.
        let p = key.proof("POST", &htu, now);
        assert_eq!(token_with(&f, &refs(&cc_form(&f)), std::slice::from_ref(&p)).await.0, 200);
        let (s, _, v) = token_with(&f, &refs(&cc_form(&f)), &[p]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_dpop_proof")), "{backend}: replayed jti");
        // The header name is case-insensitive.
        let resp = f
            .http
            .post(f.url("/oauth/token"))
            .form(&refs(&cc_form(&f)))
            .header("DPOP", key.proof("POST", &htu, now))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // Without a proof: a Bearer token.
        let (s, _, v) = token_with(&f, &refs(&cc_form(&f)), &[]).await;
        assert_eq!((s, v["token_type"].as_str()), (200, Some("Bearer")));
    }
}

#[tokio::test]
async fn nonces_round_trip_and_require_dpop() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let r = &f.state.deployment.registry;
        r.create_grant(&f.m2m.id, API, None).await.unwrap();
        r.update_client(&f.m2m.id, ClientPatch { dpop_nonce: Some(Some(true)), ..Default::default() }).await.unwrap();
        let key = DpopKey::new();
        let htu = f.url("/oauth/token");
        let (s, h, v) = token_with(&f, &refs(&cc_form(&f)), &[key.proof("POST", &htu, f.now())]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("use_dpop_nonce")), "{backend}");
        let nonce = h["dpop-nonce"].to_str().unwrap().to_string();
        let p = key.proof_with("POST", &htu, f.now(), json!({}), json!({"nonce": nonce}));
        let (s, h, v) = token_with(&f, &refs(&cc_form(&f)), &[p]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        assert!(h.get("dpop-nonce").is_some(), "a fresh nonce on success");
        let p = key.proof_with("POST", &htu, f.now(), json!({}), json!({"nonce": "forged"}));
        assert_eq!(token_with(&f, &refs(&cc_form(&f)), &[p]).await.2["error"], "use_dpop_nonce");
        // A nonce from another deployment's key is refused too; an old one expires.
        f.clock.advance(700);
        let p = key.proof_with("POST", &htu, f.now(), json!({}), json!({"nonce": nonce}));
        assert_eq!(token_with(&f, &refs(&cc_form(&f)), &[p]).await.2["error"], "use_dpop_nonce", "{backend}: stale nonce");
        // require_dpop: no proof → invalid_request.
        r.update_client(&f.m2m.id, ClientPatch { require_dpop: Some(true), dpop_nonce: Some(Some(false)), ..Default::default() })
            .await
            .unwrap();
        let (s, _, v) = token_with(&f, &refs(&cc_form(&f)), &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")), "{backend}: require_dpop");
    }
}

#[tokio::test]
async fn code_pkce_dpop_flow_binds_codes_and_public_refresh_tokens() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let key = DpopKey::new();
        let other = DpopKey::new();
        let htu = f.url("/oauth/token");
        let (verifier, challenge) = pkce_pair();
        // A code bound at /authorize with dpop_jkt.
        let code = f.code(&f.public.id, "openid offline_access read:things", Some(API), Some(&challenge), None).await;
        let hash = f.state.deployment.keyring.hash_handle(&code);
        let bind = query("UPDATE authorization_codes SET dpop_jkt = $1 WHERE code_hash = $2").bind(key.jkt()).bind(&hash);
        f.state.deployment.sql.db().execute(bind).await.unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("client_id", f.public.id.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let (s, _, v) = token_with(&f, &form, &[other.proof("POST", &htu, f.now())]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: dpop_jkt mismatch");
        let (s, _, v) = token_with(&f, &form, &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: bound code without proof");
        let (s, _, v) = token_with(&f, &form, &[key.proof("POST", &htu, f.now())]).await;
        assert_eq!(s, 200, "{backend}: {v}");
        assert_eq!(v["token_type"], "DPoP");
        let (_, at) = jwt_parts(v["access_token"].as_str().unwrap());
        assert_eq!(at["cnf"]["jkt"], key.jkt());
        let rt = v["refresh_token"].as_str().unwrap().to_string();
        // The public client's refresh token is bound to the key.
        let rform = |t: &str| {
            vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", t.to_string()),
                ("client_id", f.public.id.clone()),
            ]
        };
        let (s, _, v) = token_with(&f, &refs(&rform(&rt)), &[]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: bound refresh without proof");
        let (s, _, v) = token_with(&f, &refs(&rform(&rt)), &[other.proof("POST", &htu, f.now())]).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{backend}: bound refresh with another key");
        let (s, _, v) = token_with(&f, &refs(&rform(&rt)), &[key.proof("POST", &htu, f.now())]).await;
        assert_eq!((s, v["token_type"].as_str()), (200, Some("DPoP")), "{backend}: {v}");
        // Introspection shows the binding.
        let at = v["access_token"].as_str().unwrap();
        let hint = [("token", at)];
        let (s, intro) = f.post_form("/oauth/introspect", &hint, Some((&f.post.id, f.post.secret.as_deref().unwrap()))).await;
        assert_eq!(s, 200);
        // The post client is not the token's client and holds no grant: inactive for it.
        assert_eq!(intro["active"], false);
        let code2 = f.code(&f.post.id, "openid read:things", Some(API), None, None).await;
        let form2 = [
            ("grant_type", "authorization_code"),
            ("code", code2.as_str()),
            ("redirect_uri", CALLBACK),
            ("client_id", f.post.id.as_str()),
            ("client_secret", f.post.secret.as_deref().unwrap()),
        ];
        let (_, _, v) = token_with(&f, &form2, &[key.proof("POST", &htu, f.now())]).await;
        let (_, intro) = f
            .post_form(
                "/oauth/introspect",
                &[
                    ("token", v["access_token"].as_str().unwrap()),
                    ("client_id", &f.post.id),
                    ("client_secret", f.post.secret.as_deref().unwrap()),
                ],
                None,
            )
            .await;
        assert_eq!(
            (intro["token_type"].as_str(), intro["cnf"]["jkt"].as_str()),
            (Some("DPoP"), Some(key.jkt().as_str())),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn replayed_proof_is_refused_by_a_second_node_sharing_postgres() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let a = Fixture::start(Backend::Postgres).await;
    a.state.deployment.registry.create_grant(&a.m2m.id, API, None).await.unwrap();
    // A second node: same database, same master key, same public issuer (as behind a load
    // balancer), its own listener.
    let dir = std::env::temp_dir().join(format!("tessera-node2-{}", tessera_core::crypto::random_alnum(8)));
    let over = tessera_server::config::Overrides {
        data_dir: Some(dir.clone()),
        database_url: Some(a.state.deployment.config.database_url()),
        listen: Some("127.0.0.1:0".into()),
        issuer: Some(a.issuer.clone()),
        ..Default::default()
    };
    let mut config = tessera_server::config::Config::load(&over, &|_| None).unwrap();
    config.master_key = Some(std::fs::read_to_string(a.state.deployment.config.master_key_file()).unwrap().trim().to_string());
    let app = tessera_server::app::Application::build(config, std::sync::Arc::new(a.clock.clone())).await.unwrap();
    let b_url = format!("http://{}/oauth/token", app.local_addr());
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let key = DpopKey::new();
    let proof = key.proof("POST", &a.url("/oauth/token"), a.now());
    let send = |url: String, p: String| {
        let form = cc_form(&a);
        let http = a.http.clone();
        async move {
            let r = http.post(url).form(&refs(&form)).header("DPoP", p).send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(send(a.url("/oauth/token"), proof.clone()).await.0, 200, "node A accepts the proof");
    let (s, v) = send(b_url.clone(), proof.clone()).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_dpop_proof")), "node B sees A's jti: {v}");
    let fresh = key.proof("POST", &a.url("/oauth/token"), a.now());
    assert_eq!(send(b_url, fresh).await.0, 200, "node B serves the same issuer");
    let _ = std::fs::remove_dir_all(dir);
}
