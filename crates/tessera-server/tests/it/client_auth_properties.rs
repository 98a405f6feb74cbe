//! Client authentication as properties (issue 22), at the token, revocation and
//! introspection endpoints (one code path, `tessera_core::client_auth`):
//! - RFC 6749 §2.3: a request that mixes any two methods is `invalid_request`, even when
//!   each set of credentials is genuine;
//! - a secret differing in one byte, in length or in case never authenticates (Basic,
//!   post, and as the HS256 key of `client_secret_jwt`);
//! - RFC 8725 §3.11: only a client assertion is a client assertion — an ID token, an
//!   access token, a DPoP proof or an access-token-typed JWT signed with the client's own
//!   key is refused, as are `none`, `crit`, header keys and algorithm confusion.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tessera_core::client_auth::JWT_BEARER_ASSERTION_TYPE;
use tessera_core::routes;

use crate::oauth_fixture::{backends, sign_compact, Fixture};
use crate::support_prop::samples;

/// Where a request's client credentials can ride.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Carrier {
    Basic,
    Post,
    Assertion,
}

/// RFC 6749 §2.3.1: id and secret are form-encoded, then joined for HTTP Basic.
fn basic_header(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

/// The endpoint's own parameters: what a request needs besides client credentials.
fn endpoint_params(path: &str) -> Vec<(String, String)> {
    match path {
        routes::TOKEN => vec![("grant_type".into(), "client_credentials".into())],
        _ => vec![("token".into(), "not-a-token".into())],
    }
}

/// POSTs `form` to `path` with an optional raw Authorization value; (status, body).
async fn send(f: &Fixture, path: &str, form: &[(String, String)], authorization: Option<&str>) -> (u16, Value) {
    let mut req = f.http.post(f.url(path)).form(form);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Revocation as the cheapest authenticated probe: 200 iff the client authenticated
/// (RFC 7009 §2.2: an unknown token is still 200).
async fn authenticates(f: &Fixture, form: Vec<(String, String)>, authorization: Option<&str>) -> (u16, Value) {
    let mut form = form;
    form.extend(endpoint_params(routes::REVOKE));
    send(f, routes::REVOKE, &form, authorization).await
}

#[tokio::test]
async fn mixing_two_authentication_methods_is_invalid_request() {
    use Carrier::*;
    let combos: &[&[Carrier]] = &[&[Basic, Post], &[Basic, Assertion], &[Post, Assertion], &[Basic, Post, Assertion]];
    for backend in backends() {
        let f = Fixture::start(backend).await;
        for path in [routes::TOKEN, routes::REVOKE, routes::INTROSPECT] {
            // The client_secret_jwt client has a secret and makes HS256 assertions: every
            // credential below is genuine; only their combination is wrong. The
            // private_key_jwt client has no secret: its "secret" is one of the others'.
            let secret_jwt = (f.secret_jwt.id.clone(), f.secret_jwt.secret.clone().unwrap());
            let key_jwt = (f.key_jwt.id.clone(), f.post.secret.clone().unwrap());
            for (client, assertion) in [(secret_jwt, true), (key_jwt, false)] {
                for combo in combos {
                    let (id, secret) = &client;
                    let mut form = endpoint_params(path);
                    form.push(("client_id".into(), id.clone()));
                    let mut authorization = None;
                    for carrier in *combo {
                        match carrier {
                            Basic => authorization = Some(basic_header(id, secret)),
                            Post => form.push(("client_secret".into(), secret.clone())),
                            Assertion => {
                                let a = if assertion { f.secret_assertion(json!({})) } else { f.key_assertion(json!({})) };
                                form.push(("client_assertion".into(), a));
                                form.push(("client_assertion_type".into(), JWT_BEARER_ASSERTION_TYPE.into()));
                            }
                        }
                    }
                    let (s, v) = send(&f, path, &form, authorization.as_deref()).await;
                    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")), "{backend} {path} {id} {combo:?}: {v}");
                }
            }
        }
    }
}

/// One mutation of a secret.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the character at this index with this one.
    Replace(prop::sample::Index, char),
    /// Keep only this many characters (fewer than all).
    Truncate(prop::sample::Index),
    /// Append these characters.
    Append(String),
    /// Flip the case of the n-th letter.
    FlipCase(prop::sample::Index),
    Upper,
    Lower,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), prop_oneof![any::<char>(), "[ -~]".prop_map(|s| s.chars().next().unwrap())])
            .prop_map(|(i, c)| Mutation::Replace(i, c)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        prop_oneof!["[A-Za-z0-9_-]{1,3}", ".{1,2}", Just("\0".to_string()), Just("%00".to_string()), Just(" ".to_string())]
            .prop_map(Mutation::Append),
        any::<prop::sample::Index>().prop_map(Mutation::FlipCase),
        Just(Mutation::Upper),
        Just(Mutation::Lower),
    ]
}

fn mutate(secret: &str, m: &Mutation) -> String {
    let chars: Vec<char> = secret.chars().collect();
    match m {
        Mutation::Replace(i, c) => {
            let mut v = chars.clone();
            let at = i.index(v.len());
            v[at] = *c;
            v.into_iter().collect()
        }
        Mutation::Truncate(i) => chars[..i.index(chars.len())].iter().collect(),
        Mutation::Append(s) => format!("{secret}{s}"),
        Mutation::FlipCase(i) => {
            let letters: Vec<usize> = (0..chars.len()).filter(|&j| chars[j].is_ascii_alphabetic()).collect();
            let mut v = chars.clone();
            let j = letters[i.index(letters.len())];
            v[j] = if v[j].is_ascii_uppercase() { v[j].to_ascii_lowercase() } else { v[j].to_ascii_uppercase() };
            v.into_iter().collect()
        }
        Mutation::Upper => secret.to_uppercase(),
        Mutation::Lower => secret.to_lowercase(),
    }
}

#[tokio::test]
async fn a_secret_differing_in_one_byte_length_or_case_never_authenticates() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let (basic_id, basic_secret) = (f.basic.id.clone(), f.basic.secret.clone().unwrap());
        let (post_id, post_secret) = (f.post.id.clone(), f.post.secret.clone().unwrap());
        let sjwt_secret = f.secret_jwt.secret.clone().unwrap();
        // The genuine secrets authenticate, each way.
        assert_eq!(authenticates(&f, vec![], Some(&basic_header(&basic_id, &basic_secret))).await.0, 200, "{backend}");
        let post =
            |secret: &str| vec![("client_id".to_string(), post_id.clone()), ("client_secret".to_string(), secret.to_string())];
        assert_eq!(authenticates(&f, post(&post_secret), None).await.0, 200, "{backend}");
        let hs256 = |secret: &str| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
            let claims = f.assertion_claims(&f.secret_jwt.id, json!({}));
            let a =
                sign_compact(&json!({"alg": "HS256", "typ": "JWT"}), &claims, |m| ring::hmac::sign(&key, m).as_ref().to_vec());
            vec![
                ("client_assertion".to_string(), a),
                ("client_assertion_type".to_string(), JWT_BEARER_ASSERTION_TYPE.to_string()),
            ]
        };
        assert_eq!(authenticates(&f, hs256(&sjwt_secret), None).await.0, 200, "{backend}");

        for (n, m) in samples(mutation(), 48, 22).into_iter().enumerate() {
            for (carrier, secret) in [("basic", &basic_secret), ("post", &post_secret), ("client_secret_jwt", &sjwt_secret)] {
                let wrong = mutate(secret, &m);
                // RFC 2104 §2: an HMAC key is zero-padded to the block size, so the secret
                // with NULs appended is the same HS256 key. Only the secret's holder can
                // make such an assertion, so it is no bypass; it is left out here.
                let same_hmac_key = carrier == "client_secret_jwt" && wrong.trim_end_matches('\0') == secret.as_str();
                if wrong == *secret || same_hmac_key {
                    continue;
                }
                let (s, v) = match carrier {
                    "basic" => authenticates(&f, vec![], Some(&basic_header(&basic_id, &wrong))).await,
                    "post" => authenticates(&f, post(&wrong), None).await,
                    _ => authenticates(&f, hs256(&wrong), None).await,
                };
                assert_eq!(
                    (s, v["error"].as_str()),
                    (401, Some("invalid_client")),
                    "{backend} case {n} {carrier}: {m:?} → {wrong:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn only_client_assertions_authenticate_as_client_assertions() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let rng = SystemRandom::new();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &f.client_key, &rng).unwrap();
        let sign = |header: Value, claims: &Value| sign_compact(&header, claims, |m| kp.sign(&rng, m).unwrap().as_ref().to_vec());
        let attacker = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap().as_ref(),
            &rng,
        )
        .unwrap();
        let point = attacker.public_key().as_ref();
        let attacker_jwk = json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
        let sign_attacker =
            |header: Value, claims: &Value| sign_compact(&header, claims, |m| attacker.sign(&rng, m).unwrap().as_ref().to_vec());
        let claims = || f.assertion_claims(&f.key_jwt.id, json!({}));
        let client_jwk = {
            let p = kp.public_key().as_ref();
            json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])})
        };
        let tokens = f.post_tokens().await;
        let present = |assertion: String| {
            vec![
                ("client_id".to_string(), f.key_jwt.id.clone()),
                ("client_assertion".to_string(), assertion),
                ("client_assertion_type".to_string(), JWT_BEARER_ASSERTION_TYPE.to_string()),
            ]
        };
        // What a client assertion looks like: typ JWT, none, or RFC 7523bis's own type.
        for header in [
            json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}),
            json!({"alg": "ES256", "kid": "k1"}),
            json!({"alg": "ES256", "kid": "k1", "typ": "client-authentication+jwt"}),
            json!({"alg": "ES256", "typ": "application/JWT"}),
        ] {
            let (s, v) = authenticates(&f, present(sign(header.clone(), &claims())), None).await;
            assert_eq!(s, 200, "{backend}: {header} {v}");
        }
        let unsigned = |header: Value, claims: &Value| {
            format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
        };
        let hs_with_public_key = {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, client_jwk.to_string().as_bytes());
            sign_compact(&json!({"alg": "HS256", "kid": "k1"}), &claims(), |m| ring::hmac::sign(&key, m).as_ref().to_vec())
        };
        let es256_relabelled = {
            let t = sign(json!({"alg": "ES256", "kid": "k1"}), &claims());
            let (_, rest) = t.split_once('.').unwrap();
            format!("{}.{rest}", URL_SAFE_NO_PAD.encode(json!({"alg": "ES384", "kid": "k1"}).to_string()))
        };
        let dpop_claims = {
            let mut c = claims();
            c["htm"] = "POST".into();
            c["htu"] = f.url(routes::TOKEN).into();
            c
        };
        let refused: Vec<(&str, String)> = vec![
            ("an ID token", tokens["id_token"].as_str().unwrap().to_string()),
            ("an access token", tokens["access_token"].as_str().unwrap().to_string()),
            (
                "a DPoP proof with assertion claims",
                sign(json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": client_jwk}), &dpop_claims),
            ),
            ("typ at+jwt", sign(json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}), &claims())),
            ("typ application/at+jwt", sign(json!({"alg": "ES256", "kid": "k1", "typ": "application/at+jwt"}), &claims())),
            ("typ logout+jwt", sign(json!({"alg": "ES256", "kid": "k1", "typ": "logout+jwt"}), &claims())),
            ("alg none", unsigned(json!({"alg": "none", "kid": "k1"}), &claims())),
            ("alg none with a signature", format!("{}AAAA", unsigned(json!({"alg": "none"}), &claims()))),
            ("crit", sign(json!({"alg": "ES256", "kid": "k1", "crit": ["exp"], "exp": 1}), &claims())),
            ("HS256 keyed with the public key", hs_with_public_key),
            ("ES256 relabelled ES384", es256_relabelled),
            ("an attacker key in jwk", sign_attacker(json!({"alg": "ES256", "kid": "k1", "jwk": attacker_jwk}), &claims())),
            (
                "an attacker key by jku",
                sign_attacker(json!({"alg": "ES256", "kid": "k1", "jku": "https://evil.example/jwks"}), &claims()),
            ),
            ("an attacker key by x5u", sign_attacker(json!({"alg": "ES256", "x5u": "https://evil.example/cert"}), &claims())),
        ];
        for (name, assertion) in refused {
            let (s, v) = authenticates(&f, present(assertion), None).await;
            assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")), "{backend}: {name}: {v}");
        }
        // And vice versa: a client assertion is not an access token.
        let assertion = sign(json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}), &claims());
        let r = f.http.get(f.url(routes::USERINFO)).bearer_auth(&assertion).send().await.unwrap();
        assert_eq!(r.status(), 401, "{backend}");
    }
}

/// Regression (issue 22, found by `only_client_assertions_authenticate_as_client_assertions`):
/// the assertion verifier ignored `typ`, so a DPoP proof signed with the client's key (as a
/// resource server it was sent to could replay it) authenticated the client whenever its
/// claims also had the assertion's `iss`, `sub`, `aud`, `exp` and `jti`.
#[tokio::test]
async fn a_dpop_proof_with_assertion_claims_was_a_client_assertion() {
    for backend in backends() {
        let f = Fixture::start(backend).await;
        let rng = SystemRandom::new();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &f.client_key, &rng).unwrap();
        let p = kp.public_key().as_ref();
        let jwk =
            json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])});
        let mut claims = f.assertion_claims(&f.key_jwt.id, json!({}));
        claims["htm"] = "POST".into();
        claims["htu"] = f.url(routes::TOKEN).into();
        for typ in ["dpop+jwt", "JWT"] {
            let header = json!({"alg": "ES256", "kid": "k1", "typ": typ, "jwk": jwk});
            claims["jti"] = tessera_core::crypto::random_token::<16>().into();
            let proof = sign_compact(&header, &claims, |m| kp.sign(&rng, m).unwrap().as_ref().to_vec());
            let form = vec![
                ("client_assertion".to_string(), proof),
                ("client_assertion_type".to_string(), JWT_BEARER_ASSERTION_TYPE.to_string()),
            ];
            let (s, v) = authenticates(&f, form, None).await;
            let want = if typ == "JWT" { (200, None) } else { (401, Some("invalid_client")) };
            assert_eq!((s, v["error"].as_str()), want, "{backend}: typ {typ}: {v}");
        }
    }
}
