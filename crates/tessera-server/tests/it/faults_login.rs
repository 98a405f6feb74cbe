//! The login throttle under parallel attempts across two nodes (issue 19, defect 3): two
//! `tessera serve` processes on one PostgreSQL database, 40 login attempts at once spread
//! over both. At most the limit (10) have their password checked, and the right password
//! sent after the limit was reached does not log in.

use tessera_core::store::AuditStore;

use crate::faults_support::*;
use crate::support::{postgres_admin_url, Backend};
use crate::support_live::LiveServer;

const CALLBACK: &str = "https://app.faults.example/callback";
const PASSWORD: &str = "the right passphrase";
const LIMIT: usize = 10;

/// Sends `passwords` at once, alternating between the nodes; returns each (password,
/// status, Location).
async fn burst(nodes: [&LiveServer; 2], client_id: &str, login: &str, passwords: Vec<String>) -> Vec<(String, u16, String)> {
    let (browser, txn, csrf) = open_login(nodes[0], client_id, CALLBACK, &[]).await;
    let mut set = tokio::task::JoinSet::new();
    for (i, password) in passwords.into_iter().enumerate() {
        let url = nodes[i % 2].url("/u/login");
        let form =
            [("txn", txn.clone()), ("csrf", csrf.clone()), ("username", login.to_string()), ("password", password.clone())];
        let browser = browser.clone();
        set.spawn(async move {
            let r = browser.post(url).form(&form).send().await.expect("login POST");
            let to = r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            (password, r.status().as_u16(), to)
        });
    }
    set.join_all().await
}

/// Password checks the audit log shows for `login`: (wrong passwords checked, logins).
async fn checks(node: &LiveServer, login: &str) -> (usize, usize) {
    let store = tessera_server::store::connect(&node.data.database_url()).await.unwrap();
    let events = store.list_audit(10_000).await.unwrap();
    store.close().await;
    let of = |kind: &str, reason: Option<&str>| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.detail["login"] == login)
            .filter(|e| reason.is_none_or(|r| e.detail["reason"] == r))
            .count()
    };
    let succeeded = events.iter().filter(|e| e.kind == "login_succeeded").filter(|e| e.user_id.is_some()).count();
    (of("login_failed", Some("wrong_credentials")), succeeded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_parallel_attempts_across_two_nodes_get_at_most_the_limit_of_password_checks() {
    if postgres_admin_url().is_none() {
        return;
    }
    let a = LiveServer::start_with(Backend::Postgres, &node_options()).await;
    let b = a.start_peer(&node_options()).await;
    let cli = a.cli();
    let web = cli.run(&["clients", "create", "--name", "Web", "--callback", CALLBACK, "--json"]).json();
    let client_id = web["client_id"].as_str().unwrap().to_string();
    for email in ["bob@example.com", "carol@example.com"] {
        cli.run_with_stdin(&["users", "create", "--email", email, "--password-stdin", "--json"], Some(PASSWORD)).ok();
    }

    // 39 wrong passwords and then the right one, all at once: whatever the interleaving,
    // no more than the limit of wrong passwords is checked, and at most one attempt logs in.
    let mut passwords: Vec<String> = (0..39).map(|i| format!("wrong {i}")).collect();
    passwords.push(PASSWORD.into());
    let answers = burst([&a, &b], &client_id, "bob@example.com", passwords).await;
    assert!(answers.iter().all(|(_, s, _)| matches!(s, 303 | 429)), "only 303 and 429: {answers:?}");
    let (wrong_checked, logins) = checks(&a, "bob@example.com").await;
    assert!(wrong_checked <= LIMIT, "{wrong_checked} wrong passwords checked, limit {LIMIT}");
    // A wrong password goes back to the form; a login goes on (to the client or consent).
    let logged_in = answers.iter().filter(|(_, s, to)| *s == 303 && !to.contains("error=credentials")).count();
    assert_eq!(logged_in, logins, "every login the audit log shows was answered as one");
    assert!(logged_in <= 1);
    // The attempt that reaches the limit is checked and answered 429 like the refused ones.
    let back_to_form = answers.iter().filter(|(_, s, to)| *s == 303 && to.contains("error=credentials")).count();
    assert!(back_to_form < LIMIT, "{back_to_form} wrong passwords went back to the form: {answers:?}");

    // 39 wrong passwords at once, then the right one: exactly the limit are checked, and the
    // right password after them is refused.
    let answers = burst([&a, &b], &client_id, "carol@example.com", (0..39).map(|i| format!("wrong {i}")).collect()).await;
    assert_eq!(answers.iter().filter(|(_, s, _)| *s == 429).count(), 39 - (LIMIT - 1), "{answers:?}");
    let (wrong_checked, _) = checks(&a, "carol@example.com").await;
    assert_eq!(wrong_checked, LIMIT, "exactly the limit of wrong passwords checked");
    for node in [&a, &b] {
        let answers = burst([node, node], &client_id, "carol@example.com", vec![PASSWORD.into()]).await;
        assert_eq!(answers[0].1, 429, "the right password after the limit does not log in at :{}", node.port);
    }
}
