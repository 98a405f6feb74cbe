//! The storage contract for background purging (issue 19, `store::housekeeping`), on every
//! store: for each table, exactly the rows no request can use any more go (expired, spent,
//! ended, revoked, or a counter whose window passed) and every other row stays; batches are
//! bounded; the lease goes to one holder at a time.

use tessera_server::store::db::query;
use tessera_server::store::housekeeping::Purge;
use tessera_server::store::SqlStore;

use crate::support::test_stores;

/// The cut-off every purge below is given.
const CUT: i64 = 1_700_000_000;

async fn exec(sql: &SqlStore, statement: &str) {
    sql.db().execute(query(statement.to_string())).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
}

async fn keys(sql: &SqlStore, table: &str, key: &str) -> Vec<String> {
    let rows = sql.db().fetch_all(query(format!("SELECT {key} AS k FROM {table} ORDER BY {key}"))).await.unwrap();
    rows.iter().map(|r| r.get::<String>("k").unwrap()).collect()
}

fn code(hash: &str, expires_at: i64, consumed: &str) -> String {
    format!(
        "INSERT INTO authorization_codes (code_hash, client_id, user_id, scope, auth_time, created_at, expires_at, consumed_at) \
         VALUES ('{hash}', 'c', 'u', 'openid', 0, 0, {expires_at}, {consumed})"
    )
}

fn family(id: &str, absolute: i64, revoked: &str, created: i64) -> String {
    format!(
        "INSERT INTO refresh_families (family_id, client_id, user_id, scope, auth_time, created_at, absolute_expires_at, revoked_at) \
         VALUES ('{id}', 'c', 'u', 'openid', 0, {created}, {absolute}, {revoked})"
    )
}

fn refresh(hash: &str, family: &str, idle: i64, superseded: &str) -> String {
    format!(
        "INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at, idle_expires_at, superseded_at) \
         VALUES ('{hash}', '{family}', 0, 0, {idle}, {superseded})"
    )
}

fn session(hash: &str, idle: i64, absolute: i64, ended: &str) -> String {
    format!(
        "INSERT INTO sessions (session_hash, sid, user_id, auth_time, created_at, last_seen_at, idle_expires_at, absolute_expires_at, ended_at) \
         VALUES ('{hash}', 'sid-{hash}', 'u', 0, 0, 0, {idle}, {absolute}, {ended})"
    )
}

#[tokio::test]
async fn each_table_loses_exactly_the_rows_no_request_can_use() {
    let (before, after) = (CUT - 1, CUT + 1);
    for ts in test_stores().await {
        let b = ts.name();
        let sql = tessera_server::store::connect(&ts.data.database_url()).await.expect("second connection");
        // Codes: expired (redeemed or not) go; one still redeemable stays.
        for s in [code("gone-unused", before, "NULL"), code("gone-redeemed", before, "1"), code("kept", after, "NULL")] {
            exec(&sql, &s).await;
        }
        // Access tokens: expired go, revoked-but-unexpired stay (introspection answers them).
        for s in [
            format!("INSERT INTO access_tokens (jti, client_id, expires_at) VALUES ('gone', 'c', {before})"),
            format!(
                "INSERT INTO access_tokens (jti, client_id, expires_at, revoked_at) VALUES ('kept-revoked', 'c', {after}, 1)"
            ),
        ] {
            exec(&sql, &s).await;
        }
        // Refresh families and their tokens.
        for s in [
            family("live", after, "NULL", 0),
            // A spent token still within its idle lifetime is kept: presenting it again is reuse.
            refresh("live-spent-recent", "live", after, "1"),
            refresh("live-spent-idle", "live", before, "1"),
            refresh("live-current", "live", after, "NULL"),
            family("expired", before, "NULL", 0),
            refresh("expired-current", "expired", after, "NULL"),
            family("revoked", after, &before.to_string(), 0),
            refresh("revoked-current", "revoked", after, "NULL"),
            family("revoked-recently", after, &after.to_string(), 0),
            refresh("revoked-recently-current", "revoked-recently", after, "NULL"),
            // Every token went idle: the family has nothing left to refresh with.
            family("idle", after, "NULL", 0),
            refresh("idle-current", "idle", before, "NULL"),
            // Created after the cut-off and not yet given a token: kept.
            family("new", after, "NULL", after),
        ] {
            exec(&sql, &s).await;
        }
        for s in [
            session("gone-idle", before, after, "NULL"),
            session("gone-absolute", after, before, "NULL"),
            session("gone-ended", after, after, &before.to_string()),
            session("kept", after, after, "NULL"),
            session("kept-ended-recently", after, after, &after.to_string()),
        ] {
            exec(&sql, &s).await;
        }
        for (hash, exp) in [("gone", before), ("kept", after)] {
            exec(
                &sql,
                &format!(
                    "INSERT INTO login_transactions (txn_hash, client_id, request, csrf, created_at, expires_at) \
                     VALUES ('{hash}', 'c', '{{}}', 'x', 0, {exp})"
                ),
            )
            .await;
        }
        for (key, window, blocked) in [
            ("gone", before, "NULL".to_string()),
            ("gone-block-over", before, before.to_string()),
            ("kept-window", after, "NULL".to_string()),
            ("kept-blocked", before, after.to_string()),
        ] {
            exec(
                &sql,
                &format!(
                    "INSERT INTO login_throttle (key, failures, window_start, blocked_until) VALUES ('{key}', 3, {window}, {blocked})"
                ),
            )
            .await;
        }
        for (ns, jti, exp) in [("dpop", "gone", before), ("dpop", "kept", after), ("client_assertion", "gone", after)] {
            exec(&sql, &format!("INSERT INTO replay_cache (namespace, jti, expires_at) VALUES ('{ns}', '{jti}', {exp})")).await;
        }
        for (hash, exp) in [("gone", before), ("kept", after)] {
            exec(
                &sql,
                &format!(
                    "INSERT INTO pushed_requests (request_uri_hash, client_id, request, created_at, expires_at) \
                     VALUES ('{hash}', 'c', '{{}}', 0, {exp})"
                ),
            )
            .await;
            exec(
                &sql,
                &format!(
                    "INSERT INTO device_codes (device_code_hash, user_code_hash, client_id, scope, status, poll_interval, created_at, expires_at) \
                     VALUES ('{hash}', 'uc-{hash}', 'c', 'openid', 'pending', 5, 0, {exp})"
                ),
            )
            .await;
        }
        for at in [before, CUT, after] {
            exec(&sql, &format!("INSERT INTO audit_events (at, kind, detail) VALUES ({at}, 'login_failed', '{{}}')")).await;
        }

        let mut purged = Vec::new();
        for what in Purge::ALL {
            purged.push((what.table(), sql.purge_batch(what, CUT, 1000).await.unwrap()));
        }
        assert_eq!(
            purged,
            [
                ("authorization_codes", 2),
                ("access_tokens", 1),
                ("refresh_tokens", 4),
                ("refresh_families", 3),
                ("sessions", 3),
                ("login_transactions", 1),
                ("login_throttle", 2),
                ("replay_cache", 1),
                ("pushed_requests", 1),
                ("device_codes", 1),
                ("audit_events", 1),
            ],
            "[{b}] rows purged per table, in pass order"
        );
        assert_eq!(keys(&sql, "authorization_codes", "code_hash").await, ["kept"], "[{b}]");
        assert_eq!(keys(&sql, "access_tokens", "jti").await, ["kept-revoked"], "[{b}]");
        assert_eq!(
            keys(&sql, "refresh_tokens", "token_hash").await,
            ["live-current", "live-spent-recent", "revoked-recently-current"],
            "[{b}]"
        );
        assert_eq!(keys(&sql, "refresh_families", "family_id").await, ["live", "new", "revoked-recently"], "[{b}]");
        assert_eq!(keys(&sql, "sessions", "session_hash").await, ["kept", "kept-ended-recently"], "[{b}]");
        assert_eq!(keys(&sql, "login_transactions", "txn_hash").await, ["kept"], "[{b}]");
        assert_eq!(keys(&sql, "login_throttle", "key").await, ["kept-blocked", "kept-window"], "[{b}]");
        assert_eq!(keys(&sql, "replay_cache", "namespace || '/' || jti").await, ["client_assertion/gone", "dpop/kept"], "[{b}]");
        assert_eq!(keys(&sql, "pushed_requests", "request_uri_hash").await, ["kept"], "[{b}]");
        assert_eq!(keys(&sql, "device_codes", "device_code_hash").await, ["kept"], "[{b}]");
        assert_eq!(keys(&sql, "audit_events", "CAST(at AS TEXT)").await, [CUT.to_string(), after.to_string()], "[{b}]");
        // A second pass finds nothing more.
        for what in Purge::ALL {
            assert_eq!(sql.purge_batch(what, CUT, 1000).await.unwrap(), 0, "[{b}] {} again", what.table());
        }
        sql.close().await;
    }
}

#[tokio::test]
async fn batches_are_bounded() {
    for ts in test_stores().await {
        let b = ts.name();
        let sql = tessera_server::store::connect(&ts.data.database_url()).await.expect("second connection");
        for i in 0..5 {
            exec(&sql, &code(&format!("c{i}"), CUT - 1, "NULL")).await;
        }
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(sql.purge_batch(Purge::AuthorizationCodes, CUT, 2).await.unwrap());
        }
        assert_eq!(got, [2, 2, 1, 0], "[{b}]");
        sql.close().await;
    }
}

#[tokio::test]
async fn the_lease_goes_to_one_holder_until_it_expires() {
    for ts in test_stores().await {
        let b = ts.name();
        let sql = tessera_server::store::connect(&ts.data.database_url()).await.expect("second connection");
        assert!(sql.claim_lease("purge", "node-a", CUT, CUT + 60).await.unwrap(), "[{b}] free: taken");
        assert!(!sql.claim_lease("purge", "node-b", CUT + 30, CUT + 90).await.unwrap(), "[{b}] held by another");
        assert!(sql.claim_lease("purge", "node-a", CUT + 30, CUT + 90).await.unwrap(), "[{b}] renewed by its holder");
        assert!(!sql.claim_lease("purge", "node-b", CUT + 89, CUT + 150).await.unwrap(), "[{b}] renewal counted");
        assert!(sql.claim_lease("purge", "node-b", CUT + 90, CUT + 150).await.unwrap(), "[{b}] expired: taken over");
        assert!(!sql.claim_lease("purge", "node-a", CUT + 100, CUT + 160).await.unwrap(), "[{b}] the old holder lost it");
        assert!(sql.claim_lease("other", "node-a", CUT + 100, CUT + 160).await.unwrap(), "[{b}] leases are independent");
        // Of several asking at once, exactly one gets it.
        let mut asks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let sql = sql.clone();
            asks.spawn(async move { sql.claim_lease("race", &format!("node-{i}"), CUT, CUT + 60).await.unwrap() });
        }
        let won = asks.join_all().await.into_iter().filter(|w| *w).count();
        assert_eq!(won, 1, "[{b}] one winner of eight");
        sql.close().await;
    }
}
