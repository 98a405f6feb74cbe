//! POST /oauth/token with grant_type=authorization_code (issue 3), on every store:
//! the happy path for each client authentication method driven by the `openidconnect`
//! crate as the relying party, then one table per family of refusals.

use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use serde_json::{json, Value};
use tessera_core::client_auth::JWT_BEARER_ASSERTION_TYPE;

use crate::oauth_fixture::{backends, jwt_parts, pkce_pair, sign_compact, Fixture, API, CALLBACK};

const ASSERTION: &str = JWT_BEARER_ASSERTION_TYPE;

/// The relying party: discovery, exchange, strict ID token validation (signature, iss,
/// aud, exp, nonce, at_hash).
/// How the relying party authenticates.
struct Rp<'a> {
    client_id: &'a str,
    secret: Option<&'a str>,
    auth: AuthType,
    extra: Vec<(&'static str, String)>,
}

async fn rp_exchange(f: &Fixture, rp: &Rp<'_>, code: &str, verifier: &str, nonce: &str) -> (String, Option<String>, Value) {
    let Rp { client_id, secret, auth, extra } = rp;
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(f.issuer.clone()).unwrap(), &f.http).await.expect("discovery");
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(client_id.to_string()),
        secret.map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap())
    .set_auth_type(auth.clone());
    let mut req = client
        .exchange_code(AuthorizationCode::new(code.into()))
        .expect("token endpoint")
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.into()));
    for (k, v) in extra {
        req = req.add_extra_param(k.to_string(), v.clone());
    }
    let resp = req.request_async(&f.http).await.expect("code exchange");
    let verifier = client.id_token_verifier();
    let id_token = resp.id_token().expect("id_token");
    let claims = id_token.claims(&verifier, &Nonce::new(nonce.into())).expect("valid ID token");
    let expected = AccessTokenHash::from_token(
        resp.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");
    let (_, id_claims) = jwt_parts(&id_token.to_string());
    (resp.access_token().secret().clone(), resp.refresh_token().map(|r| r.secret().clone()), id_claims)
}

#[tokio::test]
async fn every_client_authentication_method_completes_the_flow() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let scope = "openid profile email offline_access read:things";
        for method in ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"] {
            let (verifier, challenge) = pkce_pair();
            let nonce = format!("n-{method}");
            let (client_id, secret, auth, extra): (&str, Option<&str>, AuthType, Vec<(&'static str, String)>) = match method {
                "client_secret_basic" => (&f.basic.id, f.basic.secret.as_deref(), AuthType::BasicAuth, vec![]),
                "client_secret_post" => (&f.post.id, f.post.secret.as_deref(), AuthType::RequestBody, vec![]),
                "client_secret_jwt" => (
                    &f.secret_jwt.id,
                    None,
                    AuthType::RequestBody,
                    vec![("client_assertion_type", ASSERTION.into()), ("client_assertion", f.secret_assertion(json!({})))],
                ),
                "private_key_jwt" => (
                    &f.key_jwt.id,
                    None,
                    AuthType::RequestBody,
                    vec![("client_assertion_type", ASSERTION.into()), ("client_assertion", f.key_assertion(json!({})))],
                ),
                _ => (&f.public.id, None, AuthType::RequestBody, vec![]),
            };
            let code = f.code(client_id, scope, Some(API), Some(&challenge), Some(&nonce)).await;
            let rp = Rp { client_id, secret, auth, extra };
            let (access, refresh, id) = rp_exchange(&f, &rp, &code, &verifier, &nonce).await;
            assert!(refresh.is_some(), "{backend}/{method}: offline_access gives a refresh token");
            assert_eq!(id["sub"], f.user_id.as_str(), "{backend}/{method}");
            assert_eq!(id["azp"], client_id);
            assert_eq!(id["sid"], "sid-test");
            assert_eq!(id["email"], "alice@example.com");
            assert_eq!(id["name"], "Alice Liddell");
            assert!(id["auth_time"].is_i64());
            let (header, at) = jwt_parts(&access);
            assert_eq!(header["typ"], "at+jwt", "RFC 9068");
            assert!(header["kid"].is_string());
            assert_eq!(at["aud"], json!([API, format!("{}userinfo", f.issuer)]), "{backend}/{method}");
            assert_eq!(at["client_id"], client_id);
            assert_eq!(at["sub"], f.user_id.as_str());
            assert_eq!(at["scope"], "email offline_access openid profile read:things");
            assert_eq!(at["exp"].as_i64().unwrap() - at["iat"].as_i64().unwrap(), 86_400);
            for claim in ["iss", "jti", "azp", "auth_time"] {
                assert!(!at[claim].is_null(), "access token has {claim}");
            }
        }
    }
}

#[tokio::test]
async fn response_shape_headers_and_json_body() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let code = f.code(&f.post.id, "openid read:things", Some(API), None, None).await;
        let body = json!({"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_id": f.post.id, "client_secret": f.post.secret});
        let resp = f.http.post(f.url("/oauth/token")).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{backend}: Auth0 accepts a JSON body");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(resp.headers()["pragma"], "no-cache");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 86_400);
        assert_eq!(v["scope"], "openid read:things");
        assert!(v["id_token"].is_string());
        assert!(v.get("refresh_token").is_none(), "no offline_access, no refresh token");
        // Without an audience the access token is for /userinfo only.
        let code = f.code(&f.post.id, "openid", None, None, None).await;
        let (s, _, v) = f.redeem_post(&code).await;
        assert_eq!(s, 200);
        let (_, at) = jwt_parts(v["access_token"].as_str().unwrap());
        assert_eq!(at["aud"], format!("{}userinfo", f.issuer));
    }
}

/// Builds a request's form from a fresh code.
type FormFor = Box<dyn Fn(&str) -> Vec<(&'static str, String)>>;

/// A bad request and what must come back.
struct Case {
    name: &'static str,
    status: u16,
    error: &'static str,
}

#[tokio::test]
async fn code_binding_and_pkce_refusals() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let secret = f.basic.secret.clone().unwrap();
        let basic = Some((f.basic.id.as_str(), secret.as_str()));
        let (verifier, challenge) = pkce_pair();
        // Each case gets a fresh code with a challenge, then sends a variant request.
        let cases: Vec<(Case, FormFor)> = vec![
            (
                Case { name: "wrong redirect_uri", status: 400, error: "invalid_grant" },
                Box::new({
                    let v = verifier.clone();
                    move |c: &str| {
                        vec![
                            ("code", c.into()),
                            ("redirect_uri", "https://app.example.com/other".into()),
                            ("code_verifier", v.clone()),
                        ]
                    }
                }),
            ),
            (
                Case { name: "missing redirect_uri", status: 400, error: "invalid_grant" },
                Box::new({
                    let v = verifier.clone();
                    move |c: &str| vec![("code", c.into()), ("code_verifier", v.clone())]
                }),
            ),
            (
                Case { name: "redirect_uri with trailing slash", status: 400, error: "invalid_grant" },
                Box::new({
                    let v = verifier.clone();
                    move |c: &str| {
                        vec![("code", c.into()), ("redirect_uri", format!("{CALLBACK}/")), ("code_verifier", v.clone())]
                    }
                }),
            ),
            (
                Case { name: "missing code_verifier", status: 400, error: "invalid_grant" },
                Box::new(|c: &str| vec![("code", c.into()), ("redirect_uri", CALLBACK.into())]),
            ),
            (
                Case { name: "wrong code_verifier", status: 400, error: "invalid_grant" },
                Box::new(|c: &str| {
                    vec![("code", c.into()), ("redirect_uri", CALLBACK.into()), ("code_verifier", "x".repeat(43))]
                }),
            ),
            (
                Case { name: "short code_verifier", status: 400, error: "invalid_grant" },
                Box::new(|c: &str| vec![("code", c.into()), ("redirect_uri", CALLBACK.into()), ("code_verifier", "abc".into())]),
            ),
            (
                Case { name: "widened audience", status: 400, error: "invalid_target" },
                Box::new({
                    let v = verifier.clone();
                    move |c: &str| {
                        vec![
                            ("code", c.into()),
                            ("redirect_uri", CALLBACK.into()),
                            ("code_verifier", v.clone()),
                            ("audience", "https://other.example".into()),
                        ]
                    }
                }),
            ),
            (
                Case { name: "missing code", status: 400, error: "invalid_request" },
                Box::new(|_: &str| vec![("redirect_uri", CALLBACK.into())]),
            ),
            (
                Case { name: "unknown code", status: 400, error: "invalid_grant" },
                Box::new(|_: &str| vec![("code", "nope".into()), ("redirect_uri", CALLBACK.into())]),
            ),
        ];
        for (case, build) in cases {
            let code = f.code(&f.basic.id, "openid", None, Some(&challenge), None).await;
            let mut form: Vec<(&str, String)> = vec![("grant_type", "authorization_code".into())];
            form.extend(build(&code));
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, headers, body) = f.token(&form, basic).await;
            assert_eq!((status, body["error"].as_str()), (case.status, Some(case.error)), "{backend}: {}: {body}", case.name);
            assert_eq!(headers["cache-control"], "no-store", "{}", case.name);
            assert!(body["error_description"].is_string());
        }
        // Downgrade: a verifier for a code issued without a challenge.
        let code = f.code(&f.basic.id, "openid", None, None, None).await;
        let (s, _, b) = f
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &verifier),
                ],
                basic,
            )
            .await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")), "{backend}: PKCE downgrade");
        // Another client's code.
        let code = f.code(&f.post.id, "openid", None, None, None).await;
        let (s, _, b) =
            f.token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CALLBACK)], basic).await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")), "{backend}: code of another client");
        // ... which stays usable by its owner: a foreign presentation is not reuse.
        let (s, _, _) = f.redeem_post(&code).await;
        assert_eq!(s, 200, "{backend}: owner redeems after a foreign attempt");
        // Expired: the injected clock moves past the 60 s lifetime.
        let code = f.code(&f.basic.id, "openid", None, None, None).await;
        f.clock.advance(61);
        let (s, _, b) =
            f.token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CALLBACK)], basic).await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")), "{backend}: expired code");
        // A public client must use PKCE: codes are only issued with a challenge, and without
        // the verifier the exchange fails.
        let code = f.code(&f.public.id, "openid", None, Some(&challenge), None).await;
        let (s, _, b) = f
            .token(
                &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CALLBACK), ("client_id", &f.public.id)],
                None,
            )
            .await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")), "{backend}: public client without verifier");
    }
}

#[tokio::test]
async fn reuse_is_refused_and_revokes_what_the_code_issued() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let secret = f.post.secret.clone().unwrap();
        let code = f.code(&f.post.id, "openid offline_access read:things", Some(API), None, None).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("client_id", f.post.id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        let (s, _, first) = f.token(&form, None).await;
        assert_eq!(s, 200, "{backend}");
        let access = first["access_token"].as_str().unwrap();
        let refresh = first["refresh_token"].as_str().unwrap();
        let introspect = |token: String| {
            let f = &f;
            let secret = secret.clone();
            async move {
                f.post_form(
                    "/oauth/introspect",
                    &[("token", &token), ("client_id", &f.post.id), ("client_secret", &secret)],
                    None,
                )
                .await
                .1
            }
        };
        assert_eq!(introspect(access.into()).await["active"], true);
        let (s, _, second) = f.token(&form, None).await;
        assert_eq!((s, second["error"].as_str()), (400, Some("invalid_grant")), "{backend}: second redemption");
        assert_eq!(introspect(access.into()).await["active"], false, "{backend}: access token revoked by reuse");
        assert_eq!(introspect(refresh.into()).await["active"], false, "{backend}: refresh family revoked by reuse");
        let (s, _, b) = f
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("client_id", &f.post.id),
                    ("client_secret", &secret),
                ],
                None,
            )
            .await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")), "{backend}: refresh after reuse");
        let events = f.state.deployment.store.list_audit(20).await.unwrap();
        assert!(events.iter().any(|e| e.kind == "authorization_code_reuse"), "{backend}: audit event");
    }
}

#[tokio::test]
async fn client_authentication_refusals() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let code = f.code(&f.basic.id, "openid", None, None, None).await;
        let base = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CALLBACK)];
        // Wrong secret over Basic: 401 with a Basic challenge (RFC 6749 §5.2).
        let (s, h, b) = f.token(&base, Some((&f.basic.id, "wrong"))).await;
        assert_eq!((s, b["error"].as_str()), (401, Some("invalid_client")), "{backend}");
        assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic realm="));
        // Wrong secret in the body: 401, no Basic challenge.
        let mut form = base.to_vec();
        form.extend([("client_id", f.post.id.as_str()), ("client_secret", "wrong")]);
        let (s, h, b) = f.token(&form, None).await;
        assert_eq!((s, b["error"].as_str()), (401, Some("invalid_client")));
        assert!(h.get("www-authenticate").is_none());
        // Unknown client: the same answer as a wrong secret.
        let (s, _, b2) = f.token(&base, Some(("no-such-client", "x"))).await;
        assert_eq!((s, b2["error_description"].clone()), (401, b["error_description"].clone()));
        // A confidential client without credentials.
        let mut form = base.to_vec();
        form.push(("client_id", f.basic.id.as_str()));
        assert_eq!(f.token(&form, None).await.0, 401);
        // Two methods at once.
        let mut form = base.to_vec();
        form.push(("client_secret", f.basic.secret.as_deref().unwrap()));
        let (s, _, b) = f.token(&form, Some((&f.basic.id, f.basic.secret.as_deref().unwrap()))).await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_request")), "{backend}: two methods");
        // Credentials in the query string.
        let resp = f
            .http
            .post(f.url(&format!("/oauth/token?client_secret={}", f.post.secret.as_deref().unwrap())))
            .form(&[("grant_type", "authorization_code"), ("code", &code), ("client_id", &f.post.id)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let events = f.state.deployment.store.list_audit(50).await.unwrap();
        assert!(events.iter().filter(|e| e.kind == "client_authentication_failed").count() >= 3, "{backend}: audited");
    }
}

#[tokio::test]
async fn client_assertion_refusals() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let now = f.now();
        let token_url = f.url("/oauth/token");
        // Once the signature verified, error_description names the check that failed
        // (issue 17); before that every refusal reads the same.
        let aud_rule = format!("client_assertion aud must be this issuer or {token_url}");
        let proven: Vec<(&str, String, String)> = vec![
            (
                "expired",
                f.key_assertion(json!({"iat": now - 400, "exp": now - 100})),
                "client_assertion has expired (exp is 100 s ago)".into(),
            ),
            ("no exp", f.key_assertion(json!({"exp": null})), "client_assertion has no exp".into()),
            (
                "iat far in the future",
                f.key_assertion(json!({"iat": now + 3600, "exp": now + 3660})),
                "client_assertion iat is 3600 s in the future (at most 60 s allowed)".into(),
            ),
            (
                "nbf far in the future",
                f.key_assertion(json!({"nbf": now + 3600})),
                "client_assertion nbf is 3600 s in the future (at most 60 s allowed)".into(),
            ),
            (
                "lifetime over the 3600 s default",
                f.key_assertion(json!({"iat": now, "exp": now + 3700})),
                "client_assertion lifetime 3700 s exceeds the maximum 3600 s".into(),
            ),
            ("wrong aud", f.key_assertion(json!({"aud": "https://evil.example/token"})), aud_rule.clone()),
            ("aud array with a stranger", f.key_assertion(json!({"aud": [token_url, "https://evil.example"]})), aud_rule),
            ("no jti", f.key_assertion(json!({"jti": null})), "client_assertion has no jti".into()),
        ];
        let generic = "client authentication failed".to_string();
        let unproven: Vec<(&str, String)> = vec![
            ("iss differs from sub", f.key_assertion(json!({"iss": f.post.id}))),
            ("alg none", {
                let claims = f.assertion_claims(&f.key_jwt.id, json!({}));
                sign_compact(&json!({"alg": "none"}), &claims, |_| Vec::new())
            }),
            ("HS256 keyed with the public key", {
                let claims = f.assertion_claims(&f.key_jwt.id, json!({}));
                let jwks = f.state.deployment.registry.get_client(&f.key_jwt.id).await.unwrap().jwks.unwrap();
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, jwks["keys"][0].to_string().as_bytes());
                sign_compact(&json!({"alg": "HS256", "kid": "k1"}), &claims, |m| ring::hmac::sign(&key, m).as_ref().to_vec())
            }),
            ("bad signature", {
                let good = f.key_assertion(json!({}));
                let (rest, sig) = good.rsplit_once('.').unwrap();
                let mut sig = sig.to_string();
                let flipped = if sig.starts_with('A') { "B" } else { "A" };
                sig.replace_range(0..1, flipped);
                format!("{rest}.{sig}")
            }),
            ("client_secret_jwt signed with a wrong secret", {
                let claims = f.assertion_claims(&f.secret_jwt.id, json!({}));
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"not the secret");
                sign_compact(&json!({"alg": "HS256"}), &claims, |m| ring::hmac::sign(&key, m).as_ref().to_vec())
            }),
        ];
        let cases = proven.into_iter().chain(unproven.into_iter().map(|(n, a)| (n, a, generic.clone())));
        for (name, assertion, description) in cases {
            let code = f.code(&f.key_jwt.id, "openid", None, None, None).await;
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CALLBACK),
                ("client_assertion_type", ASSERTION),
                ("client_assertion", assertion.as_str()),
            ];
            let (s, _, b) = f.token(&form, None).await;
            assert_eq!((s, b["error"].as_str()), (401, Some("invalid_client")), "{backend}: {name}: {b}");
            assert_eq!(b["error_description"], description.as_str(), "{backend}: {name}");
        }
        // A lifetime up to the maximum is accepted: Authlib's PrivateKeyJWT signs 3600 s.
        let code = f.code(&f.key_jwt.id, "openid", None, None, None).await;
        let long = f.key_assertion(json!({"iat": now, "exp": now + 3600}));
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("client_assertion_type", ASSERTION),
            ("client_assertion", long.as_str()),
        ];
        let (s, _, b) = f.token(&form, None).await;
        assert_eq!(s, 200, "{backend}: a 3600 s assertion: {b}");
        // Wrong assertion type.
        let code = f.code(&f.key_jwt.id, "openid", None, None, None).await;
        let a = f.key_assertion(json!({}));
        let (s, _, b) = f
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("client_assertion_type", "urn:other"),
                    ("client_assertion", &a),
                ],
                None,
            )
            .await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_request")), "{backend}: assertion type");
        // A valid assertion works once; its jti cannot be replayed (on any node: it is in the DB).
        let a = f.key_assertion(json!({"aud": f.issuer}));
        let form = |c: &str| {
            vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", c.to_string()),
                ("redirect_uri", CALLBACK.into()),
                ("client_assertion_type", ASSERTION.into()),
                ("client_assertion", a.clone()),
            ]
        };
        let c1 = f.code(&f.key_jwt.id, "openid", None, None, None).await;
        let f1 = form(&c1);
        let f1: Vec<(&str, &str)> = f1.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(f.token(&f1, None).await.0, 200, "{backend}: aud = issuer accepted");
        let c2 = f.code(&f.key_jwt.id, "openid", None, None, None).await;
        let f2 = form(&c2);
        let f2: Vec<(&str, &str)> = f2.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (s, _, b) = f.token(&f2, None).await;
        assert_eq!((s, b["error"].as_str()), (401, Some("invalid_client")), "{backend}: replayed jti");
    }
}

#[tokio::test]
async fn malformed_requests() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let code = f.code(&f.post.id, "openid", None, None, None).await;
        let secret = f.post.secret.clone().unwrap();
        let send_raw = |body: String, ct: &'static str| {
            let f = &f;
            async move {
                let r = f.http.post(f.url("/oauth/token")).header("content-type", ct).body(body).send().await.unwrap();
                let s = r.status().as_u16();
                (s, r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let form = |extra: &str| {
            format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&client_id={}&client_secret={secret}{extra}",
                urlencode(CALLBACK),
                f.post.id
            )
        };
        let cases: Vec<(&str, String, &'static str, u16, &str)> = vec![
            ("repeated code", form(&format!("&code={code}")), "application/x-www-form-urlencoded", 400, "invalid_request"),
            (
                "repeated grant_type",
                form("&grant_type=authorization_code"),
                "application/x-www-form-urlencoded",
                400,
                "invalid_request",
            ),
            (
                "unsupported grant",
                "grant_type=password&username=a&password=b".into(),
                "application/x-www-form-urlencoded",
                400,
                "unsupported_grant_type",
            ),
            (
                "implicit is not a grant",
                "grant_type=implicit".into(),
                "application/x-www-form-urlencoded",
                400,
                "unsupported_grant_type",
            ),
            ("no grant_type", format!("code={code}"), "application/x-www-form-urlencoded", 400, "invalid_request"),
            ("text/plain", form(""), "text/plain", 400, "invalid_request"),
            (
                "JSON with a repeated key",
                format!(r#"{{"grant_type":"authorization_code","code":"{code}","code":"x"}}"#),
                "application/json",
                400,
                "invalid_request",
            ),
            ("JSON not an object", "[1,2]".into(), "application/json", 400, "invalid_request"),
            (
                "oversized body",
                format!("grant_type=authorization_code&a={}", "x".repeat(70_000)),
                "application/x-www-form-urlencoded",
                400,
                "invalid_request",
            ),
        ];
        for (name, body, ct, status, error) in cases {
            let (s, b) = send_raw(body, ct).await;
            assert_eq!((s, b["error"].as_str()), (status, Some(error)), "{backend}: {name}: {b}");
        }
        // The code survived all of that (nothing above consumed it) and unknown parameters are ignored.
        let (s, _) = send_raw(form("&frobnicate=1"), "application/x-www-form-urlencoded").await;
        assert_eq!(s, 200, "{backend}");
        // A client not allowed the grant.
        let (s, _, b) = f
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "x"),
                    ("client_id", &f.m2m.id),
                    ("client_secret", f.m2m.secret.as_deref().unwrap()),
                ],
                None,
            )
            .await;
        assert_eq!((s, b["error"].as_str()), (400, Some("unauthorized_client")), "{backend}");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn twenty_parallel_redemptions_of_one_code() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let code = f.code(&f.post.id, "openid offline_access", None, None, None).await;
        let secret = f.post.secret.clone().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let http = f.http.clone();
            let url = f.url("/oauth/token");
            let form = vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code.clone()),
                ("redirect_uri", CALLBACK.to_string()),
                ("client_id", f.post.id.clone()),
                ("client_secret", secret.clone()),
            ];
            tasks.push(tokio::spawn(async move {
                let r = http.post(url).form(&form).send().await.unwrap();
                let s = r.status().as_u16();
                (s, r.json::<Value>().await.unwrap_or(Value::Null))
            }));
        }
        let mut ok = 0;
        for t in tasks {
            let (s, b) = t.await.unwrap();
            match s {
                200 => ok += 1,
                400 => assert_eq!(b["error"], "invalid_grant", "{backend}"),
                other => panic!("{backend}: unexpected status {other}: {b}"),
            }
        }
        assert!(ok <= 1, "{backend}: at most one redemption succeeds, got {ok}");
    }
}
