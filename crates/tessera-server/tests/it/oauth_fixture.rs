//! A running Tessera with a registry ready for token-endpoint tests: an API, a user, and one
//! client per authentication method. Codes are issued straight into the store (what
//! /authorize would do) so each grant can be tested on its own; the full browser flow is
//! covered in `browser.rs`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tessera_core::clock::ManualClock;
use tessera_core::crypto::random_token;
use tessera_core::model::{ApiScope, AppType, ClientPatch, ResourceServerPatch, TokenEndpointAuthMethod, UserPatch};
use tessera_core::state::AuthorizationCode;
use tessera_server::app::AppState;

pub const API: &str = "https://api.test.example";
pub const PASSWORD: &str = "correct horse battery";
pub const CALLBACK: &str = "https://app.example.com/callback";

pub use crate::support::backends;
use crate::support::{Backend, TestApp};

pub struct Client {
    pub id: String,
    pub secret: Option<String>,
}

pub struct Fixture {
    /// Keeps the server and its database alive (and cleans them up on drop).
    _app: TestApp,
    pub state: AppState,
    pub issuer: String,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub user_id: String,
    pub basic: Client,
    pub post: Client,
    pub secret_jwt: Client,
    pub key_jwt: Client,
    pub public: Client,
    pub m2m: Client,
    /// PKCS#8 of the private_key_jwt client's ES256 key.
    pub client_key: Vec<u8>,
}

fn patch(name: &str, app: AppType, method: TokenEndpointAuthMethod) -> ClientPatch {
    ClientPatch {
        name: Some(name.into()),
        app_type: Some(app),
        token_endpoint_auth_method: Some(method),
        grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
        callbacks: Some(vec![CALLBACK.into(), "http://127.0.0.1/cb".into()]),
        ..Default::default()
    }
}

impl Fixture {
    pub async fn start(backend: Backend) -> Fixture {
        Self::start_configured(backend, |_| {}).await
    }

    /// Like [`Fixture::start`], after letting the test adjust the configuration.
    pub async fn start_configured(backend: Backend, adjust: impl FnOnce(&mut tessera_server::config::Config)) -> Fixture {
        let app = TestApp::spawn_configured(backend, adjust).await;
        let state = app.state.clone();
        let issuer = app.issuer.clone();
        let clock = app.clock.clone();
        let r = &state.deployment.registry;
        r.create_api(ResourceServerPatch {
            identifier: Some(API.into()),
            name: Some("Test API".into()),
            scopes: Some(vec![
                ApiScope { value: "read:things".into(), description: "Read".into() },
                ApiScope { value: "write:things".into(), description: "Write".into() },
            ]),
            allow_offline_access: Some(true),
            ..Default::default()
        })
        .await
        .expect("api");
        let user = r
            .create_user(
                UserPatch {
                    email: Some("alice@example.com".into()),
                    email_verified: Some(true),
                    name: Some("Alice Liddell".into()),
                    ..Default::default()
                },
                Some(PASSWORD),
            )
            .await
            .expect("user");
        let mk = |c: tessera_core::registry::CreatedClient| Client { id: c.client.client_id, secret: c.client_secret };
        let basic = mk(r
            .create_client(patch("basic", AppType::RegularWeb, TokenEndpointAuthMethod::ClientSecretBasic))
            .await
            .expect("c"));
        let post =
            mk(r.create_client(patch("post", AppType::RegularWeb, TokenEndpointAuthMethod::ClientSecretPost)).await.expect("c"));
        let secret_jwt =
            mk(r.create_client(patch("sjwt", AppType::RegularWeb, TokenEndpointAuthMethod::ClientSecretJwt)).await.expect("c"));
        let rng = SystemRandom::new();
        let client_key = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key").as_ref().to_vec();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &client_key, &rng).expect("key");
        let point = kp.public_key().as_ref();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}]});
        let mut p = patch("pkjwt", AppType::RegularWeb, TokenEndpointAuthMethod::PrivateKeyJwt);
        p.jwks = Some(jwks);
        let key_jwt = mk(r.create_client(p).await.expect("c"));
        let public = mk(r.create_client(patch("native", AppType::Native, TokenEndpointAuthMethod::None)).await.expect("c"));
        let m2m = mk(r
            .create_client(ClientPatch {
                name: Some("m2m".into()),
                app_type: Some(AppType::NonInteractive),
                grant_types: Some(vec!["client_credentials".into()]),
                ..Default::default()
            })
            .await
            .expect("c"));
        let http = app.http.clone();
        Fixture {
            _app: app,
            state,
            issuer,
            clock,
            http,
            user_id: user.user_id,
            basic,
            post,
            secret_jwt,
            key_jwt,
            public,
            m2m,
            client_key,
        }
    }

    pub fn url(&self, path: &str) -> String {
        tessera_core::routes::url(&self.issuer, path)
    }

    pub fn now(&self) -> i64 {
        tessera_core::clock::Clock::now(&self.clock)
    }

    /// Issues a code as /authorize would after login and consent; returns the code value. The
    /// value has the 43-character shape of codes issued before they carried their issue time
    /// (`crypto::ordered_handle`), so every code-grant test also redeems a pre-upgrade code.
    pub async fn code(
        &self,
        client_id: &str,
        scope: &str,
        audience: Option<&str>,
        challenge: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let code = random_token::<32>();
        let now = self.now();
        let rec = AuthorizationCode {
            code_hash: self.state.deployment.keyring.hash_handle(&code),
            client_id: client_id.into(),
            user_id: self.user_id.clone(),
            redirect_uri: Some(CALLBACK.into()),
            scope: scope.into(),
            audience: audience.map(str::to_string),
            nonce: nonce.map(str::to_string),
            code_challenge: challenge.map(str::to_string),
            code_challenge_method: challenge.map(|_| "S256".to_string()),
            dpop_jkt: None,
            auth_time: now - 5,
            sid: Some("sid-test".into()),
            created_at: now,
            expires_at: now + self.state.deployment.config.tokens.code_lifetime,
            consumed_at: None,
            family_id: None,
        };
        self.state.deployment.store.insert_code(&rec).await.expect("insert code");
        code
    }

    /// Redeems `code` for the client_secret_post client, as its RP would.
    pub async fn redeem_post(&self, code: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let secret = self.post.secret.as_deref().unwrap_or_default();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("client_id", self.post.id.as_str()),
            ("client_secret", secret),
        ];
        self.token(&form, None).await
    }

    /// Issues and redeems a code for the post client (openid offline_access read:things at
    /// the test API); returns the token response.
    pub async fn post_tokens(&self) -> Value {
        let code = self.code(&self.post.id, "openid offline_access read:things", Some(API), None, None).await;
        let (s, _, v) = self.redeem_post(&code).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// A client assertion for the private_key_jwt client, with claim overrides.
    pub fn key_assertion(&self, overrides: Value) -> String {
        let rng = SystemRandom::new();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.client_key, &rng).expect("key");
        let claims = self.assertion_claims(&self.key_jwt.id, overrides);
        sign_compact(&json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}), &claims, |m| {
            kp.sign(&rng, m).expect("sign").as_ref().to_vec()
        })
    }

    /// A client assertion for the client_secret_jwt client (HS256 with its secret).
    pub fn secret_assertion(&self, overrides: Value) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.secret_jwt.secret.as_deref().expect("secret").as_bytes());
        let claims = self.assertion_claims(&self.secret_jwt.id, overrides);
        sign_compact(&json!({"alg": "HS256", "typ": "JWT"}), &claims, |m| ring::hmac::sign(&key, m).as_ref().to_vec())
    }

    pub fn assertion_claims(&self, client_id: &str, overrides: Value) -> Value {
        let now = self.now();
        let mut c = json!({"iss": client_id, "sub": client_id, "aud": self.url(tessera_core::routes::TOKEN),
            "iat": now, "exp": now + 60, "jti": random_token::<16>()});
        if let (Some(obj), Some(o)) = (c.as_object_mut(), overrides.as_object()) {
            for (k, v) in o {
                if v.is_null() {
                    obj.remove(k);
                } else {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
        c
    }

    /// POSTs a form to the token endpoint.
    pub async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.post(self.url(tessera_core::routes::TOKEN)).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let resp = req.send().await.expect("token request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }
}

pub fn sign_compact(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Decodes a JWT's header and payload without verifying (tests inspect claims).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let dec = |p: Option<&str>| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p.expect("part")).expect("b64")).expect("json")
    };
    (dec(it.next()), dec(it.next()))
}

/// RFC 7636 S256 pair.
pub fn pkce_pair() -> (String, String) {
    let verifier = random_token::<32>();
    let challenge = URL_SAFE_NO_PAD.encode(tessera_core::crypto::sha256(verifier.as_bytes()));
    (verifier, challenge)
}
