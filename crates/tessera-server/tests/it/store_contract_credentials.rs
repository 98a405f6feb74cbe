//! The storage contract for client credentials (Auth0's `/clients/{id}/credentials`) on
//! every store (SQLite always, PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is set): insert
//! needs the client and refuses a second copy of a key or kid on it; a client is inserted
//! with its credentials atomically; expiry is set and cleared; deleting a credential takes
//! it out of the client's `private_key_jwt` list in the same transaction; deleting the
//! client deletes its credentials.

use serde_json::json;
use tessera_core::model::{Client, ClientCredential, ClientPatch, CredentialAlg, TokenEndpointAuthMethod};
use tessera_core::store::StoreError;

use crate::support::test_stores;

const NOW: i64 = 1_700_000_000;

/// A private_key_jwt client with an inline key and `credentials` enabled.
fn client(id: &str, credentials: &[&str]) -> Client {
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": tessera_core::crypto::b64url(&[7u8; 32])}]});
    Client::create(
        id.into(),
        ClientPatch {
            name: Some(id.into()),
            app_type: Some(tessera_core::model::AppType::NonInteractive),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::PrivateKeyJwt),
            private_key_jwt_credentials: Some(credentials.iter().map(|c| c.to_string()).collect()),
            jwks: Some(jwks),
            ..Default::default()
        },
        NOW,
    )
    .unwrap()
}

/// A credential whose key is identified by `key` (the store keeps what it is given).
fn credential(id: &str, client_id: &str, kid: &str, key: &str) -> ClientCredential {
    ClientCredential {
        id: id.into(),
        client_id: client_id.into(),
        name: format!("name of {id}"),
        kid: kid.into(),
        alg: CredentialAlg::PS256,
        public_jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": key}),
        thumbprint: format!("thumb-{key}"),
        created_at: NOW,
        updated_at: NOW,
        expires_at: Some(NOW + 3600),
    }
}

#[tokio::test]
async fn credentials_insert_list_expire_and_delete() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let one = credential("cred_1", "c1", "kid-one-0001", "k1");
        s.insert_client_with_credentials(&client("c1", &["cred_1"]), None, std::slice::from_ref(&one)).await.unwrap();
        assert_eq!(s.get_client("c1").await.unwrap().unwrap().private_key_jwt_credentials, ["cred_1"], "[{b}] list stored");
        assert_eq!(s.client_credentials("c1").await.unwrap(), vec![one.clone()], "[{b}] stored with the client");

        // Not for a client that does not exist.
        assert!(!s.insert_client_credential(&credential("cred_x", "nope", "kid-nope-0001", "kx")).await.unwrap(), "[{b}]");

        let mut two = credential("cred_2", "c1", "kid-two-0002", "k2");
        two.created_at = NOW + 1;
        two.expires_at = None;
        assert!(s.insert_client_credential(&two).await.unwrap(), "[{b}]");
        let ids: Vec<String> = s.client_credentials("c1").await.unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["cred_1", "cred_2"], "[{b}] oldest first");

        // The same key, or the same kid, twice on one client is a conflict; on another client it is not.
        let same_key = credential("cred_3", "c1", "kid-three-003", "k1");
        assert!(matches!(s.insert_client_credential(&same_key).await, Err(StoreError::Conflict(_))), "[{b}] same key");
        let same_kid = credential("cred_4", "c1", "kid-one-0001", "k4");
        assert!(matches!(s.insert_client_credential(&same_kid).await, Err(StoreError::Conflict(_))), "[{b}] same kid");
        s.insert_client(&client("c2", &[]), None).await.unwrap();
        assert!(s.insert_client_credential(&credential("cred_5", "c2", "kid-one-0001", "k1")).await.unwrap(), "[{b}]");

        // Expiry is set, then cleared, and updated_at moves.
        assert!(s.set_client_credential_expiry("c1", "cred_1", Some(NOW + 10), NOW + 5).await.unwrap(), "[{b}]");
        let got = s.get_client_credential("c1", "cred_1").await.unwrap().unwrap();
        assert_eq!((got.expires_at, got.updated_at), (Some(NOW + 10), NOW + 5), "[{b}]");
        assert!(s.set_client_credential_expiry("c1", "cred_1", None, NOW + 6).await.unwrap(), "[{b}]");
        assert_eq!(s.get_client_credential("c1", "cred_1").await.unwrap().unwrap().expires_at, None, "[{b}]");
        assert!(!s.set_client_credential_expiry("c1", "cred_5", None, NOW).await.unwrap(), "[{b}] another client's credential");
        assert_eq!(s.get_client_credential("c2", "cred_1").await.unwrap(), None, "[{b}] looked up under its own client only");

        // Deleting a credential takes it out of the client's list, atomically.
        assert!(s.delete_client_credential("c1", "cred_1", NOW + 7).await.unwrap(), "[{b}]");
        assert!(!s.delete_client_credential("c1", "cred_1", NOW + 7).await.unwrap(), "[{b}] already gone");
        let c1 = s.get_client("c1").await.unwrap().unwrap();
        assert!(c1.private_key_jwt_credentials.is_empty(), "[{b}] unlinked: {:?}", c1.private_key_jwt_credentials);
        assert_eq!(c1.updated_at, NOW + 7, "[{b}]");
        assert_eq!(s.get_client_credential("c1", "cred_1").await.unwrap(), None, "[{b}]");

        // Deleting the client deletes its credentials (and a re-created client has none).
        assert!(s.delete_client("c1").await.unwrap(), "[{b}]");
        assert!(s.client_credentials("c1").await.unwrap().is_empty(), "[{b}]");
        s.insert_client(&client("c1", &[]), None).await.unwrap();
        assert!(s.client_credentials("c1").await.unwrap().is_empty(), "[{b}] no stale credential");
        assert_eq!(s.client_credentials("c2").await.unwrap().len(), 1, "[{b}] the other client keeps its own");
    }
}

#[tokio::test]
async fn a_client_with_a_refused_credential_is_not_inserted() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        // Two credentials with one key: the whole insert is refused and nothing remains.
        let creds = [credential("cred_a", "c1", "kid-aaaa-0001", "k1"), credential("cred_b", "c1", "kid-bbbb-0001", "k1")];
        let r = s.insert_client_with_credentials(&client("c1", &["cred_a", "cred_b"]), None, &creds).await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "[{b}] {r:?}");
        assert_eq!(s.get_client("c1").await.unwrap(), None, "[{b}] client rolled back");
        assert!(s.client_credentials("c1").await.unwrap().is_empty(), "[{b}] no credential left");
    }
}
