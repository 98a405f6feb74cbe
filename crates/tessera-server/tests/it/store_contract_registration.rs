//! The storage contract for dynamic client registration (`RegistrationStore`, RFC 7591 /
//! RFC 7592) on every store (SQLite always, PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is
//! set): the cap is kept by one conditional insert and a refused client leaves nothing
//! behind; a use is written at most once per interval; expiry selects exactly the
//! never-used and the idle; initial access tokens are used up and expire by one
//! conditional UPDATE; deleting the client deletes its registration.

use serde_json::json;
use tessera_core::model::{Client, ClientPatch};
use tessera_core::registration::{DynamicClient, RegistrationToken};

use crate::support::test_stores;

const NOW: i64 = 1_700_000_000;

fn client(id: &str) -> Client {
    Client::create(
        id.into(),
        ClientPatch {
            name: Some(format!("dyn {id}")),
            callbacks: Some(vec!["https://agent.example/cb".into()]),
            is_first_party: Some(false),
            ..Default::default()
        },
        NOW,
    )
    .unwrap()
}

fn record(id: &str) -> DynamicClient {
    DynamicClient {
        client_id: id.into(),
        registration_token_hash: format!("rat-hash-{id}"),
        metadata: json!({"client_name": format!("dyn {id}"), "redirect_uris": ["https://agent.example/cb"]}),
        created_at: NOW,
        updated_at: NOW,
        last_used_at: None,
    }
}

#[tokio::test]
async fn dynamic_clients_insert_under_the_cap_touch_expire_delete() {
    for ts in test_stores().await {
        let s = &ts.store;
        let b = ts.name();
        assert!(s.insert_dynamic_client(&client("a"), None, &record("a"), 2).await.unwrap(), "[{b}]");
        assert!(s.insert_dynamic_client(&client("b"), None, &record("b"), 2).await.unwrap(), "[{b}]");
        assert!(!s.insert_dynamic_client(&client("c"), None, &record("c"), 2).await.unwrap(), "[{b}] over the cap");
        assert!(s.get_client("c").await.unwrap().is_none(), "[{b}] the refused client is not kept");
        assert!(s.get_dynamic_client("c").await.unwrap().is_none());
        assert_eq!(s.count_dynamic_clients().await.unwrap(), 2);
        assert!(s.insert_dynamic_client(&client("d"), None, &record("d"), 0).await.unwrap(), "[{b}] 0 is no cap");
        assert_eq!(s.get_dynamic_client("a").await.unwrap(), Some(record("a")), "[{b}] read back as written");

        // A use is recorded, then not rewritten within the interval.
        s.touch_dynamic_client("a", NOW + 10, NOW + 10 - 3600).await.unwrap();
        s.touch_dynamic_client("a", NOW + 20, NOW + 20 - 3600).await.unwrap();
        assert_eq!(s.get_dynamic_client("a").await.unwrap().unwrap().last_used_at, Some(NOW + 10), "[{b}]");
        s.touch_dynamic_client("a", NOW + 3611, NOW + 3611 - 3600).await.unwrap();
        assert_eq!(s.get_dynamic_client("a").await.unwrap().unwrap().last_used_at, Some(NOW + 3611), "[{b}]");
        s.touch_dynamic_client("not-dynamic", NOW, NOW).await.unwrap();

        // Metadata replaced (RFC 7592 §2.2).
        let m = json!({"client_name": "renamed"});
        assert!(s.update_dynamic_metadata("b", &m, NOW + 5).await.unwrap());
        let rb = s.get_dynamic_client("b").await.unwrap().unwrap();
        assert_eq!((rb.metadata, rb.updated_at), (m.clone(), NOW + 5), "[{b}]");
        assert!(!s.update_dynamic_metadata("nope", &m, NOW).await.unwrap());

        // Expiry: never used and registered before the bound; used and idle before the bound.
        assert_eq!(s.expired_dynamic_clients(Some(NOW + 1), None, 100).await.unwrap(), vec!["b", "d"], "[{b}]");
        assert_eq!(s.expired_dynamic_clients(None, Some(NOW + 3612), 100).await.unwrap(), vec!["a"], "[{b}]");
        assert_eq!(s.expired_dynamic_clients(Some(NOW), Some(NOW + 3611), 100).await.unwrap(), Vec::<String>::new());
        assert_eq!(s.expired_dynamic_clients(Some(NOW + 1), Some(NOW + 3612), 1).await.unwrap(), vec!["a"], "[{b}] limit");

        // Deleting the client deletes its registration.
        assert!(s.delete_client("a").await.unwrap());
        assert!(s.get_dynamic_client("a").await.unwrap().is_none(), "[{b}]");
        assert_eq!(s.count_dynamic_clients().await.unwrap(), 2);
    }
}

#[tokio::test]
async fn initial_access_tokens_are_used_up_and_expire() {
    for ts in test_stores().await {
        let s = &ts.store;
        let b = ts.name();
        let once = RegistrationToken {
            id: "rat_1".into(),
            token_hash: "h1".into(),
            created_at: NOW,
            expires_at: Some(NOW + 60),
            remaining_uses: Some(1),
        };
        let open = RegistrationToken {
            id: "rat_2".into(),
            token_hash: "h2".into(),
            created_at: NOW + 1,
            expires_at: None,
            remaining_uses: None,
        };
        s.insert_registration_token(&once).await.unwrap();
        s.insert_registration_token(&open).await.unwrap();
        assert!(s.insert_registration_token(&once).await.is_err(), "[{b}] ids are unique");
        assert!(!s.consume_registration_token("h1", NOW + 60).await.unwrap(), "[{b}] expired at expires_at");
        assert!(s.consume_registration_token("h1", NOW + 59).await.unwrap(), "[{b}]");
        assert!(!s.consume_registration_token("h1", NOW + 1).await.unwrap(), "[{b}] used up");
        for _ in 0..3 {
            assert!(s.consume_registration_token("h2", NOW + 1_000_000).await.unwrap(), "[{b}] unlimited, no expiry");
        }
        assert!(!s.consume_registration_token("nope", NOW).await.unwrap());
        let listed = s.list_registration_tokens().await.unwrap();
        assert_eq!(
            listed.iter().map(|t| (t.id.as_str(), t.remaining_uses)).collect::<Vec<_>>(),
            [("rat_1", Some(0)), ("rat_2", None)]
        );
        assert!(s.delete_registration_token("rat_1").await.unwrap());
        assert!(!s.delete_registration_token("rat_1").await.unwrap());
        assert_eq!(s.list_registration_tokens().await.unwrap().len(), 1, "[{b}]");
    }
}
