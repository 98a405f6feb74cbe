//! Two nodes, one database (issue 19, fault test 1): one authorization code redeemed 20
//! times at once across both nodes gives exactly one 200 and `invalid_grant` for the rest;
//! one refresh token rotated 20 times at once gives the same successor to every 200 (inside
//! the reuse interval) or `invalid_grant`, and one live family. Never a 5xx.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::faults_support::*;
use crate::support::{postgres_admin_url, Backend};
use crate::support_live::LiveServer;

const CALLBACK: &str = "https://app.faults.example/callback";
const PASSWORD: &str = "the right passphrase";

/// `requests` token requests at once, alternating between the nodes.
async fn at_once(nodes: [&LiveServer; 2], forms: Vec<Vec<(&'static str, String)>>) -> Vec<(u16, Value)> {
    let http = http();
    let mut set = tokio::task::JoinSet::new();
    for (i, form) in forms.into_iter().enumerate() {
        let (http, url) = (http.clone(), nodes[i % 2].url("/oauth/token"));
        set.spawn(async move {
            let r = http.post(url).form(&form).send().await.expect("an answer");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or_default())
        });
    }
    set.join_all().await
}

/// Logs in on `node` through the hosted login page; the code from the callback.
async fn login(node: &LiveServer, client_id: &str) -> String {
    let extra = [("scope", "openid offline_access read:x"), ("audience", API)];
    let (browser, txn, csrf) = open_login(node, client_id, CALLBACK, &extra).await;
    let form = [("txn", txn.as_str()), ("csrf", csrf.as_str()), ("username", "dave@example.com"), ("password", PASSWORD)];
    let r = browser.post(node.url("/u/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = crate::support_web::location(&r);
    crate::support_web::query_of(&to).remove("code").unwrap_or_else(|| panic!("no code in {to}"))
}

fn exactly_one_200_and_invalid_grant(answers: &[(u16, Value)], what: &str) -> Value {
    assert!(answers.iter().all(|(s, _)| *s < 500), "{what}: a 5xx: {answers:?}");
    let ok: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    assert_eq!(ok.len(), 1, "{what}: {answers:?}");
    for (s, b) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*s, b["error"].as_str()), (400, Some("invalid_grant")), "{what}: {b}");
    }
    ok[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_and_one_refresh_token_used_twenty_times_at_once_across_two_nodes() {
    if postgres_admin_url().is_none() {
        return;
    }
    let a = LiveServer::start_with(Backend::Postgres, &node_options()).await;
    let b = a.start_peer(&node_options()).await;
    let cli = a.cli();
    let (id, secret) = seed_rotating_web(&cli, CALLBACK, "30", PASSWORD);

    let redeem = |code: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", CALLBACK.to_string()),
            ("client_id", id.clone()),
            ("client_secret", secret.clone()),
        ]
    };
    let code = login(&a, &id).await;
    let tokens =
        exactly_one_200_and_invalid_grant(&at_once([&a, &b], (0..20).map(|_| redeem(&code)).collect()).await, "the code");
    let replayed = tokens["refresh_token"].as_str().expect("a refresh token").to_string();

    let rotate = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", rt.to_string()),
            ("client_id", id.clone()),
            ("client_secret", secret.clone()),
        ]
    };
    // RFC 6749 §4.1.2: a code used more than once revokes what it was exchanged for.
    let answers = at_once([&a, &b], vec![rotate(&replayed)]).await;
    assert_eq!((answers[0].0, answers[0].1["error"].as_str()), (400, Some("invalid_grant")), "{answers:?}");

    let code = login(&b, &id).await;
    let tokens = exactly_one_200_and_invalid_grant(&at_once([&b, &a], vec![redeem(&code)]).await, "a fresh code");
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token").to_string();
    let answers = at_once([&a, &b], (0..20).map(|_| rotate(&refresh)).collect()).await;
    assert!(answers.iter().all(|(s, _)| *s < 500), "a 5xx: {answers:?}");
    let successors: BTreeSet<&str> =
        answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b["refresh_token"].as_str().expect("a successor")).collect();
    assert_eq!(successors.len(), 1, "every 200 carries the same successor: {answers:?}");
    for (s, b) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*s, b["error"].as_str()), (400, Some("invalid_grant")), "{b}");
    }
    // One live family: the successor rotates once more, on either node.
    let successor = successors.into_iter().next().unwrap().to_string();
    let next = exactly_one_200_and_invalid_grant(&at_once([&b, &a], vec![rotate(&successor)]).await, "the successor");
    assert!(next["refresh_token"].is_string());
}
