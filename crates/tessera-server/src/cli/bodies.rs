//! The registry's patches as the Management API's Auth0-shaped request bodies, for the
//! remote mode: a command builds one patch, and the local backend hands it to the registry
//! while the remote one sends it as the body the API turns back into the same patch
//! ([`tessera_core::model::auth0`]; the tests check the round trip).

use serde_json::{json, Map, Value};
use tessera_core::model::{ClientPatch, ResourceServerPatch, UserPatch, DATABASE_CONNECTION};

/// Inserts `value` under `key` when it is given.
fn put<T: serde::Serialize>(obj: &mut Map<String, Value>, key: &str, value: &Option<T>) {
    if let Some(v) = value {
        obj.insert(key.into(), serde_json::to_value(v).unwrap_or(Value::Null));
    }
}

/// Auth0 "Create a Client" / "Update a Client" body: the refresh-token settings in
/// `refresh_token`, the ID token's algorithm in `jwt_configuration.alg`, DPoP as
/// `require_proof_of_possession`.
pub fn client(p: &ClientPatch) -> Value {
    let mut o = Map::new();
    put(&mut o, "name", &p.name);
    put(&mut o, "app_type", &p.app_type);
    put(&mut o, "token_endpoint_auth_method", &p.token_endpoint_auth_method);
    let lists = [
        ("grant_types", &p.grant_types),
        ("callbacks", &p.callbacks),
        ("allowed_logout_urls", &p.allowed_logout_urls),
        ("web_origins", &p.web_origins),
        ("allowed_origins", &p.allowed_origins),
    ];
    for (key, value) in lists {
        put(&mut o, key, value);
    }
    put(&mut o, "is_first_party", &p.is_first_party);
    put(&mut o, "jwks", &p.jwks);
    put(&mut o, "jwks_uri", &p.jwks_uri);
    let mut rt = Map::new();
    put(&mut rt, "rotation_type", &p.rotation_type);
    put(&mut rt, "leeway", &p.leeway);
    put(&mut rt, "token_lifetime", &p.token_lifetime);
    put(&mut rt, "idle_token_lifetime", &p.idle_token_lifetime);
    if !rt.is_empty() {
        o.insert("refresh_token".into(), Value::Object(rt));
    }
    if let Some(alg) = p.id_token_signed_response_alg {
        o.insert("jwt_configuration".into(), json!({"alg": alg.as_str()}));
    }
    put(&mut o, "require_proof_of_possession", &p.require_dpop);
    // `null` (Some(None)) resets to the deployment's default / removes the policy.
    put(&mut o, "dpop_nonce", &p.dpop_nonce);
    put(&mut o, "token_exchange_policy", &p.token_exchange_policy);
    put(&mut o, "require_pushed_authorization_requests", &p.require_pushed_authorization_requests);
    Value::Object(o)
}

/// Auth0 "Create a Resource Server" / "Update a Resource Server" body; DPoP as
/// `proof_of_possession: {mechanism: "dpop", required: true}` (`null` turns it off).
pub fn api(p: &ResourceServerPatch) -> Value {
    let mut o = Map::new();
    put(&mut o, "identifier", &p.identifier);
    put(&mut o, "name", &p.name);
    put(&mut o, "scopes", &p.scopes);
    put(&mut o, "signing_alg", &p.signing_alg);
    put(&mut o, "token_lifetime", &p.token_lifetime);
    put(&mut o, "allow_offline_access", &p.allow_offline_access);
    match p.require_dpop {
        Some(true) => {
            o.insert("proof_of_possession".into(), json!({"mechanism": "dpop", "required": true}));
        }
        Some(false) => {
            o.insert("proof_of_possession".into(), Value::Null);
        }
        None => {}
    }
    Value::Object(o)
}

/// Auth0 "Update a User" body: the profile fields given (the patch's names are Auth0's).
pub fn user(p: &UserPatch) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, field| !field.is_null());
    }
    v
}

/// Auth0 "Create a User" body: the profile in the one database connection, with the
/// password when one is set.
pub fn new_user(p: &UserPatch, password: Option<&str>) -> Value {
    let mut v = user(p);
    v["connection"] = DATABASE_CONNECTION.into();
    if let Some(pw) = password {
        v["password"] = pw.into();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::model::auth0::{ClientBody, ResourceServerBody};
    use tessera_core::model::{ApiScope, AppType, RotationType, SigningAlg, TokenEndpointAuthMethod, TokenExchangePolicy};

    fn client_round_trip(p: ClientPatch) {
        let body = client(&p);
        let back = serde_json::from_value::<ClientBody>(body.clone()).expect("the API takes the body").into_patch().unwrap();
        assert_eq!(format!("{back:?}"), format!("{p:?}"), "{body}");
    }

    #[test]
    fn every_client_setting_survives_the_api_body() {
        client_round_trip(ClientPatch::default());
        client_round_trip(ClientPatch {
            name: Some("n".into()),
            app_type: Some(AppType::NonInteractive),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretBasic),
            grant_types: Some(vec!["client_credentials".into()]),
            callbacks: Some(vec!["https://a.example/cb".into()]),
            allowed_logout_urls: Some(vec!["https://a.example/".into()]),
            web_origins: Some(vec!["https://a.example".into()]),
            allowed_origins: Some(vec!["https://b.example".into()]),
            is_first_party: Some(false),
            jwks: Some(json!({"keys": []})),
            jwks_uri: None,
            private_key_jwt_credentials: None,
            rotation_type: Some(RotationType::Rotating),
            leeway: Some(3),
            token_lifetime: Some(100),
            idle_token_lifetime: Some(50),
            id_token_signed_response_alg: Some(SigningAlg::ES256),
            require_dpop: Some(true),
            dpop_nonce: Some(Some(false)),
            token_exchange_policy: Some(Some(TokenExchangePolicy::parse(r#"{"audiences":["https://api.b"]}"#).unwrap())),
            require_pushed_authorization_requests: Some(true),
        });
        // `null`s: the deployment's nonce default, no exchange policy.
        client_round_trip(ClientPatch {
            jwks_uri: Some("https://keys.example/jwks".into()),
            dpop_nonce: Some(None),
            token_exchange_policy: Some(None),
            ..Default::default()
        });
    }

    #[test]
    fn every_api_setting_survives_the_api_body() {
        for require_dpop in [None, Some(true), Some(false)] {
            let p = ResourceServerPatch {
                identifier: Some("https://api.example.com".into()),
                name: Some("A".into()),
                scopes: Some(vec![ApiScope { value: "read:x".into(), description: "Read".into() }]),
                signing_alg: Some(SigningAlg::PS256),
                token_lifetime: Some(60),
                allow_offline_access: Some(true),
                require_dpop,
            };
            let body = api(&p);
            let back = serde_json::from_value::<ResourceServerBody>(body.clone()).unwrap().into_patch().unwrap();
            assert_eq!(format!("{back:?}"), format!("{p:?}"), "{body}");
        }
    }

    #[test]
    fn a_new_user_names_the_database_connection() {
        let p = UserPatch { email: Some("a@example.com".into()), ..Default::default() };
        assert_eq!(
            new_user(&p, Some("pw")),
            json!({"email": "a@example.com", "connection": "Username-Password-Authentication", "password": "pw"})
        );
        assert_eq!(new_user(&p, None), json!({"email": "a@example.com", "connection": "Username-Password-Authentication"}));
    }
}
