//! Key changes across nodes (issue 19, defect 2): two `tessera serve` processes on one
//! PostgreSQL database. Two rotations in a row by the CLI: at every moment, a token either
//! node signs verifies at the other (its key is in the other's JWKS and introspection there
//! says active), and both sign with the new key within a bounded time. `keys revoke`
//! withdraws a key on both nodes within about a second.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::faults_support::*;
use crate::support::{postgres_admin_url, Backend};
use crate::support_live::LiveServer;

/// Every node reloads within about a second of a change; the new key signs after
/// `SIGNING_LEAD` (5 s). Generous for a shared 2-core machine.
const CONVERGE: Duration = Duration::from_secs(15);

/// Tokens from each node, each checked at the other. Returns the kids each node signed with.
async fn cross_check(http: &reqwest::Client, a: &LiveServer, b: &LiveServer, m2m: &M2m) -> (String, String) {
    let (ta, tb) = (access_token(http, a, m2m).await, access_token(http, b, m2m).await);
    for (token, from, at) in [(&ta, a, b), (&tb, b, a)] {
        let kid = kid_of(token);
        let published = jwks_kids(http, at).await;
        assert!(
            published.contains(&kid),
            ":{} signed with {kid}, which :{} does not publish ({published:?})\n{}\n{}",
            from.port,
            at.port,
            from.log(),
            at.log()
        );
        assert!(
            active_at(http, at, m2m, token).await,
            ":{} does not accept a token of :{} signed with {kid}",
            at.port,
            from.port
        );
    }
    (kid_of(&ta), kid_of(&tb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_rotations_in_a_row_never_sign_with_a_key_another_node_cannot_verify() {
    if postgres_admin_url().is_none() {
        return;
    }
    let a = LiveServer::start_with(Backend::Postgres, &node_options()).await;
    let b = a.start_peer(&node_options()).await;
    let cli = a.cli();
    let m2m = seed_m2m(&cli);
    let http = http();
    let (before, _) = cross_check(&http, &a, &b, &m2m).await;

    let first = cli.run(&["keys", "rotate", "--alg", "RS256", "--json"]).json();
    let second = cli.run(&["keys", "rotate", "--alg", "RS256", "--json"]).json();
    let newest = second["current"].as_str().unwrap().to_string();
    assert_ne!(first["current"], second["current"]);

    let started = Instant::now();
    let mut seen = BTreeSet::from([before]);
    // The first rotation's key was stored when the deployment started, moments ago, and
    // the second's just now: neither may sign before every node has loaded it.
    loop {
        let (ka, kb) = cross_check(&http, &a, &b, &m2m).await;
        seen.extend([ka.clone(), kb.clone()]);
        if ka == newest && kb == newest {
            break;
        }
        assert!(started.elapsed() < CONVERGE, "the nodes did not move to {newest} within {CONVERGE:?} (signed with {seen:?})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Revoked: withdrawn from both JWKS and refused by both within about a second (plus the
    // machine's slack), although the CLI, not a node, made the change.
    let old = access_token(&http, &a, &m2m).await;
    cli.run(&["keys", "revoke", &newest, "--json"]).ok();
    let revoked_at = Instant::now();
    loop {
        let withdrawn = !jwks_kids(&http, &a).await.contains(&newest) && !jwks_kids(&http, &b).await.contains(&newest);
        if withdrawn && !active_at(&http, &a, &m2m, &old).await && !active_at(&http, &b, &m2m, &old).await {
            break;
        }
        assert!(revoked_at.elapsed() < Duration::from_secs(4), "a revoked key still verifies after {:?}", revoked_at.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ka, kb) = cross_check(&http, &a, &b, &m2m).await;
    assert!(ka != newest && kb != newest, "nothing signs with a revoked key");
}
