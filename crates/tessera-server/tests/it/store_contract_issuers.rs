//! The storage contract for what token exchange and the jwt-bearer grant store (issue 20):
//! trusted issuers, and a client's exchange policy. Every store (SQLite always, PostgreSQL
//! when `TESSERA_TEST_POSTGRES_URL` is set).

use serde_json::json;
use tessera_core::model::{
    AppType, Client, ClientPatch, GrantType, SubjectMapping, TokenExchangePolicy, TrustedIssuer, TrustedIssuerPatch,
};
use tessera_core::store::StoreError;

use crate::support::test_stores;

const NOW: i64 = 1_700_000_000;

fn issuer(id: &str, iss: &str, now: i64) -> TrustedIssuer {
    let key = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k1"});
    TrustedIssuer::create(
        id.into(),
        TrustedIssuerPatch {
            issuer: Some(iss.into()),
            jwks: Some(json!({"keys": [key]})),
            clients: Some(vec!["c1".into(), "c2".into()]),
            ..Default::default()
        },
        now,
    )
    .unwrap()
}

#[tokio::test]
async fn trusted_issuers_insert_get_find_list_update_delete() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.get_trusted_issuer("iss_a").await.unwrap(), None, "[{b}] unknown id");
        assert_eq!(s.find_trusted_issuer("https://a.example").await.unwrap(), None, "[{b}] unknown issuer");
        assert!(s.list_trusted_issuers().await.unwrap().is_empty(), "[{b}] fresh store");

        let a = issuer("iss_a", "https://a.example", NOW);
        let mut c = issuer("iss_c", "https://c.example", NOW + 1);
        c.apply(
            TrustedIssuerPatch {
                jwks_uri: Some("https://c.example/jwks".into()),
                subject_mapping: Some(SubjectMapping::Email),
                name: Some("C".into()),
                ..Default::default()
            },
            NOW + 1,
        )
        .unwrap();
        assert_eq!((c.jwks.is_none(), c.jwks_uri.as_deref()), (true, Some("https://c.example/jwks")));
        s.insert_trusted_issuer(&a).await.unwrap();
        s.insert_trusted_issuer(&c).await.unwrap();

        // Every field survives the round trip, by id and by iss.
        assert_eq!(s.get_trusted_issuer("iss_a").await.unwrap().as_ref(), Some(&a), "[{b}] a by id");
        assert_eq!(s.find_trusted_issuer("https://a.example").await.unwrap().as_ref(), Some(&a), "[{b}] a by iss");
        assert_eq!(s.find_trusted_issuer("https://c.example").await.unwrap().as_ref(), Some(&c), "[{b}] c by iss");
        assert_eq!(s.find_trusted_issuer("https://A.example").await.unwrap(), None, "[{b}] iss matches exactly");
        let listed: Vec<String> = s.list_trusted_issuers().await.unwrap().into_iter().map(|t| t.id).collect();
        assert_eq!(listed, ["iss_a", "iss_c"], "[{b}] creation order");

        // One trusted issuer per iss, on insert and on update.
        let dup = issuer("iss_dup", "https://a.example", NOW);
        assert!(matches!(s.insert_trusted_issuer(&dup).await, Err(StoreError::Conflict(_))), "[{b}] duplicate iss");
        let mut clash = c.clone();
        clash.issuer = "https://a.example".into();
        assert!(matches!(s.update_trusted_issuer(&clash).await, Err(StoreError::Conflict(_))), "[{b}] update to a taken iss");

        let mut changed = a.clone();
        changed
            .apply(
                TrustedIssuerPatch {
                    issuer: Some("https://a2.example".into()),
                    jwks_uri: Some("http://127.0.0.1:9/jwks".into()),
                    subject_mapping: Some(SubjectMapping::Client),
                    clients: Some(vec!["c9".into()]),
                    ..Default::default()
                },
                NOW + 50,
            )
            .unwrap();
        assert!(s.update_trusted_issuer(&changed).await.unwrap(), "[{b}] update existing");
        let got = s.get_trusted_issuer("iss_a").await.unwrap().unwrap();
        assert_eq!(got, changed, "[{b}] every updated field is stored");
        assert_eq!(got.created_at, NOW);
        assert_eq!(s.find_trusted_issuer("https://a.example").await.unwrap(), None, "[{b}] the old iss is gone");
        assert!(!s.update_trusted_issuer(&issuer("ghost", "https://g.example", NOW)).await.unwrap(), "[{b}] update unknown");
        assert_eq!(s.get_trusted_issuer("ghost").await.unwrap(), None, "[{b}] update does not insert");

        assert!(s.delete_trusted_issuer("iss_a").await.unwrap(), "[{b}] delete");
        assert!(!s.delete_trusted_issuer("iss_a").await.unwrap(), "[{b}] delete twice");
        let listed: Vec<String> = s.list_trusted_issuers().await.unwrap().into_iter().map(|t| t.id).collect();
        assert_eq!(listed, ["iss_c"], "[{b}] after delete");
    }
}

#[tokio::test]
async fn a_clients_exchange_policy_is_stored_set_and_cleared() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let policy = TokenExchangePolicy::parse(
            r#"{"audiences": ["https://api.b"], "subject_audiences": ["https://api.a"], "subject_token_types": ["access_token", "jwt"],
                "delegation": true, "impersonation": false, "extend_lifetime": true}"#,
        )
        .unwrap();
        let mut c = Client::create(
            "svc".into(),
            ClientPatch {
                name: Some("svc".into()),
                app_type: Some(AppType::NonInteractive),
                grant_types: Some(vec![GrantType::TokenExchange.as_str().into(), GrantType::JwtBearer.as_str().into()]),
                token_exchange_policy: Some(Some(policy.clone())),
                ..Default::default()
            },
            NOW,
        )
        .unwrap();
        s.insert_client(&c, None).await.unwrap();
        let got = s.get_client("svc").await.unwrap().unwrap();
        assert_eq!(got, c, "[{b}] round trip");
        assert_eq!(got.token_exchange_policy, Some(policy), "[{b}] the policy");
        assert_eq!(got.grant_types, [GrantType::TokenExchange, GrantType::JwtBearer], "[{b}] URN grant types");
        c.apply(ClientPatch { token_exchange_policy: Some(None), ..Default::default() }, NOW + 1).unwrap();
        assert!(s.update_client(&c).await.unwrap());
        assert_eq!(s.get_client("svc").await.unwrap().unwrap().token_exchange_policy, None, "[{b}] cleared");
        let other = TokenExchangePolicy::parse(r#"{"audiences": ["https://api.c"]}"#).unwrap();
        c.apply(ClientPatch { token_exchange_policy: Some(Some(other.clone())), ..Default::default() }, NOW + 2).unwrap();
        assert!(s.update_client(&c).await.unwrap());
        assert_eq!(s.get_client("svc").await.unwrap().unwrap().token_exchange_policy, Some(other), "[{b}] set by update");
    }
}
