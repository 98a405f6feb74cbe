//! The storage contract for the protocol-state ports (`CodeStore`, `TokenStore`,
//! `SessionStore`, `LoginStore`, `ConsentStore`, `ThrottleStore`, and the registry version
//! of `SettingsStore`), run against every store (SQLite always, PostgreSQL when
//! `TESSERA_TEST_POSTGRES_URL` is set). Each test loops over fresh stores and names the
//! backend in its assertion messages.
//!
//! Records are created through the public store methods only (a refresh family comes into
//! being by redeeming a code whose issuance carries it). "Nothing written" is checked both
//! through the ports and by counting rows through a second connection to the same database
//! ([`Rows`]), so a stray insert cannot hide behind a port that does not read it back.

use std::collections::BTreeSet;
use std::sync::Arc;

use tessera_core::model::{User, UserPatch};
use tessera_core::state::{
    AccessTokenRecord, AuthorizationCode, Consent, Issuance, LoginTransaction, RefreshFamily, RefreshTokenRecord, Session,
    ThrottleState,
};
use tessera_core::store::{Store, StoreError};
use tessera_server::store::db::query;
use tessera_server::store::SqlStore;

use crate::support::{test_stores, TestStore};

const NOW: i64 = 1_700_000_000;

// --- Builders ---------------------------------------------------------------------------

/// A code with every optional field set, so a round trip exercises every column.
fn code(code_hash: &str, client_id: &str, user_id: &str, created_at: i64, expires_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: code_hash.into(),
        client_id: client_id.into(),
        user_id: user_id.into(),
        redirect_uri: Some("https://app.example.com/callback".into()),
        scope: "openid profile offline_access read:x".into(),
        audience: Some("https://api.example.com".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        auth_time: created_at - 5,
        sid: Some(format!("sid-of-{code_hash}")),
        created_at,
        expires_at,
        consumed_at: None,
        family_id: None,
    }
}

/// A code with every optional field unset.
fn bare_code(code_hash: &str, client_id: &str, user_id: &str, created_at: i64, expires_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: code_hash.into(),
        client_id: client_id.into(),
        user_id: user_id.into(),
        redirect_uri: None,
        scope: "openid".into(),
        audience: None,
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        dpop_jkt: None,
        auth_time: created_at,
        sid: None,
        created_at,
        expires_at,
        consumed_at: None,
        family_id: None,
    }
}

fn family(family_id: &str, client_id: &str, user_id: &str, created_at: i64, absolute_expires_at: i64) -> RefreshFamily {
    RefreshFamily {
        family_id: family_id.into(),
        client_id: client_id.into(),
        user_id: user_id.into(),
        scope: "openid offline_access read:x".into(),
        audience: Some("https://api.example.com".into()),
        nonce: Some("nonce-1".into()),
        auth_time: created_at - 5,
        sid: Some("sid-1".into()),
        dpop_jkt: Some("jkt-1".into()),
        created_at,
        absolute_expires_at,
        revoked_at: None,
    }
}

fn refresh(token_hash: &str, family_id: &str, generation: i64, created_at: i64, idle_expires_at: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: token_hash.into(),
        family_id: family_id.into(),
        generation,
        created_at,
        idle_expires_at,
        superseded_at: None,
        successor_hash: None,
        successor_token: None,
    }
}

fn access(jti: &str, client_id: &str, family_id: Option<&str>, code_hash: Option<&str>, expires_at: i64) -> AccessTokenRecord {
    AccessTokenRecord {
        jti: jti.into(),
        client_id: client_id.into(),
        family_id: family_id.map(Into::into),
        code_hash: code_hash.map(Into::into),
        expires_at,
    }
}

/// An access token recorded with a refresh family (as issued by the refresh grant).
fn family_access(jti: &str, f: &RefreshFamily) -> AccessTokenRecord {
    access(jti, &f.client_id, Some(&f.family_id), None, NOW + 100_000)
}

fn session(session_hash: &str, sid: &str, user_id: &str, created_at: i64, idle: i64, absolute: i64) -> Session {
    Session {
        session_hash: session_hash.into(),
        sid: sid.into(),
        user_id: user_id.into(),
        auth_time: created_at - 1,
        created_at,
        last_seen_at: created_at,
        idle_expires_at: idle,
        absolute_expires_at: absolute,
        ended_at: None,
    }
}

fn login(txn_hash: &str, created_at: i64, expires_at: i64) -> LoginTransaction {
    LoginTransaction {
        txn_hash: txn_hash.into(),
        client_id: "client_a".into(),
        request: r#"{"response_type":"code","scope":"openid","state":"xyz"}"#.into(),
        csrf: format!("csrf-{txn_hash}"),
        user_id: None,
        auth_time: None,
        created_at,
        expires_at,
        completed_at: None,
    }
}

fn consent(user_id: &str, client_id: &str, audience: &str, scope: &str, granted_at: i64) -> Consent {
    Consent { user_id: user_id.into(), client_id: client_id.into(), audience: audience.into(), scope: scope.into(), granted_at }
}

fn throttle(failures: i64, blocked_until: Option<i64>) -> ThrottleState {
    ThrottleState { failures, blocked_until }
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

/// Creates `f` with its first token `t` the only public way: redeeming a fresh code whose
/// issuance carries the family (at `f.created_at`, access token `jti`, recorded with the code).
async fn seed_family(b: &str, s: &dyn Store, f: &RefreshFamily, t: &RefreshTokenRecord, jti: &str) {
    let code_hash = format!("code-for-{}", f.family_id);
    s.insert_code(&bare_code(&code_hash, &f.client_id, &f.user_id, f.created_at, f.created_at + 60))
        .await
        .unwrap_or_else(|e| panic!("[{b}] insert code for family {}: {e}", f.family_id));
    let issuance = Issuance {
        access_token: access(jti, &f.client_id, Some(&f.family_id), Some(&code_hash), f.created_at + 3600),
        refresh: Some((f.clone(), t.clone())),
    };
    assert!(
        s.redeem_code(&code_hash, f.created_at, &issuance)
            .await
            .unwrap_or_else(|e| panic!("[{b}] redeem for {}: {e}", f.family_id)),
        "[{b}] seeding family {} by redeeming a fresh code",
        f.family_id
    );
}

async fn revoked(s: &dyn Store, jti: &str) -> bool {
    s.is_access_token_revoked(jti).await.unwrap()
}

async fn family_revoked_at(s: &dyn Store, family_id: &str) -> Option<i64> {
    s.get_family(family_id).await.unwrap().unwrap_or_else(|| panic!("family {family_id} missing")).revoked_at
}

/// Row counts read through a second connection to the same database.
struct Rows(SqlStore);

impl Rows {
    async fn open(ts: &TestStore) -> Self {
        let sql = tessera_server::store::connect(&ts.data.database_url())
            .await
            .unwrap_or_else(|e| panic!("[{}] second connection: {e}", ts.name()));
        Self(sql)
    }

    async fn count(&self, table: &str) -> i64 {
        let row = self.0.db().fetch_optional(query(format!("SELECT COUNT(*) FROM {table}"))).await.unwrap().unwrap();
        row.at::<i64>(0).unwrap()
    }

    /// (authorization_codes, refresh_families, refresh_tokens, access_tokens).
    async fn protocol(&self) -> [i64; 4] {
        [
            self.count("authorization_codes").await,
            self.count("refresh_families").await,
            self.count("refresh_tokens").await,
            self.count("access_tokens").await,
        ]
    }

    async fn close(self) {
        self.0.close().await;
    }
}

// --- CodeStore --------------------------------------------------------------------------

#[tokio::test]
async fn codes_insert_and_get_round_trip_every_field() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.get_code("nope").await.unwrap(), None, "[{b}] unknown code");

        let full = code("code-full", "client_a", "user_1", NOW, NOW + 60);
        let bare = bare_code("code-bare", "client_b", "user_2", NOW + 1, NOW + 61);
        s.insert_code(&full).await.unwrap_or_else(|e| panic!("[{b}] insert full code: {e}"));
        s.insert_code(&bare).await.unwrap_or_else(|e| panic!("[{b}] insert bare code: {e}"));
        assert_eq!(s.get_code("code-full").await.unwrap().as_ref(), Some(&full), "[{b}] every field survives");
        assert_eq!(s.get_code("code-bare").await.unwrap().as_ref(), Some(&bare), "[{b}] unset fields stay unset");

        let again = code("code-full", "client_x", "user_x", NOW + 5, NOW + 65);
        assert!(is_conflict(&s.insert_code(&again).await), "[{b}] a code hash is unique");
        assert_eq!(s.get_code("code-full").await.unwrap().as_ref(), Some(&full), "[{b}] the conflict changed nothing");
    }
}

#[tokio::test]
async fn redeeming_a_code_consumes_it_and_records_the_issuance_in_one_step() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let rows = Rows::open(&ts).await;

        // With a refresh family.
        let c = code("code-1", "client_a", "user_1", NOW, NOW + 60);
        s.insert_code(&c).await.unwrap();
        let f = family("fam-1", "client_a", "user_1", NOW + 10, NOW + 86_400);
        let t = refresh("rt-1", "fam-1", 0, NOW + 10, NOW + 3600);
        let a = access("at-1", "client_a", Some("fam-1"), Some("code-1"), NOW + 3610);
        let issuance = Issuance { access_token: a.clone(), refresh: Some((f.clone(), t.clone())) };
        assert!(s.redeem_code("code-1", NOW + 10, &issuance).await.unwrap(), "[{b}] first redemption succeeds");

        let got = s.get_code("code-1").await.unwrap().unwrap();
        assert_eq!(
            got,
            AuthorizationCode { consumed_at: Some(NOW + 10), family_id: Some("fam-1".into()), ..c.clone() },
            "[{b}] consumed, linked to its family"
        );
        assert_eq!(s.get_family("fam-1").await.unwrap().as_ref(), Some(&f), "[{b}] the family is stored as issued");
        assert_eq!(
            s.get_refresh_token("rt-1").await.unwrap(),
            Some((t.clone(), f.clone())),
            "[{b}] the first refresh token is stored"
        );
        assert!(!revoked(s, "at-1").await, "[{b}] the access token is recorded unrevoked");
        assert_eq!(rows.protocol().await, [1, 1, 1, 1], "[{b}] one code, one family, one refresh token, one access token");

        // Without a refresh family: only the access token is recorded.
        let c2 = bare_code("code-2", "client_b", "user_2", NOW, NOW + 60);
        s.insert_code(&c2).await.unwrap();
        let plain = Issuance { access_token: access("at-2", "client_b", None, Some("code-2"), NOW + 3600), refresh: None };
        assert!(s.redeem_code("code-2", NOW + 59, &plain).await.unwrap(), "[{b}] redemption one second before expiry");
        let got = s.get_code("code-2").await.unwrap().unwrap();
        assert_eq!(got, AuthorizationCode { consumed_at: Some(NOW + 59), family_id: None, ..c2 }, "[{b}] consumed, no family");
        assert!(!revoked(s, "at-2").await, "[{b}] second access token recorded unrevoked");
        assert_eq!(rows.protocol().await, [2, 1, 1, 2], "[{b}] no family for a code without refresh token");

        // The access token was recorded with the code: revoking the grant reaches it.
        s.revoke_code_grant("code-2", NOW + 100).await.unwrap();
        assert!(revoked(s, "at-2").await, "[{b}] the access token was recorded with its code_hash");
        assert!(!revoked(s, "at-1").await, "[{b}] the other code's access token is untouched");
        rows.close().await;
    }
}

#[tokio::test]
async fn redeeming_a_consumed_expired_or_unknown_code_writes_nothing() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let rows = Rows::open(&ts).await;
        let c = code("code-1", "client_a", "user_1", NOW, NOW + 60);
        s.insert_code(&c).await.unwrap();
        let first = Issuance {
            access_token: access("at-1", "client_a", Some("fam-1"), Some("code-1"), NOW + 3600),
            refresh: Some((
                family("fam-1", "client_a", "user_1", NOW, NOW + 86_400),
                refresh("rt-1", "fam-1", 0, NOW, NOW + 3600),
            )),
        };
        assert!(s.redeem_code("code-1", NOW, &first).await.unwrap(), "[{b}] first redemption");
        let after_first = rows.protocol().await;
        assert_eq!(after_first, [1, 1, 1, 1], "[{b}] after the first redemption");
        let consumed = s.get_code("code-1").await.unwrap();

        // A second redemption, with a different issuance, loses and writes nothing.
        let second = Issuance {
            access_token: access("at-2", "client_a", Some("fam-2"), Some("code-1"), NOW + 3601),
            refresh: Some((
                family("fam-2", "client_a", "user_1", NOW + 1, NOW + 86_401),
                refresh("rt-2", "fam-2", 0, NOW + 1, NOW + 3601),
            )),
        };
        assert!(!s.redeem_code("code-1", NOW + 1, &second).await.unwrap(), "[{b}] a consumed code cannot be redeemed again");
        assert_eq!(s.get_code("code-1").await.unwrap(), consumed, "[{b}] the code still names the first redemption");
        assert_eq!(s.get_family("fam-2").await.unwrap(), None, "[{b}] no family from a lost redemption");
        assert_eq!(s.get_refresh_token("rt-2").await.unwrap(), None, "[{b}] no refresh token from a lost redemption");
        assert_eq!(rows.protocol().await, after_first, "[{b}] no row written by a lost redemption (no access token either)");

        // Expired codes: at the expiry instant and after it.
        for (hash, now) in [("code-exp-at", NOW + 60), ("code-exp-after", NOW + 61)] {
            let c = code(hash, "client_a", "user_1", NOW, NOW + 60);
            s.insert_code(&c).await.unwrap();
            let before = rows.protocol().await;
            let iss = Issuance {
                access_token: access(&format!("at-{hash}"), "client_a", Some(&format!("fam-{hash}")), Some(hash), NOW + 3600),
                refresh: Some((
                    family(&format!("fam-{hash}"), "client_a", "user_1", now, NOW + 86_400),
                    refresh(&format!("rt-{hash}"), &format!("fam-{hash}"), 0, now, NOW + 3600),
                )),
            };
            assert!(!s.redeem_code(hash, now, &iss).await.unwrap(), "[{b}] {hash}: an expired code cannot be redeemed");
            assert_eq!(s.get_code(hash).await.unwrap().as_ref(), Some(&c), "[{b}] {hash}: the expired code stays unconsumed");
            assert_eq!(s.get_family(&format!("fam-{hash}")).await.unwrap(), None, "[{b}] {hash}: no family");
            assert_eq!(s.get_refresh_token(&format!("rt-{hash}")).await.unwrap(), None, "[{b}] {hash}: no refresh token");
            assert_eq!(rows.protocol().await, before, "[{b}] {hash}: nothing written");
        }

        // A code stored as already consumed.
        let pre = AuthorizationCode { consumed_at: Some(NOW), ..code("code-pre", "client_a", "user_1", NOW, NOW + 60) };
        s.insert_code(&pre).await.unwrap();
        let before = rows.protocol().await;
        let iss = Issuance { access_token: access("at-pre", "client_a", None, Some("code-pre"), NOW + 3600), refresh: None };
        assert!(!s.redeem_code("code-pre", NOW + 1, &iss).await.unwrap(), "[{b}] a code stored consumed cannot be redeemed");
        assert_eq!(s.get_code("code-pre").await.unwrap().as_ref(), Some(&pre), "[{b}] unchanged");
        assert_eq!(rows.protocol().await, before, "[{b}] nothing written for a pre-consumed code");

        // An unknown code.
        let iss = Issuance { access_token: access("at-ghost", "client_a", None, Some("ghost"), NOW + 3600), refresh: None };
        assert!(!s.redeem_code("ghost", NOW, &iss).await.unwrap(), "[{b}] an unknown code cannot be redeemed");
        assert_eq!(s.get_code("ghost").await.unwrap(), None, "[{b}] redeeming does not create a code");
        assert_eq!(rows.protocol().await, before, "[{b}] nothing written for an unknown code");

        // The losers' access tokens were not recorded: revoking every grant does not mark them.
        for hash in ["code-1", "code-exp-at", "code-exp-after", "code-pre", "ghost"] {
            s.revoke_code_grant(hash, NOW + 500).await.unwrap();
        }
        assert!(revoked(s, "at-1").await, "[{b}] the winner's access token is reached");
        for jti in ["at-2", "at-code-exp-at", "at-code-exp-after", "at-pre", "at-ghost"] {
            assert!(!revoked(s, jti).await, "[{b}] {jti} was never recorded");
        }
        rows.close().await;
    }
}

#[tokio::test]
async fn revoking_a_code_grant_revokes_its_family_and_its_access_tokens() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());

        // code-1 → fam-1 (rt-1a, at-c1), then a rotation in fam-1 (rt-1b, at-r1).
        s.insert_code(&code("code-1", "client_a", "user_1", NOW, NOW + 60)).await.unwrap();
        let f1 = family("fam-1", "client_a", "user_1", NOW, NOW + 86_400);
        let iss = Issuance {
            access_token: access("at-c1", "client_a", Some("fam-1"), Some("code-1"), NOW + 3600),
            refresh: Some((f1.clone(), refresh("rt-1a", "fam-1", 0, NOW, NOW + 3600))),
        };
        assert!(s.redeem_code("code-1", NOW, &iss).await.unwrap());
        assert!(s
            .rotate_refresh_token(
                "rt-1a",
                NOW + 10,
                &refresh("rt-1b", "fam-1", 1, NOW + 10, NOW + 3610),
                None,
                &family_access("at-r1", &f1)
            )
            .await
            .unwrap());
        // code-2 without refresh token (at-c2); code-3 with its own family (fam-3, at-c3).
        s.insert_code(&bare_code("code-2", "client_a", "user_1", NOW, NOW + 60)).await.unwrap();
        let iss2 = Issuance { access_token: access("at-c2", "client_a", None, Some("code-2"), NOW + 3600), refresh: None };
        assert!(s.redeem_code("code-2", NOW, &iss2).await.unwrap());
        let f3 = family("fam-3", "client_a", "user_1", NOW, NOW + 86_400);
        seed_family(b, s, &f3, &refresh("rt-3", "fam-3", 0, NOW, NOW + 3600), "at-c3").await;

        s.revoke_code_grant("code-1", NOW + 30).await.unwrap_or_else(|e| panic!("[{b}] revoke_code_grant: {e}"));
        assert_eq!(family_revoked_at(s, "fam-1").await, Some(NOW + 30), "[{b}] the redeemed family is revoked");
        assert!(revoked(s, "at-c1").await, "[{b}] the access token issued from the code is revoked");
        assert!(revoked(s, "at-r1").await, "[{b}] an access token issued from the family is revoked");
        let (_, fam) = s.get_refresh_token("rt-1b").await.unwrap().unwrap();
        assert_eq!(fam.revoked_at, Some(NOW + 30), "[{b}] the head token's family reads revoked");
        assert!(
            !s.rotate_refresh_token(
                "rt-1b",
                NOW + 31,
                &refresh("rt-1c", "fam-1", 2, NOW + 31, NOW + 3631),
                None,
                &family_access("at-r2", &f1)
            )
            .await
            .unwrap(),
            "[{b}] the revoked family cannot rotate"
        );
        assert_eq!(family_revoked_at(s, "fam-3").await, None, "[{b}] another code's family is untouched");
        assert!(!revoked(s, "at-c2").await, "[{b}] another code's access token is untouched");
        assert!(!revoked(s, "at-c3").await, "[{b}] another family's access token is untouched");

        // A code without a family: only its access tokens.
        s.revoke_code_grant("code-2", NOW + 40).await.unwrap();
        assert!(revoked(s, "at-c2").await, "[{b}] access token of a code without refresh token");
        assert_eq!(family_revoked_at(s, "fam-3").await, None, "[{b}] still untouched");

        // Unknown code: nothing happens. Repeating keeps the first revocation time.
        s.revoke_code_grant("ghost", NOW + 50).await.unwrap();
        s.revoke_code_grant("code-1", NOW + 99).await.unwrap();
        assert_eq!(family_revoked_at(s, "fam-1").await, Some(NOW + 30), "[{b}] idempotent: first revocation time kept");
        assert_eq!(family_revoked_at(s, "fam-3").await, None, "[{b}] unknown code revoked nothing");
        assert!(!revoked(s, "at-c3").await, "[{b}] unknown code revoked nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_of_one_code_have_exactly_one_winner() {
    for ts in test_stores().await {
        let b = ts.name();
        let rows = Rows::open(&ts).await;
        ts.store.insert_code(&code("code-race", "client_a", "user_1", NOW, NOW + 60)).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let s: Arc<dyn Store> = ts.store.clone();
                let fam = format!("fam-{i}");
                let iss = Issuance {
                    access_token: access(&format!("at-{i}"), "client_a", Some(&fam), Some("code-race"), NOW + 3600),
                    refresh: Some((
                        family(&fam, "client_a", "user_1", NOW + 1, NOW + 86_400),
                        refresh(&format!("rt-{i}"), &fam, 0, NOW + 1, NOW + 3600),
                    )),
                };
                tokio::spawn(async move { s.redeem_code("code-race", NOW + 1, &iss).await })
            })
            .collect();
        let mut winners = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            if t.await.unwrap().unwrap_or_else(|e| panic!("[{b}] redeem_code failed under concurrency: {e}")) {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "[{b}] exactly one of 20 concurrent redemptions wins: {winners:?}");
        let w = winners[0];
        let s = ts.store.as_ref();
        let got = s.get_code("code-race").await.unwrap().unwrap();
        assert_eq!(
            (got.consumed_at, got.family_id),
            (Some(NOW + 1), Some(format!("fam-{w}"))),
            "[{b}] the code names the winner's family"
        );
        for i in 0..20 {
            assert_eq!(
                s.get_family(&format!("fam-{i}")).await.unwrap().is_some(),
                i == w,
                "[{b}] family {i} exists only if it won"
            );
            assert_eq!(
                s.get_refresh_token(&format!("rt-{i}")).await.unwrap().is_some(),
                i == w,
                "[{b}] token {i} exists only if it won"
            );
        }
        assert_eq!(rows.protocol().await, [1, 1, 1, 1], "[{b}] exactly one family, refresh token and access token");
        rows.close().await;
    }
}

// --- TokenStore -------------------------------------------------------------------------

#[tokio::test]
async fn recording_an_issuance_without_a_code_stores_the_family_and_access_token() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let rows = Rows::open(&ts).await;
        let before = rows.protocol().await;
        // With a refresh family (the password grants with offline_access).
        let f = family("fam-pw", "client_a", "user_1", NOW, NOW + 86_400);
        let t = refresh("rt-pw", "fam-pw", 0, NOW, NOW + 3600);
        let with_family = Issuance { access_token: family_access("at-pw", &f), refresh: Some((f.clone(), t.clone())) };
        s.record_issuance(&with_family).await.unwrap_or_else(|e| panic!("[{b}] record_issuance: {e}"));
        assert_eq!(s.get_family("fam-pw").await.unwrap().as_ref(), Some(&f), "[{b}] family stored");
        let (token, fam) = s.get_refresh_token("rt-pw").await.unwrap().unwrap_or_else(|| panic!("[{b}] refresh token"));
        assert_eq!((token, fam), (t.clone(), f.clone()), "[{b}] first token stored");
        // Without one: the access token alone.
        let alone = Issuance { access_token: access("at-alone", "client_a", None, None, NOW + 3600), refresh: None };
        s.record_issuance(&alone).await.unwrap();
        let after = rows.protocol().await;
        assert_eq!(
            [after[0] - before[0], after[1] - before[1], after[2] - before[2], after[3] - before[3]],
            [0, 1, 1, 2],
            "[{b}] no code, one family, one refresh token, two access tokens"
        );
        // Revoking the family reaches the access token recorded with it, not the other.
        s.revoke_family("fam-pw", NOW + 5, "test").await.unwrap();
        assert!(revoked(s, "at-pw").await, "[{b}] the family's access token is revoked");
        assert!(!revoked(s, "at-alone").await, "[{b}] the unrelated access token is not");
        // The same issuance twice is a conflict, and writes nothing more.
        assert!(is_conflict(&s.record_issuance(&with_family).await), "[{b}] a family id is used once");
        assert_eq!(rows.protocol().await, after, "[{b}] the refused issuance wrote nothing");
        rows.close().await;
    }
}

#[tokio::test]
async fn families_are_read_and_revoked_with_their_tokens_idempotently() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.get_family("nope").await.unwrap(), None, "[{b}] unknown family");
        assert_eq!(s.get_refresh_token("nope").await.unwrap(), None, "[{b}] unknown refresh token");

        let f1 = family("fam-1", "client_a", "user_1", NOW, NOW + 86_400);
        let f2 = family("fam-2", "client_a", "user_1", NOW, NOW + 86_400);
        seed_family(b, s, &f1, &refresh("rt-1a", "fam-1", 0, NOW, NOW + 3600), "at-1a").await;
        seed_family(b, s, &f2, &refresh("rt-2a", "fam-2", 0, NOW, NOW + 3600), "at-2a").await;
        assert_eq!(s.get_family("fam-1").await.unwrap().as_ref(), Some(&f1), "[{b}] family round trip");
        assert!(s
            .rotate_refresh_token(
                "rt-1a",
                NOW + 10,
                &refresh("rt-1b", "fam-1", 1, NOW + 10, NOW + 3610),
                None,
                &family_access("at-1b", &f1)
            )
            .await
            .unwrap());

        s.revoke_family("fam-1", NOW + 50, "logout").await.unwrap_or_else(|e| panic!("[{b}] revoke_family: {e}"));
        let expected = RefreshFamily { revoked_at: Some(NOW + 50), ..f1.clone() };
        assert_eq!(
            s.get_family("fam-1").await.unwrap().as_ref(),
            Some(&expected),
            "[{b}] revoked at the given time, nothing else changed"
        );
        for h in ["rt-1a", "rt-1b"] {
            let (_, fam) = s.get_refresh_token(h).await.unwrap().unwrap();
            assert_eq!(fam, expected, "[{b}] {h} reads its family revoked");
        }
        assert!(revoked(s, "at-1a").await, "[{b}] the code's access token of the family is revoked");
        assert!(revoked(s, "at-1b").await, "[{b}] the rotation's access token is revoked");
        assert!(
            !s.use_refresh_token("rt-1b", NOW + 60, NOW + 3660, &family_access("at-1c", &f1)).await.unwrap(),
            "[{b}] the head of a revoked family is unusable"
        );
        assert_eq!(family_revoked_at(s, "fam-2").await, None, "[{b}] another family untouched");
        assert!(!revoked(s, "at-2a").await, "[{b}] another family's access token untouched");

        s.revoke_family("fam-1", NOW + 70, "again").await.unwrap();
        assert_eq!(family_revoked_at(s, "fam-1").await, Some(NOW + 50), "[{b}] idempotent: the first revocation time stays");
        s.revoke_family("ghost", NOW + 70, "none").await.unwrap_or_else(|e| panic!("[{b}] revoking an unknown family: {e}"));
        assert_eq!(s.get_family("ghost").await.unwrap(), None, "[{b}] revoking does not create a family");
    }
}

#[tokio::test]
async fn access_tokens_are_revoked_by_jti_recorded_or_not() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let rows = Rows::open(&ts).await;
        assert!(!revoked(s, "never-seen").await, "[{b}] an unknown jti is not revoked");

        // Not recorded at issuance (client_credentials): revocation records it.
        s.revoke_access_token("cc-1", "client_m2m", NOW + 3600, NOW)
            .await
            .unwrap_or_else(|e| panic!("[{b}] revoke unrecorded: {e}"));
        assert!(revoked(s, "cc-1").await, "[{b}] an unrecorded jti is revoked");
        s.revoke_access_token("cc-1", "client_m2m", NOW + 3600, NOW + 5)
            .await
            .unwrap_or_else(|e| panic!("[{b}] revoke twice: {e}"));
        assert!(revoked(s, "cc-1").await, "[{b}] still revoked after a second revocation");
        assert_eq!(rows.count("access_tokens").await, 1, "[{b}] one row per jti");

        // Recorded at issuance: revocation marks the existing row.
        s.insert_code(&bare_code("code-1", "client_a", "user_1", NOW, NOW + 60)).await.unwrap();
        let iss = Issuance { access_token: access("at-1", "client_a", None, Some("code-1"), NOW + 3600), refresh: None };
        assert!(s.redeem_code("code-1", NOW, &iss).await.unwrap());
        assert!(!revoked(s, "at-1").await, "[{b}] recorded, not revoked");
        s.revoke_access_token("at-1", "client_a", NOW + 3600, NOW + 10)
            .await
            .unwrap_or_else(|e| panic!("[{b}] revoke recorded: {e}"));
        assert!(revoked(s, "at-1").await, "[{b}] a recorded jti is revoked");
        assert_eq!(rows.count("access_tokens").await, 2, "[{b}] revoking a recorded jti adds no row");
        assert!(!revoked(s, "never-seen").await, "[{b}] others stay unrevoked");
        rows.close().await;
    }
}

/// The token endpoint's reads: a code or a refresh token together with its user, in one
/// statement; the user is `None` once deleted, and the rest reads as it does alone.
#[tokio::test]
async fn codes_and_refresh_tokens_are_read_with_their_user() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let mut alice = User::create(
            "auth0|alice".into(),
            UserPatch { email: Some("alice@example.com".into()), name: Some("Alice".into()), ..Default::default() },
            NOW - 100,
        )
        .unwrap();
        alice.blocked = true;
        s.insert_user(&alice).await.unwrap_or_else(|e| panic!("[{b}] insert user: {e}"));
        let with_user = code("code-alice", "client_a", "auth0|alice", NOW, NOW + 60);
        let orphan = bare_code("code-nobody", "client_a", "auth0|nobody", NOW, NOW + 60);
        s.insert_code(&with_user).await.unwrap();
        s.insert_code(&orphan).await.unwrap();
        assert_eq!(
            s.get_code_and_user("code-alice").await.unwrap(),
            Some((with_user.clone(), Some(alice.clone()))),
            "[{b}] the code and every field of its user"
        );
        assert_eq!(s.get_code_and_user("code-nobody").await.unwrap(), Some((orphan, None)), "[{b}] a code whose user is gone");
        assert_eq!(s.get_code_and_user("nope").await.unwrap(), None, "[{b}] unknown code");

        let f = family("fam-alice", "client_a", "auth0|alice", NOW, NOW + 86_400);
        let t = refresh("rt-alice", "fam-alice", 0, NOW, NOW + 3600);
        seed_family(b, s, &f, &t, "at-alice").await;
        assert_eq!(
            s.get_refresh_token_and_user("rt-alice").await.unwrap(),
            Some((t.clone(), f.clone(), Some(alice.clone()))),
            "[{b}] token, family and user"
        );
        assert_eq!(s.get_refresh_token_and_user("nope").await.unwrap(), None, "[{b}] unknown refresh token");
        assert!(s.delete_user("auth0|alice").await.unwrap(), "[{b}] delete user");
        assert_eq!(
            s.get_refresh_token_and_user("rt-alice").await.unwrap(),
            Some((t, f, None)),
            "[{b}] the token of a deleted user still reads, without a user"
        );
        assert_eq!(s.get_code_and_user("code-alice").await.unwrap(), Some((with_user, None)), "[{b}] likewise a code");
    }
}

#[tokio::test]
async fn rotating_a_refresh_token_succeeds_once_and_records_the_successor() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let rows = Rows::open(&ts).await;
        let f = family("fam-r", "client_a", "user_1", NOW, NOW + 86_400);
        let t0 = refresh("rt-0", "fam-r", 0, NOW, NOW + 3600);
        seed_family(b, s, &f, &t0, "at-0").await;
        assert_eq!(s.get_refresh_token("rt-0").await.unwrap(), Some((t0.clone(), f.clone())), "[{b}] token with its family");

        let t1 = refresh("rt-1", "fam-r", 1, NOW + 10, NOW + 3610);
        assert!(
            s.rotate_refresh_token("rt-0", NOW + 10, &t1, Some("sealed-rt-1"), &family_access("at-1", &f)).await.unwrap(),
            "[{b}] the live head rotates"
        );
        let old = RefreshTokenRecord {
            superseded_at: Some(NOW + 10),
            successor_hash: Some("rt-1".into()),
            successor_token: Some("sealed-rt-1".into()),
            ..t0.clone()
        };
        assert_eq!(
            s.get_refresh_token("rt-0").await.unwrap(),
            Some((old.clone(), f.clone())),
            "[{b}] old token superseded, successor recorded"
        );
        assert_eq!(s.get_refresh_token("rt-1").await.unwrap(), Some((t1.clone(), f.clone())), "[{b}] successor stored as given");
        assert!(!revoked(s, "at-1").await, "[{b}] the rotation's access token is recorded");
        assert_eq!(rows.protocol().await, [1, 1, 2, 2], "[{b}] one successor, one access token");

        // Compare-and-set: the same old token again loses and writes nothing.
        let t1b = refresh("rt-1b", "fam-r", 1, NOW + 11, NOW + 3611);
        assert!(
            !s.rotate_refresh_token("rt-0", NOW + 11, &t1b, Some("sealed-rt-1b"), &family_access("at-1b", &f)).await.unwrap(),
            "[{b}] a superseded token cannot rotate again"
        );
        assert_eq!(s.get_refresh_token("rt-1b").await.unwrap(), None, "[{b}] no second successor");
        assert_eq!(
            s.get_refresh_token("rt-0").await.unwrap(),
            Some((old, f.clone())),
            "[{b}] the first successor stays recorded"
        );
        assert_eq!(rows.protocol().await, [1, 1, 2, 2], "[{b}] nothing written by the lost rotation");

        // The successor is the new head; without a sealed successor none is kept.
        let t2 = refresh("rt-2", "fam-r", 2, NOW + 20, NOW + 3620);
        assert!(
            s.rotate_refresh_token("rt-1", NOW + 20, &t2, None, &family_access("at-2", &f)).await.unwrap(),
            "[{b}] the successor rotates"
        );
        let (got, _) = s.get_refresh_token("rt-1").await.unwrap().unwrap();
        assert_eq!(
            (got.superseded_at, got.successor_hash, got.successor_token),
            (Some(NOW + 20), Some("rt-2".into()), None),
            "[{b}] successor recorded without a sealed copy"
        );
        assert_eq!(rows.protocol().await, [1, 1, 3, 3], "[{b}] after the second rotation");

        // The rotations' access tokens were recorded with the family.
        s.revoke_family("fam-r", NOW + 30, "test").await.unwrap();
        for jti in ["at-0", "at-1", "at-2"] {
            assert!(revoked(s, jti).await, "[{b}] {jti} recorded with the family");
        }
        assert!(!revoked(s, "at-1b").await, "[{b}] the lost rotation's access token was never recorded");
        rows.close().await;
    }
}

#[tokio::test]
async fn rotation_is_refused_with_nothing_written_for_expired_tokens_and_dead_families() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let rows = Rows::open(&ts).await;

        // Idle-expired: at the idle expiry instant and after it.
        let fi = family("fam-idle", "client_a", "user_1", NOW, NOW + 86_400);
        seed_family(b, s, &fi, &refresh("rt-idle", "fam-idle", 0, NOW, NOW + 100), "at-idle").await;
        // Past absolute expiry (the token itself is not idle-expired).
        let fa = family("fam-abs", "client_a", "user_1", NOW, NOW + 100);
        seed_family(b, s, &fa, &refresh("rt-abs", "fam-abs", 0, NOW, NOW + 3600), "at-abs").await;
        // Revoked.
        let fr = family("fam-rev", "client_a", "user_1", NOW, NOW + 86_400);
        seed_family(b, s, &fr, &refresh("rt-rev", "fam-rev", 0, NOW, NOW + 3600), "at-rev").await;
        s.revoke_family("fam-rev", NOW + 1, "test").await.unwrap();
        // A live family, to name in a successor that does not belong to the old token's family.
        let fl = family("fam-live", "client_a", "user_1", NOW, NOW + 86_400);
        seed_family(b, s, &fl, &refresh("rt-live", "fam-live", 0, NOW, NOW + 3600), "at-live").await;

        let cases: [(&str, &str, &RefreshFamily, i64, &str); 6] = [
            ("idle expiry instant", "rt-idle", &fi, NOW + 100, "fam-idle"),
            ("after idle expiry", "rt-idle", &fi, NOW + 101, "fam-idle"),
            ("absolute expiry instant", "rt-abs", &fa, NOW + 100, "fam-abs"),
            ("revoked family", "rt-rev", &fr, NOW + 2, "fam-rev"),
            ("unknown old token", "rt-ghost", &fl, NOW + 2, "fam-live"),
            ("successor in another live family", "rt-rev", &fl, NOW + 2, "fam-live"),
        ];
        for (i, (case, old_hash, fam, now, succ_family)) in cases.into_iter().enumerate() {
            let before_rows = rows.protocol().await;
            let before_old = s.get_refresh_token(old_hash).await.unwrap();
            let before_fam = s.get_family(&fam.family_id).await.unwrap();
            let succ = refresh(&format!("rt-succ-{i}"), succ_family, 1, now, now + 3600);
            let at = access(&format!("at-succ-{i}"), "client_a", Some(succ_family), None, now + 3600);
            assert!(
                !s.rotate_refresh_token(old_hash, now, &succ, Some("sealed"), &at)
                    .await
                    .unwrap_or_else(|e| panic!("[{b}] {case}: {e}")),
                "[{b}] {case}: rotation refused"
            );
            assert_eq!(s.get_refresh_token(old_hash).await.unwrap(), before_old, "[{b}] {case}: old token unchanged");
            assert_eq!(s.get_family(&fam.family_id).await.unwrap(), before_fam, "[{b}] {case}: family unchanged");
            assert_eq!(s.get_refresh_token(&succ.token_hash).await.unwrap(), None, "[{b}] {case}: no successor");
            assert_eq!(rows.protocol().await, before_rows, "[{b}] {case}: nothing written");
            assert!(!revoked(s, &at.jti).await, "[{b}] {case}: access token not recorded");
        }
        // The live family's head was not disturbed by the refused cases.
        assert!(
            s.rotate_refresh_token(
                "rt-live",
                NOW + 3,
                &refresh("rt-live-1", "fam-live", 1, NOW + 3, NOW + 3603),
                None,
                &family_access("at-live-1", &fl)
            )
            .await
            .unwrap(),
            "[{b}] the live head still rotates"
        );
        rows.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_one_token_have_exactly_one_winner() {
    for ts in test_stores().await {
        let b = ts.name();
        let rows = Rows::open(&ts).await;
        let f = family("fam-race", "client_a", "user_1", NOW, NOW + 86_400);
        seed_family(b, ts.store.as_ref(), &f, &refresh("rt-0", "fam-race", 0, NOW, NOW + 3600), "at-0").await;
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let s: Arc<dyn Store> = ts.store.clone();
                let succ = refresh(&format!("rt-1-{i}"), "fam-race", 1, NOW + 5, NOW + 3605);
                let at = family_access(&format!("at-1-{i}"), &f);
                tokio::spawn(
                    async move { s.rotate_refresh_token("rt-0", NOW + 5, &succ, Some(&format!("sealed-{i}")), &at).await },
                )
            })
            .collect();
        let mut winners = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            if t.await.unwrap().unwrap_or_else(|e| panic!("[{b}] rotate_refresh_token failed under concurrency: {e}")) {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "[{b}] exactly one of 10 concurrent rotations wins: {winners:?}");
        let w = winners[0];
        let s = ts.store.as_ref();
        let (old, _) = s.get_refresh_token("rt-0").await.unwrap().unwrap();
        assert_eq!(
            (old.superseded_at, old.successor_hash, old.successor_token),
            (Some(NOW + 5), Some(format!("rt-1-{w}")), Some(format!("sealed-{w}"))),
            "[{b}] the old token names the winner's successor"
        );
        for i in 0..10 {
            assert_eq!(
                s.get_refresh_token(&format!("rt-1-{i}")).await.unwrap().is_some(),
                i == w,
                "[{b}] successor {i} exists only if it won"
            );
        }
        assert_eq!(rows.count("refresh_tokens").await, 2, "[{b}] exactly one successor row");
        assert_eq!(rows.count("access_tokens").await, 2, "[{b}] exactly one access token from the rotations");
        rows.close().await;
    }
}

#[tokio::test]
async fn using_a_refresh_token_slides_its_idle_expiry() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let rows = Rows::open(&ts).await;
        let fa = family("fam-a", "client_a", "user_1", NOW, NOW + 86_400);
        let ta = refresh("rt-a", "fam-a", 0, NOW, NOW + 100);
        seed_family(b, s, &fa, &ta, "at-a0").await;

        assert!(
            s.use_refresh_token("rt-a", NOW + 50, NOW + 150, &family_access("at-a1", &fa)).await.unwrap(),
            "[{b}] live head is usable"
        );
        let slid = RefreshTokenRecord { idle_expires_at: NOW + 150, ..ta.clone() };
        assert_eq!(
            s.get_refresh_token("rt-a").await.unwrap(),
            Some((slid.clone(), fa.clone())),
            "[{b}] only the idle expiry moved"
        );
        assert!(!revoked(s, "at-a1").await, "[{b}] the access token is recorded");
        assert_eq!(rows.count("access_tokens").await, 2, "[{b}] one access token per use");
        // Usable until the slid expiry, not the original one.
        assert!(
            s.use_refresh_token("rt-a", NOW + 149, NOW + 249, &family_access("at-a2", &fa)).await.unwrap(),
            "[{b}] usable past the first idle expiry"
        );
        let slid = RefreshTokenRecord { idle_expires_at: NOW + 249, ..ta.clone() };

        let fb = family("fam-b", "client_a", "user_1", NOW, NOW + 86_400);
        seed_family(b, s, &fb, &refresh("rt-b0", "fam-b", 0, NOW, NOW + 3600), "at-b0").await;
        assert!(s
            .rotate_refresh_token(
                "rt-b0",
                NOW + 1,
                &refresh("rt-b1", "fam-b", 1, NOW + 1, NOW + 3601),
                None,
                &family_access("at-b1", &fb)
            )
            .await
            .unwrap());
        let fc = family("fam-c", "client_a", "user_1", NOW, NOW + 86_400);
        seed_family(b, s, &fc, &refresh("rt-c", "fam-c", 0, NOW, NOW + 3600), "at-c0").await;
        s.revoke_family("fam-c", NOW + 1, "test").await.unwrap();
        let fd = family("fam-d", "client_a", "user_1", NOW, NOW + 100);
        seed_family(b, s, &fd, &refresh("rt-d", "fam-d", 0, NOW, NOW + 3600), "at-d0").await;

        let cases: [(&str, &str, &RefreshFamily, i64); 6] = [
            ("idle expiry instant", "rt-a", &fa, NOW + 249),
            ("superseded token", "rt-b0", &fb, NOW + 2),
            ("revoked family", "rt-c", &fc, NOW + 2),
            ("absolute expiry instant", "rt-d", &fd, NOW + 100),
            ("unknown token", "rt-ghost", &fb, NOW + 2),
            ("access token names another family", "rt-b1", &fa, NOW + 2),
        ];
        for (i, (case, hash, fam, now)) in cases.into_iter().enumerate() {
            let before_tok = s.get_refresh_token(hash).await.unwrap();
            let before_rows = rows.protocol().await;
            let jti = format!("at-use-{i}");
            assert!(
                !s.use_refresh_token(hash, now, now + 1000, &family_access(&jti, fam))
                    .await
                    .unwrap_or_else(|e| panic!("[{b}] {case}: {e}")),
                "[{b}] {case}: not usable"
            );
            assert_eq!(s.get_refresh_token(hash).await.unwrap(), before_tok, "[{b}] {case}: token unchanged");
            assert_eq!(rows.protocol().await, before_rows, "[{b}] {case}: nothing written");
        }
        assert_eq!(
            s.get_refresh_token("rt-a").await.unwrap(),
            Some((slid, fa.clone())),
            "[{b}] the expired token kept its last expiry"
        );
        assert!(
            s.use_refresh_token("rt-b1", NOW + 3, NOW + 4000, &family_access("at-b2", &fb)).await.unwrap(),
            "[{b}] the head of fam-b is usable"
        );
        rows.close().await;
    }
}

#[tokio::test]
async fn revoking_families_by_client_and_by_user() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let specs = [
            ("f-c1-u1", "c1", "u1"),
            ("f-c1-u2", "c1", "u2"),
            ("f-c2-u1", "c2", "u1"),
            ("f-c2-u2", "c2", "u2"),
            ("f-c3-u3", "c3", "u3"),
            ("f-c1-old", "c1", "u3"),
        ];
        for (id, c, u) in specs {
            let f = family(id, c, u, NOW, NOW + 86_400);
            seed_family(b, s, &f, &refresh(&format!("rt-{id}"), id, 0, NOW, NOW + 3600), &format!("at-{id}")).await;
        }
        s.revoke_family("f-c1-old", NOW + 1, "earlier").await.unwrap();

        // Neither given: nothing is revoked.
        let none = s.revoke_families(None, None, NOW + 5, "nothing").await;
        assert!(matches!(none, Ok(0) | Err(_)), "[{b}] no filter revokes nothing: {none:?}");
        for (id, ..) in &specs[..5] {
            assert_eq!(family_revoked_at(s, id).await, None, "[{b}] {id} live after an unfiltered call");
        }

        assert_eq!(
            s.revoke_families(Some("c1"), None, NOW + 10, "client_deleted").await.unwrap(),
            2,
            "[{b}] the live families of c1"
        );
        assert_eq!(family_revoked_at(s, "f-c1-u1").await, Some(NOW + 10), "[{b}] c1/u1 revoked");
        assert_eq!(family_revoked_at(s, "f-c1-u2").await, Some(NOW + 10), "[{b}] c1/u2 revoked");
        assert_eq!(family_revoked_at(s, "f-c1-old").await, Some(NOW + 1), "[{b}] an already revoked family keeps its time");
        assert!(revoked(s, "at-f-c1-u1").await && revoked(s, "at-f-c1-u2").await, "[{b}] their access tokens are revoked");
        for id in ["f-c2-u1", "f-c2-u2", "f-c3-u3"] {
            assert_eq!(family_revoked_at(s, id).await, None, "[{b}] {id} of another client is live");
            assert!(!revoked(s, &format!("at-{id}")).await, "[{b}] {id}'s access token is live");
        }

        assert_eq!(
            s.revoke_families(None, Some("u1"), NOW + 20, "user_blocked").await.unwrap(),
            1,
            "[{b}] the live families of u1"
        );
        assert_eq!(family_revoked_at(s, "f-c2-u1").await, Some(NOW + 20), "[{b}] c2/u1 revoked");
        assert_eq!(family_revoked_at(s, "f-c1-u1").await, Some(NOW + 10), "[{b}] c1/u1 keeps its first revocation");
        assert!(revoked(s, "at-f-c2-u1").await, "[{b}] its access token is revoked");
        assert_eq!(family_revoked_at(s, "f-c2-u2").await, None, "[{b}] c2/u2 still live");

        assert_eq!(
            s.revoke_families(Some("c2"), Some("u3"), NOW + 25, "x").await.unwrap(),
            0,
            "[{b}] both filters apply together"
        );
        assert_eq!(s.revoke_families(Some("c2"), Some("u2"), NOW + 30, "x").await.unwrap(), 1, "[{b}] client and user");
        assert_eq!(family_revoked_at(s, "f-c2-u2").await, Some(NOW + 30), "[{b}] c2/u2 revoked");
        assert_eq!(s.revoke_families(Some("c1"), None, NOW + 40, "again").await.unwrap(), 0, "[{b}] nothing left for c1");
        assert_eq!(s.revoke_families(Some("nobody"), None, NOW + 40, "x").await.unwrap(), 0, "[{b}] unknown client");
        assert_eq!(family_revoked_at(s, "f-c3-u3").await, None, "[{b}] c3/u3 never matched");
        assert!(!revoked(s, "at-f-c3-u3").await, "[{b}] c3/u3's access token never matched");
    }
}

// --- SessionStore -----------------------------------------------------------------------

#[tokio::test]
async fn sessions_insert_get_touch_and_end() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.get_session("nope").await.unwrap(), None, "[{b}] unknown session");
        let s1 = session("sh-1", "sid-1", "user_1", NOW, NOW + 1800, NOW + 86_400);
        let s2 = session("sh-2", "sid-2", "user_1", NOW, NOW + 1800, NOW + 86_400);
        s.insert_session(&s1).await.unwrap_or_else(|e| panic!("[{b}] insert session: {e}"));
        s.insert_session(&s2).await.unwrap();
        assert_eq!(s.get_session("sh-1").await.unwrap().as_ref(), Some(&s1), "[{b}] round trip");
        assert!(
            is_conflict(&s.insert_session(&session("sh-1", "sid-9", "user_9", NOW, NOW + 1, NOW + 2)).await),
            "[{b}] duplicate hash"
        );

        s.touch_session("sh-1", NOW + 100, NOW + 1900).await.unwrap();
        let expected = Session { last_seen_at: NOW + 100, idle_expires_at: NOW + 1900, ..s1.clone() };
        assert_eq!(s.get_session("sh-1").await.unwrap().as_ref(), Some(&expected), "[{b}] idle expiry slid, last seen moved");

        // Never past the absolute expiry.
        s.touch_session("sh-1", NOW + 86_000, NOW + 87_800).await.unwrap();
        let expected = Session { last_seen_at: NOW + 86_000, idle_expires_at: NOW + 86_400, ..s1.clone() };
        assert_eq!(
            s.get_session("sh-1").await.unwrap().as_ref(),
            Some(&expected),
            "[{b}] idle expiry capped at the absolute one"
        );
        s.touch_session("sh-1", NOW + 86_100, NOW + 86_400).await.unwrap();
        assert_eq!(
            s.get_session("sh-1").await.unwrap().unwrap().idle_expires_at,
            NOW + 86_400,
            "[{b}] exactly the absolute expiry is allowed"
        );
        s.touch_session("ghost", NOW, NOW + 10).await.unwrap_or_else(|e| panic!("[{b}] touching an unknown session: {e}"));
        assert_eq!(s.get_session("ghost").await.unwrap(), None, "[{b}] touching does not create");

        assert!(s.end_session("sh-1", NOW + 86_200).await.unwrap(), "[{b}] ending an active session");
        let ended = s.get_session("sh-1").await.unwrap().unwrap();
        assert_eq!(ended.ended_at, Some(NOW + 86_200), "[{b}] ended at the given time");
        assert!(!ended.is_active(NOW + 86_200), "[{b}] no longer active");
        assert!(!s.end_session("sh-1", NOW + 86_300).await.unwrap(), "[{b}] ending twice");
        s.touch_session("sh-1", NOW + 86_300, NOW + 86_350).await.unwrap();
        let after = s.get_session("sh-1").await.unwrap().unwrap();
        assert_eq!(after.ended_at, Some(NOW + 86_200), "[{b}] ending again or touching keeps the first end");
        assert!(!after.is_active(NOW + 86_300), "[{b}] touching does not revive");
        assert!(!s.end_session("ghost", NOW).await.unwrap(), "[{b}] unknown session");

        assert_eq!(s.get_session("sh-2").await.unwrap().as_ref(), Some(&s2), "[{b}] the other session is untouched");
        assert!(s.end_session_by_sid("sid-2", NOW + 10).await.unwrap(), "[{b}] ending by sid");
        assert_eq!(
            s.get_session("sh-2").await.unwrap().unwrap().ended_at,
            Some(NOW + 10),
            "[{b}] ended by sid at the given time"
        );
        assert!(!s.end_session_by_sid("sid-2", NOW + 20).await.unwrap(), "[{b}] ending by sid twice");
        assert_eq!(s.get_session("sh-2").await.unwrap().unwrap().ended_at, Some(NOW + 10), "[{b}] first end kept");
        assert!(!s.end_session_by_sid("sid-ghost", NOW).await.unwrap(), "[{b}] unknown sid");
        assert!(!s.end_session_by_sid("sid-1", NOW + 86_400).await.unwrap(), "[{b}] an already ended session by sid");
    }
}

// --- LoginStore -------------------------------------------------------------------------

#[tokio::test]
async fn login_transactions_record_the_user_and_complete_once() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.get_login("nope").await.unwrap(), None, "[{b}] unknown transaction");
        let t1 = login("lt-1", NOW, NOW + 600);
        s.insert_login(&t1).await.unwrap_or_else(|e| panic!("[{b}] insert login: {e}"));
        assert_eq!(s.get_login("lt-1").await.unwrap().as_ref(), Some(&t1), "[{b}] round trip");
        assert!(is_conflict(&s.insert_login(&login("lt-1", NOW + 1, NOW + 2)).await), "[{b}] duplicate hash");

        assert!(s.set_login_user("lt-1", "user_1", NOW + 10, NOW + 10).await.unwrap(), "[{b}] user recorded");
        let with_user = LoginTransaction { user_id: Some("user_1".into()), auth_time: Some(NOW + 10), ..t1.clone() };
        assert_eq!(s.get_login("lt-1").await.unwrap().as_ref(), Some(&with_user), "[{b}] user and auth_time stored");
        assert!(
            s.set_login_user("lt-1", "user_2", NOW + 15, NOW + 15).await.unwrap(),
            "[{b}] re-authentication before completion"
        );
        let with_user = LoginTransaction { user_id: Some("user_2".into()), auth_time: Some(NOW + 15), ..t1.clone() };
        assert_eq!(s.get_login("lt-1").await.unwrap().as_ref(), Some(&with_user), "[{b}] the latest user is stored");

        assert!(s.complete_login("lt-1", NOW + 20).await.unwrap(), "[{b}] first completion");
        let done = LoginTransaction { completed_at: Some(NOW + 20), ..with_user };
        assert_eq!(s.get_login("lt-1").await.unwrap().as_ref(), Some(&done), "[{b}] completed at the given time");
        assert!(!s.complete_login("lt-1", NOW + 21).await.unwrap(), "[{b}] single use");
        assert!(!s.set_login_user("lt-1", "user_3", NOW + 22, NOW + 22).await.unwrap(), "[{b}] no user change once done");
        assert_eq!(s.get_login("lt-1").await.unwrap().as_ref(), Some(&done), "[{b}] unchanged after completion");

        // Expired: refused at the expiry instant, accepted one second before.
        let t2 = login("lt-2", NOW, NOW + 600);
        s.insert_login(&t2).await.unwrap();
        assert!(
            !s.set_login_user("lt-2", "user_1", NOW + 600, NOW + 600).await.unwrap(),
            "[{b}] no user on an expired transaction"
        );
        assert!(!s.complete_login("lt-2", NOW + 600).await.unwrap(), "[{b}] an expired transaction cannot complete");
        assert!(!s.complete_login("lt-2", NOW + 9999).await.unwrap(), "[{b}] nor long after");
        assert_eq!(s.get_login("lt-2").await.unwrap().as_ref(), Some(&t2), "[{b}] the expired transaction is unchanged");
        let t3 = login("lt-3", NOW, NOW + 600);
        s.insert_login(&t3).await.unwrap();
        assert!(s.set_login_user("lt-3", "user_1", NOW + 599, NOW + 599).await.unwrap(), "[{b}] user one second before expiry");
        assert!(s.complete_login("lt-3", NOW + 599).await.unwrap(), "[{b}] completion one second before expiry");

        assert!(!s.set_login_user("ghost", "user_1", NOW, NOW).await.unwrap(), "[{b}] unknown transaction: set user");
        assert!(!s.complete_login("ghost", NOW).await.unwrap(), "[{b}] unknown transaction: complete");
        assert_eq!(s.get_login("ghost").await.unwrap(), None, "[{b}] nothing created");
    }
}

// --- ConsentStore -----------------------------------------------------------------------

#[tokio::test]
async fn consents_are_stored_per_user_client_and_audience_and_replaced() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.get_consent("u1", "c1", "https://api.example.com").await.unwrap(), None, "[{b}] none yet");

        let api = consent("u1", "c1", "https://api.example.com", "openid read:x", NOW);
        let oidc = consent("u1", "c1", "", "openid profile", NOW + 1);
        let other_client = consent("u1", "c2", "https://api.example.com", "openid", NOW + 2);
        let other_user = consent("u2", "c1", "https://api.example.com", "openid write:x", NOW + 3);
        for c in [&api, &oidc, &other_client, &other_user] {
            s.put_consent(c).await.unwrap_or_else(|e| panic!("[{b}] put consent: {e}"));
        }
        assert_eq!(s.get_consent("u1", "c1", "https://api.example.com").await.unwrap().as_ref(), Some(&api), "[{b}] API consent");
        assert_eq!(
            s.get_consent("u1", "c1", "").await.unwrap().as_ref(),
            Some(&oidc),
            "[{b}] OpenID-only consent (empty audience)"
        );
        assert_eq!(
            s.get_consent("u1", "c2", "https://api.example.com").await.unwrap().as_ref(),
            Some(&other_client),
            "[{b}] per client"
        );
        assert_eq!(
            s.get_consent("u2", "c1", "https://api.example.com").await.unwrap().as_ref(),
            Some(&other_user),
            "[{b}] per user"
        );
        assert_eq!(s.get_consent("u2", "c1", "").await.unwrap(), None, "[{b}] per audience");

        let replaced = consent("u1", "c1", "https://api.example.com", "openid read:x write:x", NOW + 100);
        s.put_consent(&replaced).await.unwrap_or_else(|e| panic!("[{b}] replace consent: {e}"));
        assert_eq!(
            s.get_consent("u1", "c1", "https://api.example.com").await.unwrap().as_ref(),
            Some(&replaced),
            "[{b}] put replaces scope and time"
        );
        let narrowed = consent("u1", "c1", "https://api.example.com", "openid", NOW + 200);
        s.put_consent(&narrowed).await.unwrap();
        assert_eq!(
            s.get_consent("u1", "c1", "https://api.example.com").await.unwrap().as_ref(),
            Some(&narrowed),
            "[{b}] put replaces again"
        );
        assert_eq!(s.get_consent("u1", "c1", "").await.unwrap().as_ref(), Some(&oidc), "[{b}] other audiences untouched");
        assert_eq!(
            s.get_consent("u1", "c2", "https://api.example.com").await.unwrap().as_ref(),
            Some(&other_client),
            "[{b}] other clients untouched"
        );
        assert_eq!(
            s.get_consent("u2", "c1", "https://api.example.com").await.unwrap().as_ref(),
            Some(&other_user),
            "[{b}] other users untouched"
        );
    }
}

// --- ThrottleStore ----------------------------------------------------------------------

#[tokio::test]
async fn failures_are_counted_per_window_and_block_at_the_limit() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());

        // A window of 600 s restarts once 600 s have passed since its first failure.
        let window = |now: i64| s.record_failure("user:win", now, 600, 5, 900);
        assert_eq!(window(NOW).await.unwrap(), throttle(1, None), "[{b}] first failure");
        assert_eq!(window(NOW + 10).await.unwrap(), throttle(2, None), "[{b}] second failure");
        assert_eq!(window(NOW + 599).await.unwrap(), throttle(3, None), "[{b}] last second of the window");
        assert_eq!(window(NOW + 600).await.unwrap(), throttle(1, None), "[{b}] a new window starts after 600 s");
        assert_eq!(window(NOW + 1199).await.unwrap(), throttle(2, None), "[{b}] the new window runs from its first failure");
        assert_eq!(window(NOW + 1200).await.unwrap(), throttle(1, None), "[{b}] and restarts 600 s after it");
        assert_eq!(s.blocked_until(&["user:win"], NOW + 1200).await.unwrap(), None, "[{b}] never reached the limit");

        // Reaching max_failures blocks for block_for seconds.
        let blk = |now: i64| s.record_failure("user:blk", now, 600, 3, 900);
        assert_eq!(blk(NOW).await.unwrap(), throttle(1, None), "[{b}] 1 of 3");
        assert_eq!(blk(NOW + 1).await.unwrap(), throttle(2, None), "[{b}] 2 of 3");
        assert_eq!(blk(NOW + 2).await.unwrap(), throttle(3, Some(NOW + 902)), "[{b}] the third failure blocks");
        assert_eq!(s.blocked_until(&["user:blk"], NOW + 2).await.unwrap(), Some(NOW + 902), "[{b}] blocked");
        assert_eq!(
            s.blocked_until(&["user:blk"], NOW + 901).await.unwrap(),
            Some(NOW + 902),
            "[{b}] blocked until the last second"
        );
        assert_eq!(s.blocked_until(&["user:blk"], NOW + 902).await.unwrap(), None, "[{b}] a block in the past does not count");
        let more = blk(NOW + 3).await.unwrap();
        assert_eq!(more.failures, 4, "[{b}] counting continues past the limit");
        assert!(more.blocked_until.is_some_and(|t| t >= NOW + 902), "[{b}] still blocked past the limit: {more:?}");

        // A limit of one blocks on the first failure.
        assert_eq!(
            s.record_failure("ip:one", NOW, 60, 1, 30).await.unwrap(),
            throttle(1, Some(NOW + 30)),
            "[{b}] max_failures 1"
        );

        // Clearing forgets the counter and the block.
        s.clear_failures("user:blk").await.unwrap_or_else(|e| panic!("[{b}] clear_failures: {e}"));
        assert_eq!(s.blocked_until(&["user:blk"], NOW + 4).await.unwrap(), None, "[{b}] cleared block");
        assert_eq!(blk(NOW + 5).await.unwrap(), throttle(1, None), "[{b}] counting restarts after clearing");
        s.clear_failures("never-failed").await.unwrap_or_else(|e| panic!("[{b}] clearing an unknown key: {e}"));
        assert_eq!(s.blocked_until(&["ip:one"], NOW + 1).await.unwrap(), Some(NOW + 30), "[{b}] other keys are not cleared");
    }
}

#[tokio::test]
async fn a_refunded_attempt_is_taken_back_and_lifts_the_block_it_set() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let count = |now: i64| s.record_failure("user:ref", now, 600, 3, 900);
        count(NOW).await.unwrap();
        count(NOW + 1).await.unwrap();
        assert_eq!(count(NOW + 2).await.unwrap(), throttle(3, Some(NOW + 902)), "[{b}] the third attempt blocks");
        // The third attempt was the right password: it is taken back and its block lifted.
        s.refund_attempt("user:ref", 3).await.unwrap_or_else(|e| panic!("[{b}] refund_attempt: {e}"));
        assert_eq!(s.blocked_until(&["user:ref"], NOW + 3).await.unwrap(), None, "[{b}] below the limit again");
        assert_eq!(count(NOW + 3).await.unwrap(), throttle(3, Some(NOW + 903)), "[{b}] earlier failures stay counted");
        // Past the limit, one refund leaves the key blocked.
        assert_eq!(count(NOW + 4).await.unwrap(), throttle(4, Some(NOW + 904)), "[{b}]");
        s.refund_attempt("user:ref", 3).await.unwrap();
        assert_eq!(s.blocked_until(&["user:ref"], NOW + 5).await.unwrap(), Some(NOW + 904), "[{b}] still at the limit");
        // Never below zero; an unknown key is nothing to refund.
        for _ in 0..5 {
            s.refund_attempt("user:ref", 3).await.unwrap();
        }
        assert_eq!(count(NOW + 6).await.unwrap(), throttle(1, None), "[{b}] floored at zero");
        s.refund_attempt("never-counted", 3).await.unwrap_or_else(|e| panic!("[{b}] refunding an unknown key: {e}"));
        assert_eq!(s.blocked_until(&["never-counted"], NOW).await.unwrap(), None, "[{b}]");
    }
}

/// The login throttle counts every attempt before its password check: 40 at once, each
/// gets its own count, so exactly the limit are permitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attempts_each_get_their_own_count() {
    for ts in test_stores().await {
        let b = ts.name();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let s = ts.store.clone();
            set.spawn(async move { s.record_failure("user:par", NOW, 900, 10, 900).await.unwrap() });
        }
        let states = set.join_all().await;
        let mut counts: Vec<i64> = states.iter().map(|t| t.failures).collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=40).collect::<Vec<_>>(), "[{b}] every attempt counted once");
        assert_eq!(states.iter().filter(|t| t.permits(10, NOW)).count(), 10, "[{b}] the limit, and no more, permitted");
    }
}

#[tokio::test]
async fn blocked_until_is_the_latest_future_block_among_keys() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.record_failure("a", NOW, 600, 1, 100).await.unwrap(), throttle(1, Some(NOW + 100)));
        assert_eq!(s.record_failure("b", NOW, 600, 1, 500).await.unwrap(), throttle(1, Some(NOW + 500)));
        assert_eq!(s.record_failure("c", NOW, 600, 5, 500).await.unwrap(), throttle(1, None));
        assert_eq!(s.record_failure("d", NOW - 1000, 600, 1, 100).await.unwrap(), throttle(1, Some(NOW - 900)));

        assert_eq!(s.blocked_until(&[], NOW).await.unwrap(), None, "[{b}] no keys");
        assert_eq!(
            s.blocked_until(&["a", "b", "c", "d", "unknown"], NOW).await.unwrap(),
            Some(NOW + 500),
            "[{b}] the latest block"
        );
        assert_eq!(s.blocked_until(&["b", "a"], NOW).await.unwrap(), Some(NOW + 500), "[{b}] order does not matter");
        assert_eq!(s.blocked_until(&["a", "c"], NOW).await.unwrap(), Some(NOW + 100), "[{b}] a key without block is ignored");
        assert_eq!(
            s.blocked_until(&["c", "d", "unknown"], NOW).await.unwrap(),
            None,
            "[{b}] expired and missing blocks are ignored"
        );
        assert_eq!(s.blocked_until(&["a", "b"], NOW + 100).await.unwrap(), Some(NOW + 500), "[{b}] a's block has ended");
        assert_eq!(s.blocked_until(&["a", "b"], NOW + 500).await.unwrap(), None, "[{b}] every block has ended");
        s.clear_failures("b").await.unwrap();
        assert_eq!(s.blocked_until(&["a", "b"], NOW).await.unwrap(), Some(NOW + 100), "[{b}] a cleared key no longer blocks");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_failures_on_one_key_are_all_counted() {
    for ts in test_stores().await {
        let b = ts.name();
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let s: Arc<dyn Store> = ts.store.clone();
                tokio::spawn(async move { s.record_failure("ip:203.0.113.7", NOW, 86_400, 10, 300).await })
            })
            .collect();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap().unwrap_or_else(|e| panic!("[{b}] record_failure failed under concurrency: {e}")));
        }
        let counts: BTreeSet<i64> = seen.iter().map(|st| st.failures).collect();
        assert_eq!(counts, (1..=30).collect::<BTreeSet<_>>(), "[{b}] each failure saw its own count, none lost");
        for st in &seen {
            let expected = (st.failures >= 10).then_some(NOW + 300);
            assert_eq!(st.blocked_until, expected, "[{b}] blocked once the count reached max_failures: {st:?}");
        }
        let s = ts.store.as_ref();
        assert_eq!(s.blocked_until(&["ip:203.0.113.7"], NOW).await.unwrap(), Some(NOW + 300), "[{b}] the key is blocked");
        assert_eq!(
            s.record_failure("ip:203.0.113.7", NOW + 1, 86_400, 10, 300).await.unwrap().failures,
            31,
            "[{b}] the stored count was exactly 30"
        );
    }
}

// --- SettingsStore: registry version ----------------------------------------------------

#[tokio::test]
async fn registry_version_starts_at_zero_and_each_bump_adds_one() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        assert_eq!(s.registry_version().await.unwrap(), 0, "[{b}] 0 before the first change");
        assert_eq!(s.bump_registry_version().await.unwrap(), 1, "[{b}] first bump");
        assert_eq!(s.registry_version().await.unwrap(), 1, "[{b}] read back");
        assert_eq!(s.bump_registry_version().await.unwrap(), 2, "[{b}] second bump");
        s.init_setting("unrelated", "x").await.unwrap();
        assert_eq!(s.registry_version().await.unwrap(), 2, "[{b}] other settings do not change it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registry_bumps_each_add_one() {
    for ts in test_stores().await {
        let b = ts.name();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let s: Arc<dyn Store> = ts.store.clone();
                tokio::spawn(async move { s.bump_registry_version().await })
            })
            .collect();
        let mut seen = BTreeSet::new();
        for t in tasks {
            seen.insert(t.await.unwrap().unwrap_or_else(|e| panic!("[{b}] bump_registry_version failed under concurrency: {e}")));
        }
        assert_eq!(seen, (1..=10).collect::<BTreeSet<i64>>(), "[{b}] every bump returned its own new value");
        assert_eq!(ts.store.registry_version().await.unwrap(), 10, "[{b}] ten bumps, version 10");
    }
}
