//! `/api/v2/clients/{id}/credentials` (issue 18) on every store: each endpoint in Auth0's
//! shape, each scope's absence (403), bad input (400), unknown client or credential (404),
//! the same key or kid twice (409); and the credentials at work: a client created with
//! `client_authentication_methods` gets tokens with `private_key_jwt` assertions signed by
//! its key until the credential expires or is deleted, and again with a second one.
//!
//! Keys are made by rcgen (over aws-lc) and assertions signed by ring; the expected `kid`
//! (the key's RFC 7638 thumbprint) is computed here from ring's view of the key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tessera_core::clock::Clock;
use tessera_core::crypto::random_token;

use crate::management::{auth0_error, Mgmt};
use crate::oauth_fixture::sign_compact;
use crate::support::backends;

/// A client key: its public PEM, a certificate for it, and a signer.
struct Key {
    pem: String,
    cert: String,
    pkcs8: Vec<u8>,
    rsa: bool,
}

impl Key {
    fn rsa() -> Self {
        Self::generate(&rcgen::PKCS_RSA_SHA256, true)
    }
    fn p256() -> Self {
        Self::generate(&rcgen::PKCS_ECDSA_P256_SHA256, false)
    }
    fn generate(alg: &'static rcgen::SignatureAlgorithm, rsa: bool) -> Self {
        let kp = rcgen::KeyPair::generate_for(alg).expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["client.example".into()]).expect("params");
        params.not_after = rcgen::date_time_ymd(2099, 1, 2);
        let cert = params.self_signed(&kp).expect("cert").pem();
        Self { pem: kp.public_key_pem(), cert, pkcs8: kp.serialize_der(), rsa }
    }

    /// RFC 7638 thumbprint, computed from ring's parse of the private key.
    fn thumbprint(&self) -> String {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let canonical = if self.rsa {
            let kp = RsaKeyPair::from_pkcs8(&self.pkcs8).expect("rsa");
            let c: ring::rsa::PublicKeyComponents<Vec<u8>> = kp.public().into();
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(&c.e), b64(&c.n))
        } else {
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8, &SystemRandom::new()).expect("ec");
            let point = kp.public_key().as_ref();
            format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, b64(&point[1..33]), b64(&point[33..65]))
        };
        b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// A client assertion (RFC 7523 §3) for `client_id` at `aud`, signed RS256 or ES256.
    fn assertion(&self, client_id: &str, kid: &str, aud: &str, now: i64) -> String {
        let claims =
            json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60, "jti": random_token::<16>()});
        let rng = SystemRandom::new();
        if self.rsa {
            let kp = RsaKeyPair::from_pkcs8(&self.pkcs8).expect("rsa");
            sign_compact(&json!({"alg": "RS256", "kid": kid, "typ": "JWT"}), &claims, |m| {
                let mut sig = vec![0; kp.public().modulus_len()];
                kp.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, m, &mut sig).expect("sign");
                sig
            })
        } else {
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8, &rng).expect("ec");
            sign_compact(&json!({"alg": "ES256", "kid": kid, "typ": "JWT"}), &claims, |m| {
                kp.sign(&rng, m).expect("sign").as_ref().to_vec()
            })
        }
    }
}

fn new_credential(name: &str, pem: &str, alg: &str) -> Value {
    json!({"credential_type": "public_key", "name": name, "pem": pem, "alg": alg})
}

async fn create_client(m: &Mgmt, body: Value) -> String {
    let (s, v) = m.call(Method::POST, "/clients", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    v["client_id"].as_str().expect("client_id").to_string()
}

#[tokio::test]
async fn credentials_are_listed_created_read_expired_and_deleted_in_auth0_shape() {
    let (rsa, ec) = (Key::rsa(), Key::p256());
    for backend in backends() {
        let m = Mgmt::start(backend).await;
        let cid = create_client(&m, json!({"name": "keys", "app_type": "non_interactive"})).await;
        let base = format!("/clients/{cid}/credentials");

        let (s, v) = m.call(Method::GET, &base, None).await;
        assert_eq!((s, v.clone()), (200, json!([])), "[{backend}]");

        // Created: Auth0's fields, a cred_ id, the kid derived from the key (RFC 7638).
        let (s, created) = m.call(Method::POST, &base, Some(new_credential("first", &rsa.pem, "RS256"))).await;
        assert_eq!(s, 201, "[{backend}] {created}");
        let id = created["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("cred_") && id.len() > 10, "[{backend}] {id}");
        assert_eq!(created["kid"], rsa.thumbprint(), "[{backend}]");
        assert_eq!(
            (&created["name"], &created["alg"], &created["credential_type"]),
            (&json!("first"), &json!("RS256"), &json!("public_key")),
            "[{backend}]"
        );
        assert!(created["created_at"].as_str().unwrap().ends_with('Z') && created["updated_at"].is_string(), "[{backend}]");
        assert!(created.get("expires_at").is_none() && created.get("pem").is_none(), "[{backend}] {created}");
        let (s, got) = m.call(Method::GET, &format!("{base}/{id}"), None).await;
        assert_eq!((s, &got), (200, &created), "[{backend}]");

        // ES256 (P-256) with a kid of the caller's choosing; a certificate, expiry read from it.
        // (A second later: lists are in creation order.)
        m.app.clock.advance(1);
        let ec_body = json!({"credential_type": "public_key", "pem": ec.pem, "alg": "ES256", "kid": "my-ec-key-0001"});
        let (s, v) = m.call(Method::POST, &base, Some(ec_body)).await;
        assert_eq!((s, &v["kid"], &v["alg"]), (201, &json!("my-ec-key-0001"), &json!("ES256")), "[{backend}] {v}");
        let other = create_client(&m, json!({"name": "cert", "app_type": "non_interactive"})).await;
        let cert_body = json!({"credential_type": "public_key", "pem": rsa.cert, "alg": "PS256", "parse_expiry_from_cert": true});
        let (s, v) = m.call(Method::POST, &format!("/clients/{other}/credentials"), Some(cert_body)).await;
        assert_eq!((s, &v["expires_at"]), (201, &json!("2099-01-02T00:00:00.000Z")), "[{backend}] {v}");
        assert_eq!(v["kid"], rsa.thumbprint(), "[{backend}] the certificate's key");

        let (s, list) = m.call(Method::GET, &base, None).await;
        let kids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["kid"].as_str().unwrap()).collect();
        assert_eq!((s, kids), (200, vec![rsa.thumbprint().as_str(), "my-ec-key-0001"]), "[{backend}]");

        // The same key twice, or the same kid, on one client: 409.
        let (s, v) = m.call(Method::POST, &base, Some(new_credential("again", &rsa.pem, "PS256"))).await;
        assert_eq!((s, &v["statusCode"]), (409, &json!(409)), "[{backend}] same key: {v}");
        let same_kid = json!({"credential_type": "public_key", "pem": Key::p256().pem, "alg": "ES256", "kid": "my-ec-key-0001"});
        assert_eq!(m.call(Method::POST, &base, Some(same_kid)).await.0, 409, "[{backend}] same kid");

        // Bad input: 400 invalid_body, nothing stored.
        let private = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&rsa.pkcs8)
        );
        let bad = [
            json!({"credential_type": "public_key", "pem": "not a pem", "alg": "RS256"}),
            json!({"credential_type": "public_key", "pem": private, "alg": "RS256"}),
            json!({"credential_type": "public_key", "pem": Key::rsa().pem, "alg": "HS256"}),
            json!({"credential_type": "public_key", "pem": Key::p256().pem, "alg": "RS256"}),
            json!({"credential_type": "public_key", "pem": Key::p256().pem, "alg": "ES256", "kid": "short"}),
            json!({"credential_type": "x509_cert", "pem": Key::p256().pem, "alg": "ES256"}),
            json!({"pem": Key::p256().pem, "alg": "ES256"}),
            json!({"credential_type": "public_key", "alg": "ES256"}),
            json!({"credential_type": "public_key", "pem": Key::p256().pem, "alg": "ES256", "expires_at": "2001-01-01T00:00:00Z"}),
            json!({"credential_type": "public_key", "pem": Key::p256().pem, "alg": "ES256", "expires_at": "soon"}),
            json!({"credential_type": "public_key", "pem": Key::p256().pem, "alg": "ES256", "parse_expiry_from_cert": true}),
            json!({"credential_type": "public_key", "pem": Key::p256().pem, "alg": "ES256", "color": "blue"}),
        ];
        for body in bad {
            let (s, v) = m.call(Method::POST, &base, Some(body.clone())).await;
            assert!(s == 400 && auth0_error(400, "Bad Request", "invalid_body")(&v), "[{backend}] {body}: {s} {v}");
        }
        assert_eq!(m.call(Method::GET, &base, None).await.1.as_array().unwrap().len(), 2, "[{backend}] nothing stored");

        // PATCH changes expires_at only; null clears it.
        let (s, v) = m.call(Method::PATCH, &format!("{base}/{id}"), Some(json!({"expires_at": "2098-05-06T07:08:09Z"}))).await;
        assert_eq!(
            (s, &v["expires_at"], &v["kid"]),
            (200, &json!("2098-05-06T07:08:09.000Z"), &created["kid"]),
            "[{backend}] {v}"
        );
        assert_eq!(m.call(Method::GET, &format!("{base}/{id}"), None).await.1["expires_at"], "2098-05-06T07:08:09.000Z");
        let (s, v) = m.call(Method::PATCH, &format!("{base}/{id}"), Some(json!({"expires_at": null}))).await;
        assert!(s == 200 && v.get("expires_at").is_none(), "[{backend}] {v}");
        for body in
            [json!({"name": "renamed"}), json!({}), json!({"expires_at": "2001-01-01T00:00:00Z"}), json!({"expires_at": 5})]
        {
            let (s, v) = m.call(Method::PATCH, &format!("{base}/{id}"), Some(body.clone())).await;
            assert!(s == 400 && v["errorCode"] == "invalid_body", "[{backend}] {body}: {s} {v}");
        }

        // Unknown client or credential: 404 in Auth0's body.
        for (method, path) in [
            (Method::GET, "/clients/nope/credentials".to_string()),
            (Method::GET, "/clients/nope/credentials/cred_x".to_string()),
            (Method::DELETE, "/clients/nope/credentials/cred_x".to_string()),
        ] {
            let (s, v) = m.call(method, &path, None).await;
            assert!(s == 404 && auth0_error(404, "Not Found", "inexistent_client")(&v), "[{backend}] {path}: {v}");
        }
        let (s, v) = m.call(Method::POST, "/clients/nope/credentials", Some(new_credential("x", &rsa.pem, "RS256"))).await;
        assert_eq!((s, &v["errorCode"]), (404, &json!("inexistent_client")), "[{backend}]");
        for (method, body) in [(Method::GET, None), (Method::PATCH, Some(json!({"expires_at": null}))), (Method::DELETE, None)] {
            let (s, v) = m.call(method, &format!("{base}/cred_unknown"), body).await;
            assert_eq!((s, &v["statusCode"]), (404, &json!(404)), "[{backend}] {v}");
        }
        // A credential is found under its own client only.
        assert_eq!(m.call(Method::GET, &format!("/clients/{other}/credentials/{id}"), None).await.0, 404, "[{backend}]");

        // Each endpoint without its scope: 403; read:client_keys reads too.
        let narrow = m.token_for(Some("read:clients update:clients create:clients delete:clients")).await;
        let cases = [
            (Method::GET, base.clone(), None, "read:client_credentials,read:client_keys"),
            (Method::GET, format!("{base}/{id}"), None, "read:client_credentials,read:client_keys"),
            (Method::POST, base.clone(), Some(new_credential("x", &Key::p256().pem, "ES256")), "create:client_credentials"),
            (Method::PATCH, format!("{base}/{id}"), Some(json!({"expires_at": null})), "update:client_credentials"),
            (Method::DELETE, format!("{base}/{id}"), None, "delete:client_credentials"),
        ];
        for (method, path, body, scopes) in cases {
            let (s, v) = m.call_with(method.clone(), &path, Some(&narrow), body).await;
            let message = format!("Insufficient scope, expected any of: {scopes}");
            assert!(
                s == 403 && v["errorCode"] == "insufficient_scope" && v["message"] == message,
                "[{backend}] {method} {path}: {v}"
            );
        }
        let keys_reader = m.token_for(Some("read:client_keys")).await;
        assert_eq!(m.call_with(Method::GET, &base, Some(&keys_reader), None).await.0, 200, "[{backend}]");

        // DELETE: 204, then gone.
        let (s, v) = m.call(Method::DELETE, &format!("{base}/{id}"), None).await;
        assert_eq!((s, v), (204, Value::Null), "[{backend}]");
        assert_eq!(m.call(Method::GET, &format!("{base}/{id}"), None).await.0, 404, "[{backend}]");
        assert_eq!(m.call(Method::GET, &base, None).await.1.as_array().unwrap().len(), 1, "[{backend}]");
    }
}

/// POSTs client_credentials with a client assertion; (status, body).
async fn token(m: &Mgmt, client_id: &str, assertion: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion),
        ("audience", "https://credentials.api.test"),
    ];
    let resp = m.app.http.post(m.app.url("/oauth/token")).form(&form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_private_key_jwt_client_authenticates_with_its_credentials_until_they_expire() {
    let (first, second) = (Key::rsa(), Key::p256());
    for backend in backends() {
        let m = Mgmt::start(backend).await;
        let aud = m.app.url("/oauth/token");
        let (s, v) = m
            .call(Method::POST, "/resource-servers", Some(json!({"identifier": "https://credentials.api.test", "name": "creds"})))
            .await;
        assert_eq!(s, 201, "[{backend}] {v}");
        let body = json!({
            "name": "signed", "app_type": "non_interactive", "grant_types": ["client_credentials"],
            "client_authentication_methods": {"private_key_jwt": {"credentials": [new_credential("first", &first.pem, "RS256")]}},
        });

        // Auth0: configuring client_authentication_methods takes create:client_credentials;
        // and it excludes token_endpoint_auth_method.
        let no_create = m.token_for(Some("create:clients read:clients")).await;
        let (s, v) = m.call_with(Method::POST, "/clients", Some(&no_create), Some(body.clone())).await;
        assert_eq!(
            (s, &v["message"]),
            (403, &json!("Insufficient scope, expected any of: create:client_credentials")),
            "[{backend}]"
        );
        let mut both = body.clone();
        both["token_endpoint_auth_method"] = json!("client_secret_post");
        assert_eq!(m.call(Method::POST, "/clients", Some(both)).await.0, 400, "[{backend}]");
        assert_eq!(m.call(Method::GET, "/clients", None).await.1.as_array().unwrap().len(), 1, "[{backend}] no client made");

        let (s, c) = m.call(Method::POST, "/clients", Some(body)).await;
        assert_eq!(s, 201, "[{backend}] {c}");
        let cid = c["client_id"].as_str().unwrap().to_string();
        assert!(c.get("client_secret").is_none(), "[{backend}] a private_key_jwt client has no secret: {c}");
        assert_eq!(c["token_endpoint_auth_method"], "private_key_jwt", "[{backend}]");
        let cred1 = c["client_authentication_methods"]["private_key_jwt"]["credentials"][0]["id"].as_str().unwrap().to_string();
        let (s, v) = m.call(Method::GET, &format!("/clients/{cid}/credentials/{cred1}"), None).await;
        assert_eq!((s, &v["kid"], &v["name"]), (200, &json!(first.thumbprint()), &json!("first")), "[{backend}] {v}");
        let (s, v) = m
            .call(
                Method::POST,
                "/client-grants",
                Some(json!({"client_id": cid, "audience": "https://credentials.api.test", "scope": []})),
            )
            .await;
        assert_eq!(s, 201, "[{backend}] {v}");

        // Auth0: client_authentication_methods is read with read:client_credentials or read:client_keys only.
        let reader = m.token_for(Some("read:clients")).await;
        let (_, v) = m.call_with(Method::GET, &format!("/clients/{cid}"), Some(&reader), None).await;
        assert!(v.get("client_authentication_methods").is_none() && v["client_id"] == cid, "[{backend}] {v}");

        // A token with an assertion signed by the credential's key.
        let kid1 = first.thumbprint();
        let (s, v) = token(&m, &cid, &first.assertion(&cid, &kid1, &aud, m.app.clock.now())).await;
        assert_eq!(s, 200, "[{backend}] {v}");
        assert!(v["access_token"].is_string(), "[{backend}]");
        // A key that is not the client's does not authenticate.
        let (s, v) = token(&m, &cid, &second.assertion(&cid, &kid1, &aud, m.app.clock.now())).await;
        assert_eq!((s, &v["error"]), (401, &json!("invalid_client")), "[{backend}] {v}");

        // Expire the credential: a minute from now, then let the minute pass.
        let soon = tessera_core::model::rfc3339(m.app.clock.now() + 60);
        let (s, v) =
            m.call(Method::PATCH, &format!("/clients/{cid}/credentials/{cred1}"), Some(json!({"expires_at": soon}))).await;
        assert_eq!(s, 200, "[{backend}] {v}");
        assert_eq!(token(&m, &cid, &first.assertion(&cid, &kid1, &aud, m.app.clock.now())).await.0, 200, "[{backend}] not yet");
        m.app.clock.advance(61);
        let (s, v) = token(&m, &cid, &first.assertion(&cid, &kid1, &aud, m.app.clock.now())).await;
        assert_eq!((s, &v["error"]), (401, &json!("invalid_client")), "[{backend}] expired credential: {v}");

        // A second credential, enabled on the client by id: tokens again.
        let m_token = m.token_for(None).await;
        let (s, v) = m
            .call_with(
                Method::POST,
                &format!("/clients/{cid}/credentials"),
                Some(&m_token),
                Some(new_credential("second", &second.pem, "ES256")),
            )
            .await;
        assert_eq!(s, 201, "[{backend}] {v}");
        let (cred2, kid2) = (v["id"].as_str().unwrap().to_string(), v["kid"].as_str().unwrap().to_string());
        // Created but not yet enabled: it does not authenticate.
        let (s, _) = token(&m, &cid, &second.assertion(&cid, &kid2, &aud, m.app.clock.now())).await;
        assert_eq!(s, 401, "[{backend}] a credential not enabled on the client");
        let enable = |ids: &[&str]| {
            let creds: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
            json!({"client_authentication_methods": {"private_key_jwt": {"credentials": creds}}})
        };
        let no_update = m.token_for(Some("update:clients")).await;
        let (s, _) =
            m.call_with(Method::PATCH, &format!("/clients/{cid}"), Some(&no_update), Some(enable(&[&cred1, &cred2]))).await;
        assert_eq!(s, 403, "[{backend}] update:client_credentials is needed");
        let (s, v) = m
            .call_with(Method::PATCH, &format!("/clients/{cid}"), Some(&m_token), Some(enable(&[&cred1, "cred_not_mine"])))
            .await;
        assert_eq!((s, &v["errorCode"]), (400, &json!("invalid_body")), "[{backend}] {v}");
        let (s, v) =
            m.call_with(Method::PATCH, &format!("/clients/{cid}"), Some(&m_token), Some(enable(&[&cred1, &cred2]))).await;
        assert_eq!(s, 200, "[{backend}] {v}");
        assert_eq!(v["client_authentication_methods"], enable(&[&cred1, &cred2])["client_authentication_methods"], "[{backend}]");
        let (s, v) = token(&m, &cid, &second.assertion(&cid, &kid2, &aud, m.app.clock.now())).await;
        assert_eq!(s, 200, "[{backend}] the second credential works: {v}");
        assert_eq!(
            token(&m, &cid, &first.assertion(&cid, &kid1, &aud, m.app.clock.now())).await.0,
            401,
            "[{backend}] first still expired"
        );

        // Deleted: it no longer authenticates and leaves the client's list.
        let (s, _) = m.call_with(Method::DELETE, &format!("/clients/{cid}/credentials/{cred2}"), Some(&m_token), None).await;
        assert_eq!(s, 204, "[{backend}]");
        let (s, v) = token(&m, &cid, &second.assertion(&cid, &kid2, &aud, m.app.clock.now())).await;
        assert_eq!((s, &v["error"]), (401, &json!("invalid_client")), "[{backend}] deleted credential: {v}");
        let (_, v) = m.call_with(Method::GET, &format!("/clients/{cid}"), Some(&m_token), None).await;
        assert_eq!(v["client_authentication_methods"], enable(&[&cred1])["client_authentication_methods"], "[{backend}]");
    }
}
