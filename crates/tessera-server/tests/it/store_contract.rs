//! The storage contract: every method of every port in `tessera_core::store`, run against
//! every store (SQLite always, PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is set). Each
//! test loops over fresh stores and names the backend in its assertion messages.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;
use tessera_core::crypto::{Keyring, MasterKey};
use tessera_core::model::{
    ApiScope, AppType, Client, ClientGrant, ClientPatch, ClientSecret, GrantType, ResourceServer, ResourceServerPatch,
    RotationType, SecretKind, SigningAlg, TokenEndpointAuthMethod, User, UserPatch,
};
use tessera_core::store::{AuditEvent, AuditQuery, Store, StoreError, UserFilter};
use tessera_core::tokens::{KeyState, SigningKeyRecord};
use tessera_server::store::housekeeping::Purge;
use tessera_server::store::migrations::{Migration, POSTGRES, SQLITE};

use crate::support::{test_stores, TestStore};

const NOW: i64 = 1_700_000_000;

fn client(id: &str, name: &str, now: i64) -> Client {
    Client::create(
        id.into(),
        ClientPatch {
            name: Some(name.into()),
            callbacks: Some(vec!["https://app.example.com/callback".into()]),
            ..Default::default()
        },
        now,
    )
    .unwrap()
}

fn secret(id: &str, client_id: &str, created_at: i64, expires_at: Option<i64>) -> ClientSecret {
    ClientSecret {
        id: id.into(),
        client_id: client_id.into(),
        kind: SecretKind::Hmac,
        value: format!("hash-of-{id}"),
        created_at,
        expires_at,
    }
}

fn api(id: &str, identifier: &str, now: i64) -> ResourceServer {
    ResourceServer::create(
        id.into(),
        ResourceServerPatch {
            identifier: Some(identifier.into()),
            scopes: Some(vec![
                ApiScope { value: "read:x".into(), description: "Read".into() },
                ApiScope { value: "write:x".into(), description: String::new() },
            ]),
            ..Default::default()
        },
        now,
    )
    .unwrap()
}

fn grant(id: &str, client_id: &str, audience: &str, scope: &[&str]) -> ClientGrant {
    ClientGrant {
        id: id.into(),
        client_id: client_id.into(),
        audience: audience.into(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
    }
}

fn user(id: &str, email: Option<&str>, username: Option<&str>, now: i64) -> User {
    User::create(
        id.into(),
        UserPatch { email: email.map(Into::into), username: username.map(Into::into), ..Default::default() },
        now,
    )
    .unwrap()
}

fn keyring() -> Keyring {
    Keyring::new(&MasterKey::generate())
}

fn key(alg: SigningAlg, state: KeyState, kr: &Keyring, now: i64) -> SigningKeyRecord {
    SigningKeyRecord::generate(alg, state, kr, now).unwrap()
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

/// kid → state of every stored key.
async fn key_states(store: &dyn Store) -> BTreeMap<String, KeyState> {
    store.list_signing_keys().await.unwrap().into_iter().map(|k| (k.kid, k.state)).collect()
}

fn kid_in(keys: &[SigningKeyRecord], kid: &str) -> SigningKeyRecord {
    keys.iter().find(|k| k.kid == kid).cloned().unwrap_or_else(|| panic!("key {kid} missing"))
}

#[tokio::test]
async fn ping_and_backend_name() {
    for TestStore { backend, store, .. } in test_stores().await {
        store.ping().await.unwrap_or_else(|e| panic!("[{backend}] ping: {e}"));
        assert_eq!(store.backend(), backend.name());
    }
}

#[tokio::test]
async fn clients_insert_get_list_update_delete() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.get_client("nope").await.unwrap(), None, "[{b}] unknown client");
        assert!(s.list_clients().await.unwrap().is_empty(), "[{b}] fresh store has no clients");

        let mut a = client("client_a", "App A", NOW);
        a.allowed_logout_urls = vec!["https://app.example.com/bye".into()];
        a.web_origins = vec!["https://app.example.com".into(), "http://localhost:3000".into()];
        a.allowed_origins = vec!["https://login.example.com".into()];
        a.jwks = Some(json!({"keys": []}));
        let m2m = Client::create(
            "client_b".into(),
            ClientPatch {
                name: Some("Machine".into()),
                app_type: Some(AppType::NonInteractive),
                id_token_signed_response_alg: Some(SigningAlg::ES256),
                ..Default::default()
            },
            NOW + 1,
        )
        .unwrap();
        let native = Client::create(
            "client_c".into(),
            ClientPatch {
                name: Some("Native".into()),
                app_type: Some(AppType::Native),
                callbacks: Some(vec!["http://127.0.0.1/cb".into()]),
                ..Default::default()
            },
            NOW + 2,
        )
        .unwrap();
        assert_eq!(native.token_endpoint_auth_method, TokenEndpointAuthMethod::None);
        s.insert_client(&a, None).await.unwrap();
        s.insert_client(&m2m, None).await.unwrap();
        s.insert_client(&native, None).await.unwrap();

        // Every field survives the round trip.
        assert_eq!(s.get_client("client_a").await.unwrap().as_ref(), Some(&a), "[{b}] client a round trip");
        assert_eq!(s.get_client("client_b").await.unwrap().as_ref(), Some(&m2m), "[{b}] client b round trip");
        assert_eq!(s.get_client("client_c").await.unwrap().as_ref(), Some(&native), "[{b}] client c round trip");
        let listed: Vec<String> = s.list_clients().await.unwrap().into_iter().map(|c| c.client_id).collect();
        assert_eq!(listed, ["client_a", "client_b", "client_c"], "[{b}] list in creation order");

        assert!(is_conflict(&s.insert_client(&client("client_a", "Again", NOW), None).await), "[{b}] duplicate client_id");

        let mut changed = a.clone();
        changed.name = "Renamed".into();
        changed.grant_types = vec![GrantType::AuthorizationCode];
        changed.callbacks = vec!["https://other.example.com/cb".into(), "https://app.example.com/callback".into()];
        changed.is_first_party = false;
        changed.jwks = None;
        changed.web_origins = vec!["https://other.example.com".into()];
        changed.allowed_origins = vec![];
        changed.refresh_token.rotation_type = RotationType::Rotating;
        changed.refresh_token.leeway = 30;
        changed.refresh_token.token_lifetime = 7200;
        changed.refresh_token.idle_token_lifetime = 3600;
        changed.id_token_signed_response_alg = SigningAlg::EdDSA;
        changed.updated_at = NOW + 100;
        assert!(s.update_client(&changed).await.unwrap(), "[{b}] update existing");
        let got = s.get_client("client_a").await.unwrap().unwrap();
        assert_eq!(got, changed, "[{b}] every updated field is stored");
        assert_eq!(got.created_at, NOW, "[{b}] created_at is not changed by an update");
        assert!(!s.update_client(&client("ghost", "Ghost", NOW)).await.unwrap(), "[{b}] update unknown");
        assert_eq!(s.get_client("ghost").await.unwrap(), None, "[{b}] update does not insert");

        assert!(s.delete_client("client_b").await.unwrap(), "[{b}] delete existing");
        assert!(!s.delete_client("client_b").await.unwrap(), "[{b}] delete twice");
        assert_eq!(s.get_client("client_b").await.unwrap(), None);
        let listed: Vec<String> = s.list_clients().await.unwrap().into_iter().map(|c| c.client_id).collect();
        assert_eq!(listed, ["client_a", "client_c"], "[{b}] list after delete");
    }
}

/// A `private_key_jwt` client's keys by reference (`jwks_uri`) survive the round trip, and
/// switching between a URL and an inline set stores exactly the one that is set.
#[tokio::test]
async fn a_client_jwks_uri_is_stored_and_replaced() {
    let key = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let patch = ClientPatch {
            name: Some("Keyed".into()),
            app_type: Some(AppType::NonInteractive),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::PrivateKeyJwt),
            jwks_uri: Some("https://keys.example.com/jwks.json".into()),
            ..Default::default()
        };
        let mut c = Client::create("client_k".into(), patch, NOW).unwrap();
        s.insert_client(&c, None).await.unwrap();
        let got = s.get_client("client_k").await.unwrap().unwrap();
        assert_eq!(got.jwks_uri.as_deref(), Some("https://keys.example.com/jwks.json"), "[{b}] stored");
        assert_eq!(got, c, "[{b}] round trip");

        c.apply(ClientPatch { jwks: Some(json!({"keys": [key]})), ..Default::default() }, NOW + 1).unwrap();
        assert!(c.jwks_uri.is_none(), "an inline set replaces the URL");
        assert!(s.update_client(&c).await.unwrap());
        let got = s.get_client("client_k").await.unwrap().unwrap();
        assert_eq!((got.jwks_uri.as_deref(), got.jwks.is_some()), (None, true), "[{b}] the URL is gone from the store");
        assert_eq!(got, c, "[{b}] round trip after the update");

        c.apply(ClientPatch { jwks_uri: Some("https://keys.example.com/v2".into()), ..Default::default() }, NOW + 2).unwrap();
        assert!(s.update_client(&c).await.unwrap());
        let got = s.get_client("client_k").await.unwrap().unwrap();
        assert_eq!((got.jwks_uri.as_deref(), got.jwks.is_some()), (Some("https://keys.example.com/v2"), false), "[{b}]");
        assert_eq!(s.list_clients().await.unwrap(), vec![c], "[{b}] list reads it too");
    }
}

#[tokio::test]
async fn deleting_a_client_removes_its_secrets_and_grants() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        s.insert_api(&api("api1", "https://api.example.com", NOW)).await.unwrap();
        for id in ["c1", "c2"] {
            s.insert_client(&client(id, id, NOW), Some(&secret(&format!("sec_{id}"), id, NOW, None))).await.unwrap();
            s.insert_grant(&grant(&format!("cgr_{id}"), id, "https://api.example.com", &["read:x"])).await.unwrap();
        }
        assert!(s.delete_client("c1").await.unwrap());
        assert!(s.client_secrets("c1").await.unwrap().is_empty(), "[{b}] secrets of a deleted client are gone");
        assert!(s.list_grants(Some("c1")).await.unwrap().is_empty(), "[{b}] grants of a deleted client are gone");
        assert_eq!(s.get_grant("cgr_c1").await.unwrap(), None, "[{b}] grant by id is gone");
        // The other client keeps everything.
        assert_eq!(s.client_secrets("c2").await.unwrap().len(), 1, "[{b}] other client's secret kept");
        assert_eq!(s.list_grants(None).await.unwrap().len(), 1, "[{b}] other client's grant kept");
        // The id can be reused after deletion, with no leftover secret.
        s.insert_client(&client("c1", "again", NOW + 5), None).await.unwrap();
        assert!(s.client_secrets("c1").await.unwrap().is_empty(), "[{b}] no stale secret after re-creation");
    }
}

#[tokio::test]
async fn inserting_a_client_with_its_secret_is_atomic() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let first = secret("sec_1", "c1", NOW, None);
        s.insert_client(&client("c1", "One", NOW), Some(&first)).await.unwrap();
        assert_eq!(s.client_secrets("c1").await.unwrap(), vec![first.clone()], "[{b}] secret stored with the client");

        // The second client's secret collides (same secret id): neither row may remain.
        let colliding = secret("sec_1", "c2", NOW, None);
        let r = s.insert_client(&client("c2", "Two", NOW), Some(&colliding)).await;
        assert!(is_conflict(&r), "[{b}] colliding secret id must be a conflict, got {r:?}");
        assert_eq!(s.get_client("c2").await.unwrap(), None, "[{b}] client insert rolled back with its secret");
        assert!(s.client_secrets("c2").await.unwrap().is_empty(), "[{b}] no secret for the refused client");
        assert_eq!(s.client_secrets("c1").await.unwrap(), vec![first], "[{b}] first client's secret untouched");

        // A duplicate client id with a fresh secret leaves no orphan secret either.
        let r = s.insert_client(&client("c1", "Dup", NOW), Some(&secret("sec_2", "c1", NOW, None))).await;
        assert!(is_conflict(&r), "[{b}] duplicate client id, got {r:?}");
        let ids: Vec<String> = s.client_secrets("c1").await.unwrap().into_iter().map(|x| x.id).collect();
        assert_eq!(ids, ["sec_1"], "[{b}] no secret left behind by the refused insert");
    }
}

#[tokio::test]
async fn rotating_a_client_secret_ends_the_others_atomically() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let mut aead = secret("sec_a", "c1", NOW, None);
        aead.kind = SecretKind::Aead;
        s.insert_client(&client("c1", "One", NOW), Some(&aead)).await.unwrap();
        s.insert_client(&client("c2", "Two", NOW), Some(&secret("sec_other", "c2", NOW, None))).await.unwrap();
        // Three more secrets of c1 via rotations: one already expired, one expiring later.
        assert!(s.rotate_client_secret(&secret("sec_b", "c1", NOW + 1, Some(NOW + 5)), NOW + 1_000_000).await.unwrap());
        assert!(s.rotate_client_secret(&secret("sec_c", "c1", NOW + 2, Some(NOW + 10_000)), NOW + 1_000_000).await.unwrap());
        let before: BTreeMap<String, Option<i64>> =
            s.client_secrets("c1").await.unwrap().into_iter().map(|x| (x.id, x.expires_at)).collect();
        assert_eq!(
            before,
            BTreeMap::from([
                ("sec_a".into(), Some(NOW + 1_000_000)),
                ("sec_b".into(), Some(NOW + 5)),
                ("sec_c".into(), Some(NOW + 10_000))
            ]),
            "[{b}] secrets before the rotation"
        );

        let at = NOW + 60;
        assert!(s.rotate_client_secret(&secret("sec_new", "c1", NOW + 20, None), at).await.unwrap(), "[{b}] rotate");
        let after = s.client_secrets("c1").await.unwrap();
        let ids: Vec<&str> = after.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["sec_a", "sec_b", "sec_c", "sec_new"], "[{b}] ordered by creation");
        let exp: BTreeMap<&str, Option<i64>> = after.iter().map(|x| (x.id.as_str(), x.expires_at)).collect();
        assert_eq!(exp["sec_a"], Some(at), "[{b}] a valid secret ends at the given time");
        assert_eq!(exp["sec_b"], Some(NOW + 5), "[{b}] an already-ended secret keeps its earlier end");
        assert_eq!(exp["sec_c"], Some(at), "[{b}] a later end is brought forward");
        assert_eq!(exp["sec_new"], None, "[{b}] the new secret does not expire");
        assert_eq!(after[0].kind, SecretKind::Aead, "[{b}] kind round trip");
        assert_eq!(after[3], secret("sec_new", "c1", NOW + 20, None), "[{b}] new secret round trip");
        assert_eq!(s.client_secrets("c2").await.unwrap()[0].expires_at, None, "[{b}] other clients untouched");

        let r = s.rotate_client_secret(&secret("sec_ghost", "ghost", NOW, None), NOW).await.unwrap();
        assert!(!r, "[{b}] unknown client");
        assert!(s.client_secrets("ghost").await.unwrap().is_empty(), "[{b}] nothing inserted for an unknown client");
    }
}

#[tokio::test]
async fn apis_insert_get_update_delete() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.get_api("nope").await.unwrap(), None);
        assert_eq!(s.get_api_by_identifier("https://nope.example.com").await.unwrap(), None);
        let a1 = api("api1", "https://api.example.com", NOW);
        let mut a2 = api("api2", "urn:example:billing", NOW + 1);
        a2.signing_alg = SigningAlg::PS256;
        a2.token_lifetime = 600;
        a2.allow_offline_access = true;
        a2.name = "Billing".into();
        s.insert_api(&a1).await.unwrap();
        s.insert_api(&a2).await.unwrap();
        assert_eq!(s.get_api("api1").await.unwrap().as_ref(), Some(&a1), "[{b}] get by id");
        assert_eq!(s.get_api_by_identifier("urn:example:billing").await.unwrap().as_ref(), Some(&a2), "[{b}] get by identifier");
        assert_eq!(s.get_api_by_identifier("api1").await.unwrap(), None, "[{b}] the id is not an identifier");
        assert_eq!(s.list_apis().await.unwrap(), vec![a1.clone(), a2.clone()], "[{b}] list");

        let dup = api("api3", "https://api.example.com", NOW);
        assert!(is_conflict(&s.insert_api(&dup).await), "[{b}] duplicate identifier");
        assert!(is_conflict(&s.insert_api(&api("api1", "https://other.example.com", NOW)).await), "[{b}] duplicate id");
        assert_eq!(s.list_apis().await.unwrap().len(), 2, "[{b}] refused inserts leave nothing");

        let mut changed = a1.clone();
        changed.name = "Renamed".into();
        changed.scopes = vec![ApiScope { value: "admin".into(), description: "All of it".into() }];
        changed.signing_alg = SigningAlg::ES256;
        changed.token_lifetime = 300;
        changed.allow_offline_access = true;
        changed.updated_at = NOW + 50;
        assert!(s.update_api(&changed).await.unwrap(), "[{b}] update");
        assert_eq!(s.get_api("api1").await.unwrap().as_ref(), Some(&changed), "[{b}] updated fields stored");
        assert!(!s.update_api(&api("ghost", "https://ghost.example.com", NOW)).await.unwrap(), "[{b}] update unknown");

        assert!(s.delete_api("api2").await.unwrap(), "[{b}] delete");
        assert!(!s.delete_api("api2").await.unwrap(), "[{b}] delete twice");
        assert_eq!(s.get_api_by_identifier("urn:example:billing").await.unwrap(), None);
        // The identifier is free again.
        s.insert_api(&api("api4", "urn:example:billing", NOW + 2)).await.unwrap();
    }
}

#[tokio::test]
async fn deleting_an_api_removes_the_grants_naming_it() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        s.insert_api(&api("api1", "https://one.example.com", NOW)).await.unwrap();
        s.insert_api(&api("api2", "https://two.example.com", NOW)).await.unwrap();
        s.insert_client(&client("c1", "One", NOW), None).await.unwrap();
        s.insert_client(&client("c2", "Two", NOW), None).await.unwrap();
        s.insert_grant(&grant("g1", "c1", "https://one.example.com", &["read:x"])).await.unwrap();
        s.insert_grant(&grant("g2", "c2", "https://one.example.com", &[])).await.unwrap();
        s.insert_grant(&grant("g3", "c1", "https://two.example.com", &["write:x"])).await.unwrap();
        assert!(s.delete_api("api1").await.unwrap());
        let left: Vec<String> = s.list_grants(None).await.unwrap().into_iter().map(|g| g.id).collect();
        assert_eq!(left, ["g3"], "[{b}] only grants for the deleted API are removed");
        assert_eq!(s.find_grant("c1", "https://one.example.com").await.unwrap(), None, "[{b}] find after delete");
        assert!(s.get_client("c1").await.unwrap().is_some(), "[{b}] clients survive");
    }
}

#[tokio::test]
async fn grants_insert_find_list_update_delete() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        s.insert_api(&api("api1", "https://one.example.com", NOW)).await.unwrap();
        s.insert_api(&api("api2", "https://two.example.com", NOW)).await.unwrap();
        s.insert_client(&client("c1", "One", NOW), None).await.unwrap();
        s.insert_client(&client("c2", "Two", NOW), None).await.unwrap();
        let g1 = grant("g1", "c1", "https://one.example.com", &["read:x", "write:x"]);
        let g2 = grant("g2", "c1", "https://two.example.com", &[]);
        let g3 = grant("g3", "c2", "https://one.example.com", &["read:x"]);
        for g in [&g1, &g2, &g3] {
            s.insert_grant(g).await.unwrap();
        }
        assert_eq!(s.get_grant("g1").await.unwrap().as_ref(), Some(&g1), "[{b}] get");
        assert_eq!(s.get_grant("nope").await.unwrap(), None, "[{b}] get unknown");
        assert_eq!(s.find_grant("c1", "https://two.example.com").await.unwrap().as_ref(), Some(&g2), "[{b}] find");
        assert_eq!(s.find_grant("c2", "https://two.example.com").await.unwrap(), None, "[{b}] find none");
        assert_eq!(s.list_grants(None).await.unwrap(), vec![g1.clone(), g2.clone(), g3.clone()], "[{b}] list all");
        assert_eq!(s.list_grants(Some("c1")).await.unwrap(), vec![g1.clone(), g2.clone()], "[{b}] list of c1");
        assert_eq!(s.list_grants(Some("c2")).await.unwrap(), vec![g3.clone()], "[{b}] list of c2");
        assert!(s.list_grants(Some("ghost")).await.unwrap().is_empty(), "[{b}] list of unknown client");

        let dup = grant("g4", "c1", "https://one.example.com", &["read:x"]);
        assert!(is_conflict(&s.insert_grant(&dup).await), "[{b}] duplicate (client, audience)");
        assert_eq!(s.get_grant("g4").await.unwrap(), None, "[{b}] refused grant not stored");

        let mut changed = g1.clone();
        changed.scope = vec!["read:x".into()];
        assert!(s.update_grant(&changed).await.unwrap(), "[{b}] update");
        assert_eq!(s.get_grant("g1").await.unwrap().as_ref(), Some(&changed), "[{b}] updated scope stored");
        assert!(!s.update_grant(&grant("ghost", "c1", "x", &[])).await.unwrap(), "[{b}] update unknown");

        assert!(s.delete_grant("g1").await.unwrap(), "[{b}] delete");
        assert!(!s.delete_grant("g1").await.unwrap(), "[{b}] delete twice");
        assert_eq!(s.find_grant("c1", "https://one.example.com").await.unwrap(), None);
        // The pair is free again.
        s.insert_grant(&dup).await.unwrap();
    }
}

#[tokio::test]
async fn users_insert_find_list_update_delete() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let mut alice = user("auth0|alice", Some("Alice@Example.COM"), None, NOW);
        assert_eq!(alice.email.as_deref(), Some("alice@example.com"), "emails are stored lower-cased");
        alice.given_name = Some("Alice".into());
        alice.family_name = Some("Liddell".into());
        alice.picture = Some("https://img.example.com/a.png".into());
        alice.email_verified = true;
        let bob = user("auth0|bob", None, Some("Bob_1"), NOW + 1);
        s.insert_user(&alice).await.unwrap();
        s.insert_user(&bob).await.unwrap();
        assert_eq!(s.get_user("auth0|alice").await.unwrap().as_ref(), Some(&alice), "[{b}] round trip");
        assert_eq!(s.get_user("nope").await.unwrap(), None);

        for login in ["alice@example.com", "ALICE@example.com", "Alice@Example.COM"] {
            let found = s.find_user_by_login(login).await.unwrap();
            assert_eq!(found.map(|u| u.user_id), Some("auth0|alice".into()), "[{b}] email {login:?} case-insensitively");
        }
        assert_eq!(s.find_user_by_login("Bob_1").await.unwrap().map(|u| u.user_id), Some("auth0|bob".into()), "[{b}] username");
        assert_eq!(s.find_user_by_login("bob_1").await.unwrap(), None, "[{b}] usernames match exactly");
        assert_eq!(s.find_user_by_login("nobody@example.com").await.unwrap(), None, "[{b}] unknown login");

        let r = s.insert_user(&user("auth0|alice2", Some("ALICE@example.com"), None, NOW)).await;
        assert!(is_conflict(&r), "[{b}] duplicate email (any case), got {r:?}");
        let r = s.insert_user(&user("auth0|bob2", None, Some("Bob_1"), NOW)).await;
        assert!(is_conflict(&r), "[{b}] duplicate username, got {r:?}");
        let r = s.insert_user(&user("auth0|alice", Some("other@example.com"), None, NOW)).await;
        assert!(is_conflict(&r), "[{b}] duplicate user_id, got {r:?}");

        // Update writes every field, including the password hash and the blocked flag.
        let mut changed = alice.clone();
        changed.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        changed.blocked = true;
        changed.name = Some("Alice L.".into());
        changed.email_verified = false;
        changed.username = Some("alice".into());
        changed.updated_at = NOW + 10;
        assert!(s.update_user(&changed).await.unwrap(), "[{b}] update");
        let got = s.get_user("auth0|alice").await.unwrap().unwrap();
        assert_eq!(got, changed, "[{b}] every field updated");
        assert_eq!(got.password_hash, changed.password_hash, "[{b}] password hash stored");
        assert!(got.blocked, "[{b}] blocked stored");
        assert_eq!(s.find_user_by_login("alice").await.unwrap().map(|u| u.user_id), Some("auth0|alice".into()));
        // Unblock and clear the password again.
        let mut back = got.clone();
        back.blocked = false;
        back.password_hash = None;
        assert!(s.update_user(&back).await.unwrap());
        assert_eq!(s.get_user("auth0|alice").await.unwrap().unwrap(), back, "[{b}] flags and hash cleared");
        // An update that takes someone else's username is refused.
        let mut taken = bob.clone();
        taken.username = Some("alice".into());
        assert!(is_conflict(&s.update_user(&taken).await), "[{b}] update into a taken username");
        assert_eq!(s.get_user("auth0|bob").await.unwrap().as_ref(), Some(&bob), "[{b}] refused update changed nothing");
        assert!(!s.update_user(&user("auth0|ghost", Some("g@example.com"), None, NOW)).await.unwrap(), "[{b}] update unknown");

        assert!(s.delete_user("auth0|bob").await.unwrap(), "[{b}] delete");
        assert!(!s.delete_user("auth0|bob").await.unwrap(), "[{b}] delete twice");
        assert_eq!(s.find_user_by_login("Bob_1").await.unwrap(), None, "[{b}] deleted user not found");
    }
}

#[tokio::test]
async fn users_list_pages_with_limit_and_offset_and_are_counted() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.count_users().await.unwrap(), 0, "[{b}] empty");
        let ids: Vec<String> = (0..5).map(|i| format!("auth0|u{i}")).collect();
        // Inserted out of order; listed by creation time.
        for i in [3, 0, 4, 1, 2] {
            s.insert_user(&user(&ids[i], Some(&format!("u{i}@example.com")), None, NOW + i as i64)).await.unwrap();
        }
        let page = |limit, offset| async move {
            s.list_users(limit, offset).await.unwrap().into_iter().map(|u| u.user_id).collect::<Vec<_>>()
        };
        assert_eq!(page(100, 0).await, ids, "[{b}] all");
        assert_eq!(page(2, 0).await, ids[0..2], "[{b}] first page");
        assert_eq!(page(2, 2).await, ids[2..4], "[{b}] second page");
        assert_eq!(page(2, 4).await, ids[4..5], "[{b}] last page");
        assert!(page(2, 5).await.is_empty(), "[{b}] past the end");
        assert_eq!(s.count_users().await.unwrap(), 5, "[{b}] count");
        s.delete_user("auth0|u0").await.unwrap();
        assert_eq!(s.count_users().await.unwrap(), 4, "[{b}] count after a delete");
    }
}

#[tokio::test]
async fn users_are_filtered_by_email_verified_paged_and_counted() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let verified = |v| UserFilter { email_verified: Some(v) };
        // Inserted out of order; u0, u2, u4 verified.
        for i in [3, 0, 4, 1, 2] {
            let mut u = user(&format!("auth0|u{i}"), Some(&format!("u{i}@example.com")), None, NOW + i as i64);
            u.email_verified = i % 2 == 0;
            s.insert_user(&u).await.unwrap();
        }
        let page = |f: UserFilter, limit, offset| async move {
            s.list_users_matching(&f, limit, offset).await.unwrap().into_iter().map(|u| u.user_id).collect::<Vec<_>>()
        };
        assert_eq!(page(verified(true), 100, 0).await, ["auth0|u0", "auth0|u2", "auth0|u4"], "[{b}] verified");
        assert_eq!(page(verified(false), 100, 0).await, ["auth0|u1", "auth0|u3"], "[{b}] not verified");
        assert_eq!(page(verified(true), 1, 1).await, ["auth0|u2"], "[{b}] paged in order");
        assert_eq!(page(UserFilter::default(), 2, 3).await, ["auth0|u3", "auth0|u4"], "[{b}] no filter is the whole list");
        assert_eq!(s.count_users_matching(&verified(true)).await.unwrap(), 3, "[{b}]");
        assert_eq!(s.count_users_matching(&verified(false)).await.unwrap(), 2, "[{b}]");
        assert_eq!(s.count_users_matching(&UserFilter::default()).await.unwrap(), 5, "[{b}]");

        // The counts are kept, not computed: they follow a change of email_verified, an
        // update that leaves it alone, a refused duplicate, and a delete.
        let mut u1 = s.get_user("auth0|u1").await.unwrap().unwrap();
        u1.email_verified = true;
        assert!(s.update_user(&u1).await.unwrap());
        u1.name = Some("renamed".into());
        assert!(s.update_user(&u1).await.unwrap());
        assert_eq!(s.count_users_matching(&verified(true)).await.unwrap(), 4, "[{b}] after verifying u1");
        assert_eq!(s.count_users_matching(&verified(false)).await.unwrap(), 1, "[{b}] after verifying u1");
        assert!(s.insert_user(&u1).await.is_err(), "[{b}] a duplicate is refused");
        s.delete_user("auth0|u0").await.unwrap();
        assert_eq!(s.count_users_matching(&verified(true)).await.unwrap(), 3, "[{b}] after a delete");
        assert_eq!(s.count_users_matching(&UserFilter::default()).await.unwrap(), 4, "[{b}] after a delete");
        assert_eq!(s.count_users().await.unwrap(), 4, "[{b}] count_users agrees");
    }
}

#[tokio::test]
async fn user_metadata_is_stored_replaced_and_removed_with_its_user() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert!(!s.put_user_metadata("auth0|ghost", &json!({}), &json!({})).await.unwrap(), "[{b}] no such user");
        s.insert_user(&user("auth0|m", Some("m@example.com"), None, NOW)).await.unwrap();
        assert_eq!(s.get_user_metadata("auth0|m").await.unwrap(), None, "[{b}] none yet");
        assert!(s.put_user_metadata("auth0|m", &json!({"a": 1}), &json!({"plan": "pro"})).await.unwrap(), "[{b}]");
        assert_eq!(s.get_user_metadata("auth0|m").await.unwrap(), Some((json!({"a": 1}), json!({"plan": "pro"}))), "[{b}]");
        assert!(s.put_user_metadata("auth0|m", &json!({}), &json!({"n": {"deep": [1, 2]}})).await.unwrap(), "[{b}] replace");
        assert_eq!(s.get_user_metadata("auth0|m").await.unwrap(), Some((json!({}), json!({"n": {"deep": [1, 2]}}))), "[{b}]");
        // A page's metadata in one read: only the users that have any, whatever the order.
        s.insert_user(&user("auth0|m2", Some("m2@example.com"), None, NOW)).await.unwrap();
        s.insert_user(&user("auth0|m3", Some("m3@example.com"), None, NOW)).await.unwrap();
        assert!(s.put_user_metadata("auth0|m3", &json!({"x": true}), &json!({})).await.unwrap());
        let ids = ["auth0|m3", "auth0|ghost", "auth0|m2", "auth0|m"].map(String::from);
        let mut page = s.get_users_metadata(&ids).await.unwrap();
        page.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            page,
            vec![
                ("auth0|m".to_string(), json!({}), json!({"n": {"deep": [1, 2]}})),
                ("auth0|m3".to_string(), json!({"x": true}), json!({})),
            ],
            "[{b}] batch"
        );
        assert!(s.get_users_metadata(&[]).await.unwrap().is_empty(), "[{b}] no ids");
        assert!(s.delete_user("auth0|m").await.unwrap(), "[{b}]");
        assert_eq!(s.get_user_metadata("auth0|m").await.unwrap(), None, "[{b}] gone with the user");
    }
}

#[tokio::test]
async fn signing_keys_insert_list_and_one_active_key_per_state() {
    let kr = keyring();
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert!(s.list_signing_keys().await.unwrap().is_empty(), "[{b}] fresh store has no keys");
        let cur = key(SigningAlg::ES256, KeyState::Current, &kr, NOW);
        let next = key(SigningAlg::ES256, KeyState::Next, &kr, NOW);
        let mut old = key(SigningAlg::ES256, KeyState::Retired, &kr, NOW - 100);
        old.retired_at = Some(NOW - 10);
        old.publish_until = Some(NOW + 1000);
        for k in [&cur, &next, &old] {
            s.insert_signing_key(k).await.unwrap();
        }
        let listed = s.list_signing_keys().await.unwrap();
        assert_eq!(listed.len(), 3, "[{b}] three keys");
        for k in [&cur, &next, &old] {
            assert_eq!(&kid_in(&listed, &k.kid), k, "[{b}] key {} round trip", k.state.as_str());
        }
        // The stored private part still opens with the keyring (fails closed otherwise).
        kid_in(&listed, &cur.kid).open(&kr).unwrap_or_else(|e| panic!("[{b}] stored key does not open: {e:?}"));

        let r = s.insert_signing_key(&key(SigningAlg::ES256, KeyState::Current, &kr, NOW)).await;
        assert!(is_conflict(&r), "[{b}] a second current ES256 key, got {r:?}");
        let r = s.insert_signing_key(&key(SigningAlg::ES256, KeyState::Next, &kr, NOW)).await;
        assert!(is_conflict(&r), "[{b}] a second next ES256 key, got {r:?}");
        // Retired keys are not limited; other algorithms have their own slots.
        s.insert_signing_key(&key(SigningAlg::ES256, KeyState::Retired, &kr, NOW)).await.unwrap();
        s.insert_signing_key(&key(SigningAlg::EdDSA, KeyState::Current, &kr, NOW)).await.unwrap();
        assert!(is_conflict(&s.insert_signing_key(&cur).await), "[{b}] duplicate kid");
        assert_eq!(s.list_signing_keys().await.unwrap().len(), 5, "[{b}] refused inserts left nothing");
    }
}

#[tokio::test]
async fn rotating_signing_keys_retires_promotes_and_publishes_a_new_next() {
    let kr = keyring();
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let cur = key(SigningAlg::ES256, KeyState::Current, &kr, NOW);
        let next = key(SigningAlg::ES256, KeyState::Next, &kr, NOW);
        let other = key(SigningAlg::EdDSA, KeyState::Current, &kr, NOW);
        for k in [&cur, &next, &other] {
            s.insert_signing_key(k).await.unwrap();
        }
        let at = NOW + 100;
        let new_next = key(SigningAlg::ES256, KeyState::Next, &kr, at);
        s.rotate_signing_keys(SigningAlg::ES256, at, at + 86_700, &new_next).await.unwrap();

        let keys = s.list_signing_keys().await.unwrap();
        assert_eq!(keys.len(), 4, "[{b}] one key added");
        let retired = kid_in(&keys, &cur.kid);
        assert_eq!(retired.state, KeyState::Retired, "[{b}] old current retired");
        assert_eq!(retired.retired_at, Some(at), "[{b}] retired_at");
        assert_eq!(retired.publish_until, Some(at + 86_700), "[{b}] published until");
        let promoted = kid_in(&keys, &next.kid);
        assert_eq!(promoted.state, KeyState::Current, "[{b}] next promoted");
        assert_eq!(promoted.activated_at, Some(at), "[{b}] activated_at");
        assert_eq!(kid_in(&keys, &new_next.kid), new_next, "[{b}] new next stored as given");
        assert_eq!(kid_in(&keys, &other.kid), other, "[{b}] other algorithms untouched");

        // Without a next key the rotation is refused and changes nothing (one transaction).
        let before = key_states(s).await;
        let orphan = key(SigningAlg::EdDSA, KeyState::Next, &kr, at);
        let r = s.rotate_signing_keys(SigningAlg::EdDSA, at, at + 10, &orphan).await;
        assert!(is_conflict(&r), "[{b}] no next EdDSA key, got {r:?}");
        assert_eq!(key_states(s).await, before, "[{b}] refused rotation rolled back (EdDSA current still current)");
        let r = s.rotate_signing_keys(SigningAlg::PS256, at, at + 10, &key(SigningAlg::PS256, KeyState::Next, &kr, at)).await;
        assert!(is_conflict(&r), "[{b}] an algorithm without keys, got {r:?}");
        assert_eq!(key_states(s).await, before, "[{b}] nothing inserted");
    }
}

#[tokio::test]
async fn revoking_a_signing_key_returns_its_former_state() {
    let kr = keyring();
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let cur = key(SigningAlg::ES256, KeyState::Current, &kr, NOW);
        let next = key(SigningAlg::ES256, KeyState::Next, &kr, NOW);
        let mut retired = key(SigningAlg::ES256, KeyState::Retired, &kr, NOW - 50);
        retired.retired_at = Some(NOW - 5);
        retired.publish_until = Some(NOW + 500);
        for k in [&cur, &next, &retired] {
            s.insert_signing_key(k).await.unwrap();
        }

        // Revoking current: next is promoted, the replacement becomes next.
        let at = NOW + 10;
        let repl1 = key(SigningAlg::ES256, KeyState::Next, &kr, at);
        assert_eq!(s.revoke_signing_key(&cur.kid, at, &repl1).await.unwrap(), Some(KeyState::Current), "[{b}] was current");
        let keys = s.list_signing_keys().await.unwrap();
        let revoked = kid_in(&keys, &cur.kid);
        assert_eq!(revoked.state, KeyState::Revoked, "[{b}] revoked");
        assert_eq!(revoked.retired_at, Some(at), "[{b}] revoked key's retired_at");
        assert_eq!(revoked.publish_until, None, "[{b}] a revoked key is never published");
        assert!(!revoked.is_published(at));
        let promoted = kid_in(&keys, &next.kid);
        assert_eq!((promoted.state, promoted.activated_at), (KeyState::Current, Some(at)), "[{b}] next promoted");
        assert_eq!(kid_in(&keys, &repl1.kid).state, KeyState::Next, "[{b}] replacement is the new next");
        assert_eq!(keys.len(), 4);

        // Revoking next: the replacement takes its place, current stays.
        let repl2 = key(SigningAlg::ES256, KeyState::Next, &kr, at);
        assert_eq!(s.revoke_signing_key(&repl1.kid, at, &repl2).await.unwrap(), Some(KeyState::Next), "[{b}] was next");
        let states = key_states(s).await;
        assert_eq!(states[&repl1.kid], KeyState::Revoked);
        assert_eq!(states[&repl2.kid], KeyState::Next, "[{b}] replacement for a revoked next");
        assert_eq!(states[&next.kid], KeyState::Current, "[{b}] current unchanged");

        // Revoking a retired key inserts nothing.
        let unused = key(SigningAlg::ES256, KeyState::Next, &kr, at);
        assert_eq!(s.revoke_signing_key(&retired.kid, at, &unused).await.unwrap(), Some(KeyState::Retired), "[{b}] was retired");
        let states = key_states(s).await;
        assert_eq!(states.len(), 5, "[{b}] no replacement for a retired key");
        assert!(!states.contains_key(&unused.kid));
        assert_eq!(states[&retired.kid], KeyState::Revoked);
        let r = kid_in(&s.list_signing_keys().await.unwrap(), &retired.kid);
        assert_eq!((r.retired_at, r.publish_until), (Some(NOW - 5), None), "[{b}] keeps its retirement time, loses publication");

        // Unknown or already revoked: None, nothing inserted.
        assert_eq!(s.revoke_signing_key("no-such-kid", at, &unused).await.unwrap(), None, "[{b}] unknown kid");
        assert_eq!(s.revoke_signing_key(&cur.kid, at, &unused).await.unwrap(), None, "[{b}] already revoked");
        assert_eq!(key_states(s).await, states, "[{b}] nothing changed");
    }
}

#[tokio::test]
async fn settings_first_writer_wins() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.get_setting("issuer").await.unwrap(), None, "[{b}] unset");
        assert_eq!(s.init_setting("issuer", "https://a.example.com/").await.unwrap(), "https://a.example.com/", "[{b}] first");
        assert_eq!(s.init_setting("issuer", "https://b.example.com/").await.unwrap(), "https://a.example.com/", "[{b}] second");
        assert_eq!(s.get_setting("issuer").await.unwrap().as_deref(), Some("https://a.example.com/"), "[{b}] stored");
        assert_eq!(s.init_setting("other", "x").await.unwrap(), "x", "[{b}] keys are independent");
        s.put_setting("other", "y").await.unwrap();
        assert_eq!(s.get_setting("other").await.unwrap().as_deref(), Some("y"), "[{b}] put replaces");
        s.put_setting("new", "z").await.unwrap();
        assert_eq!(s.get_setting("new").await.unwrap().as_deref(), Some("z"), "[{b}] put inserts");
    }
}

#[tokio::test]
async fn audit_events_are_listed_newest_first() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert!(s.list_audit(10).await.unwrap().is_empty(), "[{b}] empty");
        let events = [
            AuditEvent {
                at: NOW,
                kind: "client_created".into(),
                client_id: Some("c1".into()),
                user_id: None,
                ip: None,
                detail: json!({"name": "A"}),
            },
            AuditEvent {
                at: NOW,
                kind: "login_failed".into(),
                client_id: Some("c1".into()),
                user_id: Some("auth0|u".into()),
                ip: Some("192.0.2.7".into()),
                detail: json!({"reason": "bad password", "n": 3, "nested": {"ok": false}}),
            },
            AuditEvent {
                at: NOW + 1,
                kind: "signing_key_rotated".into(),
                client_id: None,
                user_id: None,
                ip: None,
                detail: json!({}),
            },
        ];
        for e in &events {
            s.record_audit(e).await.unwrap();
        }
        let listed = s.list_audit(10).await.unwrap();
        let expected: Vec<AuditEvent> = events.iter().rev().cloned().collect();
        assert_eq!(listed, expected, "[{b}] newest first, fields round trip (same-second events by insertion)");
        assert_eq!(s.list_audit(2).await.unwrap(), expected[..2], "[{b}] limit");
    }
}

fn audit_event(at: i64, kind: &str, client: Option<&str>, user: Option<&str>) -> AuditEvent {
    AuditEvent {
        at,
        kind: kind.into(),
        client_id: client.map(str::to_string),
        user_id: user.map(str::to_string),
        ip: Some("192.0.2.1".into()),
        detail: json!({"n": at}),
    }
}

#[tokio::test]
async fn audit_batches_queries_counts_and_purges() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        s.record_audit_batch(&[]).await.unwrap();
        let batch: Vec<AuditEvent> = (0..6)
            .map(|i| {
                let kind = if i % 2 == 0 { "client_credentials_exchanged" } else { "login_failed" };
                audit_event(NOW + i, kind, Some(if i < 3 { "c1" } else { "c2" }), (i % 3 == 0).then_some("auth0|u"))
            })
            .collect();
        s.record_audit_batch(&batch).await.unwrap();
        let all = AuditQuery { limit: 100, ..Default::default() };
        let rows = s.query_audit(&all).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.event.clone()).collect::<Vec<_>>(), batch, "[{b}] the batch, in order");
        assert!(rows.windows(2).all(|w| w[0].id < w[1].id), "[{b}] ids grow");
        assert_eq!(s.count_audit(&all).await.unwrap(), 6, "[{b}]");

        let newest = s.query_audit(&AuditQuery { newest_first: true, limit: 2, ..Default::default() }).await.unwrap();
        assert_eq!(newest.iter().map(|r| r.event.at).collect::<Vec<_>>(), [NOW + 5, NOW + 4], "[{b}] newest first");
        let second_page =
            s.query_audit(&AuditQuery { newest_first: true, limit: 2, offset: 2, ..Default::default() }).await.unwrap();
        assert_eq!(second_page.iter().map(|r| r.event.at).collect::<Vec<_>>(), [NOW + 3, NOW + 2], "[{b}] offset");
        let after = s
            .query_audit(&AuditQuery { after_id: Some(rows[3].id), newest_first: true, limit: 10, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(
            after.iter().map(|r| r.id).collect::<Vec<_>>(),
            [rows[4].id, rows[5].id],
            "[{b}] checkpoint: after the id, oldest first"
        );

        let by_kind = AuditQuery { kinds: Some(vec!["login_failed".into()]), limit: 10, ..Default::default() };
        assert_eq!(s.count_audit(&by_kind).await.unwrap(), 3, "[{b}] by kind");
        let none = AuditQuery { kinds: Some(vec![]), limit: 10, ..Default::default() };
        assert!(s.query_audit(&none).await.unwrap().is_empty(), "[{b}] no kinds match nothing");
        let by_both =
            AuditQuery { client_id: Some("c2".into()), user_id: Some("auth0|u".into()), limit: 10, ..Default::default() };
        let rows_both = s.query_audit(&by_both).await.unwrap();
        assert_eq!(rows_both.iter().map(|r| r.event.at).collect::<Vec<_>>(), [NOW + 3], "[{b}] client and user");
        assert_eq!(s.count_audit(&by_both).await.unwrap(), 1, "[{b}]");

        assert_eq!(s.get_audit(rows[1].id).await.unwrap().as_ref(), Some(&rows[1]), "[{b}] get");
        assert_eq!(s.get_audit(-5).await.unwrap(), None, "[{b}] get unknown");
        assert_eq!(s.audit_kinds().await.unwrap(), ["client_credentials_exchanged", "login_failed"], "[{b}] kinds");

        let sql = tessera_server::store::connect(&ts.data.database_url()).await.expect("second connection");
        assert_eq!(sql.purge_batch(Purge::AuditEvents, NOW + 3, 2).await.unwrap(), 2, "[{b}] purge is bounded");
        assert_eq!(sql.purge_batch(Purge::AuditEvents, NOW + 3, 2).await.unwrap(), 1, "[{b}] the rest older than the cut");
        assert_eq!(sql.purge_batch(Purge::AuditEvents, NOW + 3, 2).await.unwrap(), 0, "[{b}] nothing older left");
        sql.close().await;
        assert_eq!(s.count_audit(&all).await.unwrap(), 3, "[{b}] newer entries kept");
    }
}

#[tokio::test]
async fn replay_cache_remembers_until_expiry() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let exp = NOW + 60;
        assert!(s.remember_jti("dpop", "j1", exp, NOW).await.unwrap(), "[{b}] first use");
        assert!(!s.remember_jti("dpop", "j1", exp, NOW).await.unwrap(), "[{b}] replay");
        assert!(!s.remember_jti("dpop", "j1", exp + 100, exp - 1).await.unwrap(), "[{b}] replay just before expiry");
        assert!(s.remember_jti("client_assertion", "j1", exp, NOW).await.unwrap(), "[{b}] other namespace is independent");
        assert!(s.remember_jti("dpop", "j2", exp, NOW).await.unwrap(), "[{b}] other jti is independent");
        // After expiry the value may be used again (and is then remembered anew).
        assert!(s.remember_jti("dpop", "j1", exp + 120, exp + 1).await.unwrap(), "[{b}] after expiry");
        assert!(!s.remember_jti("dpop", "j1", exp + 120, exp + 2).await.unwrap(), "[{b}] replay of the renewed entry");
        assert!(s.remember_jti("dpop", "j1", exp + 500, exp + 121).await.unwrap(), "[{b}] renewed entry expires at its new time");
    }
}

#[tokio::test]
async fn purging_the_replay_cache_deletes_only_expired_entries() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let sql = tessera_server::store::connect(&ts.data.database_url()).await.expect("second connection");
        let purge = |cutoff| sql.purge_batch(Purge::ReplayCache, cutoff, 1000);
        assert_eq!(purge(NOW).await.unwrap(), 0, "[{b}] nothing to purge");
        assert!(s.remember_jti("ns", "a", NOW + 10, NOW).await.unwrap());
        assert!(s.remember_jti("ns", "b", NOW + 20, NOW).await.unwrap());
        assert!(s.remember_jti("other", "c", NOW + 30, NOW).await.unwrap());
        assert_eq!(purge(NOW + 5).await.unwrap(), 0, "[{b}] nothing expired yet");
        assert_eq!(purge(NOW + 10).await.unwrap(), 0, "[{b}] an entry expiring at the cut-off is kept");
        assert_eq!(purge(NOW + 15).await.unwrap(), 1, "[{b}] one expired");
        assert_eq!(purge(NOW + 15).await.unwrap(), 0, "[{b}] purge is idempotent");
        // The unexpired entries are still remembered.
        assert!(!s.remember_jti("ns", "b", NOW + 20, NOW + 15).await.unwrap(), "[{b}] b kept");
        assert!(!s.remember_jti("other", "c", NOW + 30, NOW + 15).await.unwrap(), "[{b}] c kept");
        assert_eq!(purge(NOW + 1000).await.unwrap(), 2, "[{b}] the rest once expired");
        sql.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replays_have_exactly_one_winner() {
    for ts in test_stores().await {
        let b = ts.name();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s: Arc<dyn Store> = ts.store.clone();
                tokio::spawn(async move { s.remember_jti("client_assertion", "same-jti", NOW + 60, NOW).await })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            if t.await.unwrap().unwrap_or_else(|e| panic!("[{b}] remember_jti failed under concurrency: {e}")) {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "[{b}] exactly one of 20 concurrent uses wins");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_init_setting_agrees_on_one_value() {
    for ts in test_stores().await {
        let b = ts.name();
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let s: Arc<dyn Store> = ts.store.clone();
                tokio::spawn(async move { s.init_setting("master_key_check", &format!("value-{i}")).await })
            })
            .collect();
        let mut seen = BTreeSet::new();
        for t in tasks {
            seen.insert(t.await.unwrap().unwrap_or_else(|e| panic!("[{b}] init_setting failed under concurrency: {e}")));
        }
        assert_eq!(seen.len(), 1, "[{b}] every caller sees the same value: {seen:?}");
        let stored = ts.store.get_setting("master_key_check").await.unwrap();
        assert_eq!(stored.as_ref(), seen.iter().next(), "[{b}] and it is the stored one");
    }
}

// --- Migrations -------------------------------------------------------------------------

/// What a migration file creates: table name → column names, and index names.
#[derive(Debug, Default, PartialEq)]
struct Schema {
    tables: BTreeMap<String, BTreeSet<String>>,
    indexes: BTreeSet<String>,
    /// Triggers by name (their bodies are each backend's own: a trigger program on SQLite,
    /// a PL/pgSQL function on PostgreSQL, which only PostgreSQL declares).
    triggers: BTreeSet<String>,
    /// `ALTER TABLE t ADD COLUMN c`: (t, c).
    added_columns: BTreeSet<(String, String)>,
}

/// Removes `-- ...` comments.
fn strip_comments(sql: &str) -> String {
    sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The text between the parenthesis at the start of `s` and its match.
fn parenthesised(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[1..i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in {s:?}")
}

/// Splits on commas outside parentheses.
fn top_level_items(s: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&s[start..]);
    items
}

fn parse_schema(sql: &str) -> Schema {
    let sql = strip_comments(sql);
    let mut schema = Schema::default();
    for stmt in sql.split(';') {
        let stmt = stmt.trim();
        let words: Vec<&str> = stmt.split_whitespace().collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        if upper.first().map(String::as_str) == Some("ALTER") {
            match (words.get(2), upper.get(3..5), words.get(5)) {
                (Some(table), Some(add), Some(col)) if upper[1] == "TABLE" && add == ["ADD", "COLUMN"] => {
                    schema.added_columns.insert((table.to_string(), col.to_string()));
                }
                _ => panic!("unexpected ALTER in a migration: {stmt}"),
            }
            continue;
        }
        if upper.first().map(String::as_str) != Some("CREATE") {
            continue;
        }
        let mut i = 1;
        if upper.get(i).map(String::as_str) == Some("UNIQUE") {
            i += 1;
        }
        let kind = upper.get(i).cloned().unwrap_or_default();
        i += 1;
        if upper.get(i..i + 3).is_some_and(|w| w == ["IF", "NOT", "EXISTS"]) {
            i += 3;
        }
        let name = words.get(i).map(|w| w.split('(').next().unwrap_or("").to_string()).unwrap_or_default();
        match kind.as_str() {
            "TABLE" => {
                let body = parenthesised(&stmt[stmt.find('(').expect("table body")..]);
                let columns = top_level_items(body)
                    .into_iter()
                    .filter_map(|item| item.split_whitespace().next())
                    .filter(|first| {
                        !matches!(first.to_ascii_uppercase().as_str(), "PRIMARY" | "UNIQUE" | "FOREIGN" | "CHECK" | "CONSTRAINT")
                    })
                    .map(str::to_string)
                    .collect();
                schema.tables.insert(name, columns);
            }
            "INDEX" => {
                schema.indexes.insert(name);
            }
            "TRIGGER" => {
                schema.triggers.insert(name);
            }
            "FUNCTION" => {}
            other => panic!("unexpected CREATE {other} in a migration: {stmt}"),
        }
    }
    schema
}

#[test]
fn sqlite_and_postgres_migrations_stay_in_step() {
    let ids = |ms: &[Migration]| ms.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
    assert_eq!(ids(SQLITE), ids(POSTGRES), "same (version, name) sequence on both backends");
    // 1, 2, 3, … without gaps: a gap would mean a migration that some deployment ran and
    // this build does not know, or one handed to a branch that never landed.
    let versions: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
    assert_eq!(versions.first(), Some(&1), "versions start at 1");
    assert!(versions.windows(2).all(|w| w[1] == w[0] + 1), "versions are contiguous: {versions:?}");
    for m in SQLITE {
        assert!(m.name.starts_with(&format!("{:04}_", m.version)), "migration {} is named after its version", m.name);
    }
    let mut all_tables = BTreeSet::new();
    for (lite, pg) in SQLITE.iter().zip(POSTGRES) {
        let (a, b) = (parse_schema(lite.sql), parse_schema(pg.sql));
        assert!(
            !a.tables.is_empty() || !a.indexes.is_empty() || !a.added_columns.is_empty() || !a.triggers.is_empty(),
            "{} creates something",
            lite.name
        );
        assert_eq!(a.added_columns, b.added_columns, "{}: the same added columns on both", lite.name);
        assert_eq!(
            a.tables.keys().collect::<Vec<_>>(),
            b.tables.keys().collect::<Vec<_>>(),
            "{}: the same tables on SQLite and PostgreSQL",
            lite.name
        );
        for (table, cols) in &a.tables {
            assert_eq!(Some(cols), b.tables.get(table), "{}: table {table} has the same columns on both", lite.name);
        }
        assert_eq!(a.indexes, b.indexes, "{}: the same indexes on both", lite.name);
        assert_eq!(a.triggers, b.triggers, "{}: the same triggers on both", lite.name);
        for t in a.tables.keys() {
            assert!(all_tables.insert(t.clone()), "table {t} created twice across migrations");
        }
    }
}

#[test]
fn the_schema_parser_reads_tables_columns_and_indexes() {
    let s = parse_schema(
        "-- c\nCREATE TABLE t1 (\n a TEXT PRIMARY KEY, -- x, y\n b BIGINT NOT NULL REFERENCES t0(a) ON DELETE CASCADE,\n UNIQUE (a, b)\n);\n\
         CREATE UNIQUE INDEX i1 ON t1(a, b) WHERE b IN ('x', 'y');\ncreate index if not exists i2 on t1(b);",
    );
    assert_eq!(s.tables["t1"], BTreeSet::from(["a".to_string(), "b".to_string()]));
    assert_eq!(s.indexes, BTreeSet::from(["i1".to_string(), "i2".to_string()]));
}

#[tokio::test]
async fn migrating_twice_applies_nothing_the_second_time() {
    for ts in test_stores().await {
        let b = ts.name();
        let sql = tessera_server::store::connect(&ts.data.database_url()).await.unwrap();
        let applied = tessera_server::store::migrations::run(&sql).await.unwrap_or_else(|e| panic!("[{b}] re-run: {e}"));
        assert!(applied.is_empty(), "[{b}] an up-to-date database needs no migration, applied {applied:?}");
        sql.close().await;
    }
}
