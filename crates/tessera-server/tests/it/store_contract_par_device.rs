//! The storage contract for pushed authorization requests (`PushedRequestStore`, RFC 9126)
//! and device authorizations (`DeviceCodeStore`, RFC 8628), on every store (SQLite always,
//! PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is set). "Nothing written" is checked by
//! counting rows through a second connection, as in `store_contract_protocol`.

use std::sync::Arc;

use tessera_core::model::{User, UserPatch};
use tessera_core::state::{
    AccessTokenRecord, DeviceCode, DeviceStatus, Issuance, PushedRequest, RefreshFamily, RefreshTokenRecord,
};
use tessera_core::store::{Store, StoreError};
use tessera_server::store::db::query;
use tessera_server::store::housekeeping::Purge;
use tessera_server::store::SqlStore;

use crate::support::{test_stores, TestStore};

const NOW: i64 = 1_700_000_000;

fn pushed(hash: &str, client_id: &str, expires_at: i64) -> PushedRequest {
    PushedRequest {
        request_uri_hash: hash.into(),
        client_id: client_id.into(),
        request: format!("{{\"client_id\":\"{client_id}\",\"scope\":\"openid\"}}"),
        created_at: NOW,
        expires_at,
        consumed_at: None,
    }
}

fn device(hash: &str, user_code_hash: &str, expires_at: i64) -> DeviceCode {
    DeviceCode {
        device_code_hash: hash.into(),
        user_code_hash: user_code_hash.into(),
        client_id: "client_tv".into(),
        scope: "openid offline_access read:x".into(),
        audience: Some("https://api.example.com".into()),
        status: DeviceStatus::Pending,
        interval: 5,
        user_id: None,
        auth_time: None,
        sid: None,
        created_at: NOW,
        expires_at,
        consumed_at: None,
    }
}

fn issuance(tag: &str, with_refresh: bool) -> Issuance {
    let family_id = format!("fam-{tag}");
    let refresh = with_refresh.then(|| {
        (
            RefreshFamily {
                family_id: family_id.clone(),
                client_id: "client_tv".into(),
                user_id: "auth0|alice".into(),
                scope: "openid offline_access read:x".into(),
                audience: Some("https://api.example.com".into()),
                nonce: None,
                auth_time: NOW,
                sid: Some("sid-1".into()),
                dpop_jkt: None,
                created_at: NOW + 1,
                absolute_expires_at: NOW + 86_400,
                revoked_at: None,
            },
            RefreshTokenRecord {
                token_hash: format!("rt-{tag}"),
                family_id: family_id.clone(),
                generation: 0,
                created_at: NOW + 1,
                idle_expires_at: NOW + 3600,
                superseded_at: None,
                successor_hash: None,
                successor_token: None,
            },
        )
    });
    Issuance {
        access_token: AccessTokenRecord {
            jti: format!("at-{tag}"),
            client_id: "client_tv".into(),
            family_id: with_refresh.then_some(family_id),
            code_hash: None,
            expires_at: NOW + 3600,
        },
        refresh,
    }
}

/// Row counts through a second connection to the same database.
struct Rows(SqlStore);

impl Rows {
    async fn open(ts: &TestStore) -> Self {
        Self(tessera_server::store::connect(&ts.data.database_url()).await.expect("second connection"))
    }
    async fn count(&self, table: &str) -> i64 {
        let row = self.0.db().fetch_optional(query(format!("SELECT COUNT(*) FROM {table}"))).await.unwrap().unwrap();
        row.at::<i64>(0).unwrap()
    }
    /// (refresh_families, refresh_tokens, access_tokens).
    async fn issued(&self) -> [i64; 3] {
        [self.count("refresh_families").await, self.count("refresh_tokens").await, self.count("access_tokens").await]
    }
    async fn close(self) {
        self.0.close().await;
    }
}

async fn alice(s: &dyn Store) -> User {
    let user =
        User::create("auth0|alice".into(), UserPatch { email: Some("alice@example.com".into()), ..Default::default() }, NOW)
            .unwrap();
    s.insert_user(&user).await.unwrap();
    user
}

// --- PushedRequestStore -----------------------------------------------------------------

#[tokio::test]
async fn a_pushed_request_is_consumed_once_by_its_client_until_it_expires() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let p = pushed("pr-1", "client_a", NOW + 60);
        s.insert_pushed_request(&p).await.unwrap_or_else(|e| panic!("[{b}] insert: {e}"));
        assert!(matches!(s.insert_pushed_request(&p).await, Err(StoreError::Conflict(_))), "[{b}] the hash is unique");
        assert_eq!(s.consume_pushed_request("pr-1", "client_b", NOW).await.unwrap(), None, "[{b}] another client's");
        let got = s.consume_pushed_request("pr-1", "client_a", NOW + 59).await.unwrap();
        assert_eq!(got, Some(PushedRequest { consumed_at: Some(NOW + 59), ..p }), "[{b}] every field, marked consumed");
        assert_eq!(s.consume_pushed_request("pr-1", "client_a", NOW + 59).await.unwrap(), None, "[{b}] single use");
        assert_eq!(s.consume_pushed_request("nope", "client_a", NOW).await.unwrap(), None, "[{b}] unknown");

        s.insert_pushed_request(&pushed("pr-2", "client_a", NOW + 60)).await.unwrap();
        assert_eq!(s.consume_pushed_request("pr-2", "client_a", NOW + 60).await.unwrap(), None, "[{b}] expired at its expiry");
        // Purging removes what expired before now, used or not, and keeps the rest.
        s.insert_pushed_request(&pushed("pr-3", "client_a", NOW + 120)).await.unwrap();
        let sql = Rows::open(&ts).await;
        assert_eq!(sql.0.purge_batch(Purge::PushedRequests, NOW + 61, 1000).await.unwrap(), 2, "[{b}] pr-1 and pr-2");
        sql.close().await;
        assert!(s.consume_pushed_request("pr-3", "client_a", NOW + 61).await.unwrap().is_some(), "[{b}] pr-3 kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_consumptions_of_a_pushed_request_have_one_winner() {
    for ts in test_stores().await {
        let b = ts.name();
        ts.store.insert_pushed_request(&pushed("pr-race", "client_a", NOW + 60)).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s: Arc<dyn Store> = ts.store.clone();
                tokio::spawn(async move { s.consume_pushed_request("pr-race", "client_a", NOW + 1).await })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap().unwrap_or_else(|e| panic!("[{b}] consume under concurrency: {e}")).is_some());
        }
        assert_eq!(won, 1, "[{b}] exactly one of 20");
    }
}

// --- DeviceCodeStore --------------------------------------------------------------------

#[tokio::test]
async fn device_codes_round_trip_and_user_codes_are_unique() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let d = device("dc-1", "uc-1", NOW + 600);
        s.insert_device_code(&d).await.unwrap_or_else(|e| panic!("[{b}] insert: {e}"));
        let taken = device("dc-2", "uc-1", NOW + 600);
        assert!(matches!(s.insert_device_code(&taken).await, Err(StoreError::Conflict(_))), "[{b}] user code taken");
        assert_eq!(s.get_device_code_and_user("dc-1").await.unwrap(), Some((d.clone(), None)), "[{b}] every field, no user");
        assert_eq!(s.find_device_code_by_user_code("uc-1").await.unwrap(), Some(d), "[{b}] by user code");
        assert_eq!(s.find_device_code_by_user_code("uc-x").await.unwrap(), None, "[{b}]");
        assert_eq!(s.get_device_code_and_user("dc-x").await.unwrap(), None, "[{b}]");
        // Purging removes only what expired before now.
        s.insert_device_code(&device("dc-3", "uc-3", NOW + 900)).await.unwrap();
        let sql = Rows::open(&ts).await;
        assert_eq!(sql.0.purge_batch(Purge::DeviceCodes, NOW + 601, 1000).await.unwrap(), 1, "[{b}]");
        sql.close().await;
        assert!(s.find_device_code_by_user_code("uc-3").await.unwrap().is_some(), "[{b}] dc-3 kept");
    }
}

#[tokio::test]
async fn the_user_decides_once_while_the_code_is_pending_and_unexpired() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let user = alice(s).await;
        s.insert_device_code(&device("dc-a", "uc-a", NOW + 600)).await.unwrap();
        s.insert_device_code(&device("dc-d", "uc-d", NOW + 600)).await.unwrap();
        s.insert_device_code(&device("dc-e", "uc-e", NOW + 600)).await.unwrap();
        assert!(s.decide_device_code("uc-a", true, "auth0|alice", NOW - 5, Some("sid-1"), NOW).await.unwrap(), "[{b}]");
        assert!(!s.decide_device_code("uc-a", false, "auth0|alice", NOW, None, NOW).await.unwrap(), "[{b}] decided once");
        let (got, with) = s.get_device_code_and_user("dc-a").await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.user_id.as_deref(), got.auth_time, got.sid.as_deref()),
            (DeviceStatus::Approved, Some("auth0|alice"), Some(NOW - 5), Some("sid-1")),
            "[{b}]"
        );
        assert_eq!(with, Some(user), "[{b}] the approving user, joined");
        assert!(s.decide_device_code("uc-d", false, "auth0|alice", NOW, None, NOW).await.unwrap(), "[{b}]");
        assert_eq!(s.find_device_code_by_user_code("uc-d").await.unwrap().unwrap().status, DeviceStatus::Denied);
        assert!(!s.decide_device_code("uc-e", true, "auth0|alice", NOW, None, NOW + 600).await.unwrap(), "[{b}] expired");
        assert!(!s.decide_device_code("uc-x", true, "auth0|alice", NOW, None, NOW).await.unwrap(), "[{b}] unknown");
        assert_eq!(s.find_device_code_by_user_code("uc-e").await.unwrap().unwrap().status, DeviceStatus::Pending);
    }
}

#[tokio::test]
async fn redeeming_a_device_code_needs_approval_and_records_the_issuance_once() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let rows = Rows::open(&ts).await;
        for (hash, uc) in [("dc-p", "uc-p"), ("dc-a", "uc-a"), ("dc-n", "uc-n"), ("dc-x", "uc-x")] {
            s.insert_device_code(&device(hash, uc, NOW + 600)).await.unwrap();
        }
        assert!(!s.redeem_device_code("dc-p", NOW + 1, &issuance("p", true)).await.unwrap(), "[{b}] pending");
        s.decide_device_code("uc-n", false, "auth0|alice", NOW, None, NOW).await.unwrap();
        assert!(!s.redeem_device_code("dc-n", NOW + 1, &issuance("n", true)).await.unwrap(), "[{b}] denied");
        s.decide_device_code("uc-x", true, "auth0|alice", NOW, None, NOW).await.unwrap();
        assert!(!s.redeem_device_code("dc-x", NOW + 600, &issuance("x", true)).await.unwrap(), "[{b}] expired");
        assert_eq!(rows.issued().await, [0, 0, 0], "[{b}] nothing written by a refused redemption");

        s.decide_device_code("uc-a", true, "auth0|alice", NOW, None, NOW).await.unwrap();
        assert!(s.redeem_device_code("dc-a", NOW + 1, &issuance("a", true)).await.unwrap(), "[{b}] approved");
        assert_eq!(rows.issued().await, [1, 1, 1], "[{b}] family, refresh token and access token recorded");
        let (got, _) = s.get_device_code_and_user("dc-a").await.unwrap().unwrap();
        assert_eq!(got.consumed_at, Some(NOW + 1), "[{b}]");
        assert!(s.get_family("fam-a").await.unwrap().is_some(), "[{b}]");
        assert!(!s.redeem_device_code("dc-a", NOW + 2, &issuance("a2", false)).await.unwrap(), "[{b}] once");
        assert_eq!(rows.issued().await, [1, 1, 1], "[{b}] nothing more");
        rows.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_of_a_device_code_have_one_winner() {
    for ts in test_stores().await {
        let b = ts.name();
        let rows = Rows::open(&ts).await;
        ts.store.insert_device_code(&device("dc-race", "uc-race", NOW + 600)).await.unwrap();
        ts.store.decide_device_code("uc-race", true, "auth0|alice", NOW, None, NOW).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let s: Arc<dyn Store> = ts.store.clone();
                tokio::spawn(async move { s.redeem_device_code("dc-race", NOW + 1, &issuance(&i.to_string(), true)).await })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap().unwrap_or_else(|e| panic!("[{b}] redeem under concurrency: {e}")));
        }
        assert_eq!(won, 1, "[{b}] exactly one of 20");
        assert_eq!(rows.issued().await, [1, 1, 1], "[{b}] only the winner's records");
        rows.close().await;
    }
}
