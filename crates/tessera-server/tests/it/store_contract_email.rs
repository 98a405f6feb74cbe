//! The storage contract of the email outbox and the emailed tickets and codes
//! (`EmailStore`, issue 17), on every store (SQLite always, PostgreSQL when
//! `TESSERA_TEST_POSTGRES_URL` is set).

use std::collections::HashSet;
use std::sync::Arc;

use tessera_core::state::{AccessTokenRecord, Issuance};
use tessera_core::store::Store;
use tessera_core::tickets::{OutboundEmail, Ticket, TicketKind};

use crate::support::test_stores;

const NOW: i64 = 1_700_000_000;

fn message(to: &str) -> OutboundEmail {
    OutboundEmail::new(to, "Subject", "text body".into(), "<p>html body</p>".into(), NOW)
}

fn ticket(hash: &str, kind: TicketKind, expires_at: i64) -> Ticket {
    Ticket {
        ticket_hash: hash.into(),
        kind,
        user_id: Some("auth0|alice".into()),
        email: Some("alice@example.com".into()),
        client_id: Some("client_a".into()),
        code_hash: (kind == TicketKind::Otp).then(|| format!("code-of-{hash}")),
        scope: None,
        created_at: NOW,
        expires_at,
        consumed_at: None,
        attempts: 0,
    }
}

fn issuance(tag: &str) -> Issuance {
    Issuance {
        access_token: AccessTokenRecord {
            jti: format!("at-{tag}"),
            client_id: "client_a".into(),
            family_id: None,
            code_hash: None,
            expires_at: NOW + 3600,
        },
        refresh: None,
    }
}

#[tokio::test]
async fn the_outbox_leases_due_messages_marks_them_sent_and_reschedules_failures() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        let (m1, m2) = (message("a@example.com"), message("b@example.com"));
        let mut later = message("c@example.com");
        later.due_at = NOW + 100;
        for m in [&m1, &m2, &later] {
            s.enqueue_email(m).await.unwrap();
        }
        let claimed = s.claim_due_emails(NOW, NOW + 60, "node-1", 10).await.unwrap();
        let ids: HashSet<_> = claimed.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, HashSet::from([m1.id.clone(), m2.id.clone()]), "[{b}] only the due ones");
        assert_eq!(claimed.iter().find(|m| m.id == m1.id).unwrap().text_body, "text body", "[{b}]");
        // Leased: another node gets nothing until the lease runs out.
        assert!(s.claim_due_emails(NOW + 1, NOW + 61, "node-2", 10).await.unwrap().is_empty(), "[{b}] leased");
        assert!(!s.mark_email_sent(&m1.id, "node-2", NOW + 1).await.unwrap(), "[{b}] not node-2's to mark");
        assert!(s.mark_email_sent(&m1.id, "node-1", NOW + 1).await.unwrap(), "[{b}]");
        let sent = s.get_email(&m1.id).await.unwrap().unwrap();
        assert_eq!((sent.sent_at, sent.text_body.as_str(), sent.html_body.as_str()), (Some(NOW + 1), "", ""), "[{b}] body wiped");
        assert!(s.reschedule_email(&m2.id, "node-1", NOW + 30, "connection refused").await.unwrap(), "[{b}]");
        let failed = s.get_email(&m2.id).await.unwrap().unwrap();
        assert_eq!((failed.attempts, failed.due_at, failed.last_error.as_deref()), (1, NOW + 30, Some("connection refused")));
        assert!(s.claim_due_emails(NOW + 29, NOW + 89, "node-2", 10).await.unwrap().is_empty(), "[{b}] not due yet");
        let again = s.claim_due_emails(NOW + 30, NOW + 90, "node-2", 10).await.unwrap();
        assert_eq!(again.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![m2.id.clone()], "[{b}] retried");
        // A lease that ran out (its node died) is claimable again; the sent one never is.
        let taken = s.claim_due_emails(NOW + 200, NOW + 260, "node-3", 10).await.unwrap();
        let ids: HashSet<_> = taken.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, HashSet::from([m2.id.clone(), later.id.clone()]), "[{b}]");
        assert!(!s.reschedule_email(&m2.id, "node-2", NOW + 300, "x").await.unwrap(), "[{b}] the old lease is void");
        assert_eq!(s.purge_email_state(NOW + 2).await.unwrap(), 1, "[{b}] the sent message is purged");
        assert!(s.get_email(&m1.id).await.unwrap().is_none(), "[{b}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_hand_each_message_to_one_node() {
    for ts in test_stores().await {
        let b = ts.name();
        for i in 0..30 {
            ts.store.enqueue_email(&message(&format!("u{i}@example.com"))).await.unwrap();
        }
        let tasks: Vec<_> = (0..6)
            .map(|n| {
                let s: Arc<dyn Store> = ts.store.clone();
                tokio::spawn(async move { s.claim_due_emails(NOW, NOW + 60, &format!("node-{n}"), 10).await })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(
                t.await.unwrap().unwrap_or_else(|e| panic!("[{b}] claim under concurrency: {e}")).into_iter().map(|m| m.id),
            );
        }
        let distinct: HashSet<_> = all.iter().cloned().collect();
        assert_eq!(all.len(), distinct.len(), "[{b}] no message claimed twice");
        assert_eq!(distinct.len(), 30, "[{b}] every message claimed");
    }
}

#[tokio::test]
async fn a_ticket_is_consumed_once_before_it_expires_and_only_as_its_kind() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        s.put_ticket(&ticket("t-reset", TicketKind::PasswordReset, NOW + 3600)).await.unwrap();
        s.put_ticket(&ticket("t-old", TicketKind::PasswordReset, NOW + 10)).await.unwrap();
        assert!(s.consume_ticket("t-reset", TicketKind::EmailVerification, NOW).await.unwrap().is_none(), "[{b}] kind");
        let got = s.consume_ticket("t-reset", TicketKind::PasswordReset, NOW + 1).await.unwrap().unwrap();
        assert_eq!((got.user_id.as_deref(), got.consumed_at), (Some("auth0|alice"), Some(NOW + 1)), "[{b}]");
        assert!(s.consume_ticket("t-reset", TicketKind::PasswordReset, NOW + 2).await.unwrap().is_none(), "[{b}] once");
        assert!(s.consume_ticket("t-old", TicketKind::PasswordReset, NOW + 10).await.unwrap().is_none(), "[{b}] expired");
        assert!(s.get_ticket("t-old").await.unwrap().unwrap().consumed_at.is_none(), "[{b}] nothing written");
        assert!(s.consume_ticket("t-none", TicketKind::PasswordReset, NOW).await.unwrap().is_none(), "[{b}]");
        assert_eq!(s.purge_email_state(NOW + 3601).await.unwrap(), 2, "[{b}] expired tickets purged");
    }
}

#[tokio::test]
async fn a_code_counts_its_attempts_is_redeemed_once_and_a_new_one_replaces_it() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        s.put_ticket(&ticket("otp-a", TicketKind::Otp, NOW + 300)).await.unwrap();
        for n in 1..=3 {
            let counted = s.count_otp_attempt("otp-a", 3, NOW).await.unwrap().unwrap();
            assert_eq!(counted.attempts, n, "[{b}]");
        }
        assert!(s.count_otp_attempt("otp-a", 3, NOW).await.unwrap().is_none(), "[{b}] attempts used up");
        assert_eq!(s.get_ticket("otp-a").await.unwrap().unwrap().attempts, 3, "[{b}] not counted past the limit");
        // A new code for the same address replaces the old one and starts again.
        s.put_ticket(&ticket("otp-a", TicketKind::Otp, NOW + 400)).await.unwrap();
        assert_eq!(s.count_otp_attempt("otp-a", 3, NOW).await.unwrap().unwrap().attempts, 1, "[{b}] fresh");
        assert!(!s.redeem_otp("otp-a", "wrong-code", NOW, &issuance("w")).await.unwrap(), "[{b}] wrong hash");
        assert!(s.redeem_otp("otp-a", "code-of-otp-a", NOW + 1, &issuance("r")).await.unwrap(), "[{b}]");
        assert!(!s.redeem_otp("otp-a", "code-of-otp-a", NOW + 2, &issuance("r2")).await.unwrap(), "[{b}] once");
        assert!(s.count_otp_attempt("otp-a", 3, NOW + 2).await.unwrap().is_none(), "[{b}] a used code counts no more");
        assert!(!s.is_access_token_revoked("at-r").await.unwrap(), "[{b}]");
        s.put_ticket(&ticket("otp-x", TicketKind::Otp, NOW + 10)).await.unwrap();
        assert!(s.count_otp_attempt("otp-x", 3, NOW + 10).await.unwrap().is_none(), "[{b}] expired");
        assert!(!s.redeem_otp("otp-x", "code-of-otp-x", NOW + 10, &issuance("x")).await.unwrap(), "[{b}] expired");
    }
}

#[tokio::test]
async fn a_magic_link_code_is_consumed_once_only_while_it_is_the_live_one() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.as_ref());
        s.put_ticket(&ticket("link-a", TicketKind::Otp, NOW + 300)).await.unwrap();
        assert!(!s.consume_otp("link-a", "wrong-code", NOW).await.unwrap(), "[{b}] wrong hash");
        assert!(!s.consume_otp("link-b", "code-of-link-a", NOW).await.unwrap(), "[{b}] another address");
        assert!(s.consume_otp("link-a", "code-of-link-a", NOW + 1).await.unwrap(), "[{b}]");
        assert!(!s.consume_otp("link-a", "code-of-link-a", NOW + 2).await.unwrap(), "[{b}] once");
        assert_eq!(s.get_ticket("link-a").await.unwrap().unwrap().consumed_at, Some(NOW + 1), "[{b}]");
        // A newer code replaces the row: the old code's hash no longer consumes it.
        let mut newer = ticket("link-c", TicketKind::Otp, NOW + 300);
        s.put_ticket(&newer).await.unwrap();
        newer.code_hash = Some("a newer code".into());
        s.put_ticket(&newer).await.unwrap();
        assert!(!s.consume_otp("link-c", "code-of-link-c", NOW).await.unwrap(), "[{b}] replaced");
        assert!(s.consume_otp("link-c", "a newer code", NOW).await.unwrap(), "[{b}] the newer one");
        s.put_ticket(&ticket("link-x", TicketKind::Otp, NOW + 10)).await.unwrap();
        assert!(!s.consume_otp("link-x", "code-of-link-x", NOW + 10).await.unwrap(), "[{b}] expired");
    }
}
