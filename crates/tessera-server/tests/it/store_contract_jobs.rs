//! The storage contract for Management API jobs and imported password hashes (issue 18):
//! one claim per job however many nodes ask, take-over after the lease, import batches
//! that commit users, errors and progress together only under the claim, and the
//! conditional hash upgrade. Every store (SQLite always, PostgreSQL when
//! `TESSERA_TEST_POSTGRES_URL` is set).

use serde_json::json;
use tessera_core::model::{Job, JobKind, JobStatus, JobSummary, UserPatch};
use tessera_core::store::{ImportBatch, ImportRow};
use tessera_core::users_import;

use crate::support::test_stores;

const NOW: i64 = 1_700_000_000;

fn import_job(id: &str, at: i64) -> Job {
    Job::new(id.into(), JobKind::UsersImport, "con_x", json!({"upsert": false}), Some("[]".into()), at)
}

fn row(seq: i64, v: serde_json::Value) -> ImportRow {
    let user = users_import::validate(&v, || format!("auth0|gen{seq}"), NOW).unwrap();
    ImportRow { seq, user, conflict: json!({"user": v, "errors": [{"code": "DUPLICATED_USER"}]}) }
}

#[tokio::test]
async fn jobs_are_claimed_once_taken_over_after_the_lease_and_finished_by_their_claim() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.clone());
        assert_eq!(s.get_job("job_a").await.unwrap(), None, "[{b}]");
        assert_eq!(s.claim_job("c0", NOW, NOW + 60).await.unwrap(), None, "[{b}] nothing to claim");
        let a = import_job("job_a", NOW);
        let export = Job::new("job_b".into(), JobKind::UsersExport, "con_x", json!({"format": "csv"}), None, NOW + 1);
        s.insert_job(&a).await.unwrap();
        s.insert_job(&export).await.unwrap();
        assert_eq!(s.get_job("job_a").await.unwrap().as_ref(), Some(&a), "[{b}] round trip");

        // Ten concurrent claimers: the two jobs go to exactly two of them, oldest first.
        let mut set = tokio::task::JoinSet::new();
        for i in 0..10 {
            let s = s.clone();
            set.spawn(async move { (format!("c{i}"), s.claim_job(&format!("c{i}"), NOW + 5, NOW + 65).await.unwrap()) });
        }
        let mut won: Vec<(String, String)> = set.join_all().await.into_iter().filter_map(|(c, j)| j.map(|j| (j.id, c))).collect();
        won.sort();
        let ids: Vec<&str> = won.iter().map(|(id, _)| id.as_str()).collect();
        // Concurrent claimers may find nothing while another holds the row; claim again.
        let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        while ids.len() < 2 {
            let j = s.claim_job("late", NOW + 5, NOW + 65).await.unwrap().expect("a job left to claim");
            won.push((j.id.clone(), "late".into()));
            ids.push(j.id);
        }
        ids.sort();
        assert_eq!(ids, ["job_a", "job_b"], "[{b}] each job claimed once");
        assert_eq!(s.claim_job("c99", NOW + 6, NOW + 66).await.unwrap(), None, "[{b}] both are held");
        let claim_a = won.iter().find(|(id, _)| id == "job_a").unwrap().1.clone();
        let got = s.get_job("job_a").await.unwrap().unwrap();
        assert_eq!((got.status, got.updated_at), (JobStatus::Processing, NOW + 5), "[{b}]");

        // The lease runs out: another node takes the job over, and the first claim is dead.
        let taken = s.claim_job("c-new", NOW + 65, NOW + 125).await.unwrap().expect("taken over");
        assert_eq!(taken.id, "job_a", "[{b}] the older job first");
        let batch =
            ImportBatch { upsert: false, cursor: 1, rows: vec![row(0, json!({"email": "stale@example.com"}))], invalid: vec![] };
        assert!(
            !s.import_batch("job_a", &claim_a, &batch, NOW + 66, NOW + 126).await.unwrap(),
            "[{b}] a lost claim writes nothing"
        );
        assert_eq!(s.find_user_by_login("stale@example.com").await.unwrap(), None, "[{b}] not even the user");
        assert!(!s.finish_job("job_a", &claim_a, JobStatus::Completed, None, None, NOW + 66).await.unwrap(), "[{b}]");
        assert!(s.finish_job("job_a", "c-new", JobStatus::Failed, None, Some("unreadable"), NOW + 70).await.unwrap(), "[{b}]");
        let failed = s.get_job("job_a").await.unwrap().unwrap();
        assert_eq!(
            (failed.status, failed.failure.as_deref(), failed.input),
            (JobStatus::Failed, Some("unreadable"), None),
            "[{b}]"
        );
        assert!(!s.finish_job("job_a", "c-new", JobStatus::Completed, None, None, NOW + 71).await.unwrap(), "[{b}] ends once");
        assert_eq!(
            s.claim_job("c100", NOW + 1000, NOW + 1060).await.unwrap().map(|j| j.id),
            Some("job_b".into()),
            "[{b}] b's lease ran out too"
        );
        assert!(s.finish_job("job_b", "c100", JobStatus::Completed, Some("email\r\n"), None, NOW + 1001).await.unwrap(), "[{b}]");
        assert_eq!(s.get_job("job_b").await.unwrap().unwrap().result.as_deref(), Some("email\r\n"), "[{b}]");
        assert_eq!(s.claim_job("c101", NOW + 5000, NOW + 5060).await.unwrap(), None, "[{b}] ended jobs are not claimed");
    }
}

#[tokio::test]
async fn an_import_batch_commits_users_errors_and_progress_together() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.clone());
        s.insert_job(&import_job("job_i", NOW)).await.unwrap();
        let claim = "claim-i";
        s.claim_job(claim, NOW, NOW + 60).await.unwrap().unwrap();
        let batch = ImportBatch {
            upsert: false,
            cursor: 3,
            rows: vec![
                row(0, json!({"email": "one@example.com", "user_metadata": {"a": 1}})),
                row(2, json!({"email": "one@example.com", "name": "again"})),
            ],
            invalid: vec![(1, json!({"user": {}, "errors": [{"code": "OBJECT_MISSING_REQUIRED_PROPERTY"}]}))],
        };
        assert!(s.import_batch("job_i", claim, &batch, NOW + 1, NOW + 61).await.unwrap(), "[{b}]");
        let one = s.find_user_by_login("one@example.com").await.unwrap().expect("inserted");
        assert_eq!((one.user_id.as_str(), one.name.as_deref()), ("auth0|gen0", Some("one@example.com")), "[{b}]");
        assert_eq!(s.get_user_metadata("auth0|gen0").await.unwrap(), Some((json!({"a": 1}), json!({}))), "[{b}]");
        let job = s.get_job("job_i").await.unwrap().unwrap();
        assert_eq!((job.cursor, job.summary), (3, JobSummary { inserted: 1, updated: 0, failed: 2, total: 3 }), "[{b}]");
        let errors = s.job_errors("job_i").await.unwrap();
        assert_eq!(
            errors.iter().map(|e| e["errors"][0]["code"].clone()).collect::<Vec<_>>(),
            [json!("OBJECT_MISSING_REQUIRED_PROPERTY"), json!("DUPLICATED_USER")],
            "[{b}] in file order"
        );

        // With upsert: the existing user changes in the fields given only; a username held by
        // another user is a conflict, not an aborted batch.
        s.insert_user(
            &tessera_core::model::User::create(
                "auth0|other".into(),
                UserPatch { email: Some("o@example.com".into()), username: Some("taken".into()), ..Default::default() },
                NOW,
            )
            .unwrap(),
        )
        .await
        .unwrap();
        let batch = ImportBatch {
            upsert: true,
            cursor: 5,
            rows: vec![
                row(3, json!({"email": "one@example.com", "given_name": "Uno", "blocked": true, "app_metadata": {"r": 2}})),
                row(4, json!({"email": "one@example.com", "username": "taken"})),
            ],
            invalid: vec![],
        };
        assert!(s.import_batch("job_i", claim, &batch, NOW + 2, NOW + 62).await.unwrap(), "[{b}]");
        let one = s.find_user_by_login("one@example.com").await.unwrap().unwrap();
        assert_eq!(
            (one.given_name.as_deref(), one.name.as_deref(), one.blocked, one.username),
            (Some("Uno"), Some("one@example.com"), true, None),
            "[{b}]"
        );
        assert_eq!(
            s.get_user_metadata("auth0|gen0").await.unwrap(),
            Some((json!({"a": 1}), json!({"r": 2}))),
            "[{b}] user_metadata kept"
        );
        let job = s.get_job("job_i").await.unwrap().unwrap();
        assert_eq!((job.cursor, job.summary), (5, JobSummary { inserted: 1, updated: 1, failed: 3, total: 5 }), "[{b}]");
        assert_eq!(s.job_errors("job_i").await.unwrap().len(), 3, "[{b}]");
        assert_eq!(s.job_errors("job_none").await.unwrap(), Vec::<serde_json::Value>::new(), "[{b}]");
    }
}

#[tokio::test]
async fn an_imported_hash_is_replaced_only_while_it_is_still_the_stored_one() {
    for ts in test_stores().await {
        let (b, s) = (ts.name(), ts.store.clone());
        let mut u = tessera_core::model::User::create(
            "auth0|h".into(),
            UserPatch { email: Some("h@example.com".into()), ..Default::default() },
            NOW,
        )
        .unwrap();
        u.password_hash = Some("imported:{\"algorithm\":\"bcrypt\",\"value\":\"x\"}".into());
        s.insert_user(&u).await.unwrap();
        let old = u.password_hash.clone().unwrap();
        assert!(!s.replace_password_hash("auth0|h", "something else", "$argon2id$new", NOW + 1).await.unwrap(), "[{b}]");
        assert!(s.replace_password_hash("auth0|h", &old, "$argon2id$new", NOW + 2).await.unwrap(), "[{b}]");
        let got = s.get_user("auth0|h").await.unwrap().unwrap();
        assert_eq!((got.password_hash.as_deref(), got.updated_at), (Some("$argon2id$new"), NOW + 2), "[{b}]");
        assert!(
            !s.replace_password_hash("auth0|h", &old, "$argon2id$other", NOW + 3).await.unwrap(),
            "[{b}] the old hash is gone"
        );
        assert!(!s.replace_password_hash("auth0|nobody", &old, "$argon2id$x", NOW).await.unwrap(), "[{b}]");
    }
}
