//! The Management API scenarios of issue 18: what one request of each is, on a store
//! bulk-loaded with `--mgmt-n` users and as many audit-log entries ([`crate::growth`]).
//!
//! Each request picks its page, user or checkpoint at random, so that no answer is
//! served from one warm page: users `growth1@bench.test` … `growth{N}@bench.test` exist,
//! and log ids `1..=max_log_id`.

use bytes::Bytes;
use rand::Rng;

use crate::http::{Conn, Extra, Resp};
use crate::scenarios::Scenario;
use crate::seed::Mgmt;

/// Auth0 serves offset pages (`page`/`per_page`) only within the first 1000 records of a
/// list (beyond that: checkpoints for logs, an export job for users); the benchmark pages
/// within that window.
pub const OFFSET_WINDOW: u64 = 1000;
pub const PER_PAGE: u64 = 50;

fn random_page(rng: &mut impl Rng, records: u64) -> u64 {
    let pages = (records.min(OFFSET_WINDOW) / PER_PAGE).max(1);
    rng.gen_range(0..pages)
}

/// `GET /api/v2/users?page=K&per_page=50&include_totals=true`.
pub fn users_page(rng: &mut impl Rng, m: &Mgmt) -> String {
    format!("/api/v2/users?page={}&per_page={PER_PAGE}&include_totals=true", random_page(rng, m.users))
}

/// A random loaded user's email (growth.rs names them).
pub fn email(rng: &mut impl Rng, m: &Mgmt) -> String {
    format!("growth{}@bench.test", rng.gen_range(1..=m.users.max(1)))
}

/// `GET /api/v2/users?q=email:"…"&search_engine=v3`, as the Auth0 SDKs send a search.
pub fn users_by_email(email: &str) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("q", &format!("email:\"{email}\""))
        .append_pair("search_engine", "v3")
        .finish();
    format!("/api/v2/users?{q}")
}

/// Alternately an offset page (`page=K&per_page=50`, newest first) and a checkpoint
/// (`from` a random log id, `take=50`, the entries after it).
pub fn logs_page(rng: &mut impl Rng, m: &Mgmt, nth: u64) -> String {
    if nth.is_multiple_of(2) {
        format!("/api/v2/logs?page={}&per_page={PER_PAGE}", random_page(rng, m.max_log_id.max(0) as u64))
    } else {
        format!("/api/v2/logs?from={}&take={PER_PAGE}", rng.gen_range(0..m.max_log_id.max(1)))
    }
}

/// `POST /api/v2/clients`: a small machine-to-machine client, as a provisioning script
/// creates one.
pub fn client_body(nth: u64) -> Bytes {
    let tag = tessera_core::crypto::random_alnum(8);
    Bytes::from(
        serde_json::json!({"name": format!("bench-{tag}-{nth}"), "app_type": "non_interactive", "grant_types": ["client_credentials"]})
            .to_string(),
    )
}

/// One management request; `Err` with the reason when the answer is not the expected one.
pub async fn op(scenario: Scenario, m: &Mgmt, conn: &mut Conn, bearer: &str, nth: u64) -> Result<(), String> {
    let extra = Extra { cookie: None, authorization: Some(bearer) };
    // The request is chosen first: the thread's generator may not be held across an await.
    let (path, want) = {
        let mut rng = rand::thread_rng();
        match scenario {
            Scenario::MgmtUsersPage => (users_page(&mut rng, m), Some("\"total\":".to_string())),
            Scenario::MgmtUsersByEmail => {
                // The answer must hold the user searched for, or the search found nothing.
                let e = email(&mut rng, m);
                (users_by_email(&e), Some(format!("\"email\":\"{e}\"")))
            }
            Scenario::MgmtLogsPage => (logs_page(&mut rng, m, nth), Some("\"log_id\":".to_string())),
            Scenario::MgmtClientsCreate => ("/api/v2/clients".to_string(), None),
            other => return Err(format!("{} is not a management scenario", other.name())),
        }
    };
    let resp: Resp = if scenario == Scenario::MgmtClientsCreate {
        conn.post_json(&path, &extra, client_body(nth)).await?
    } else {
        conn.get(&path, &extra).await?
    };
    if !resp.ok() {
        return Err(resp.describe());
    }
    match want {
        Some(w) if !contains(&resp.body, w.as_bytes()) => Err(format!("no {w} in the answer: {}", resp.describe())),
        _ => Ok(()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mgmt(users: u64, max_log_id: i64) -> Mgmt {
        Mgmt { client_id: "c".into(), client_secret: "s".into(), audience: "a".into(), users, max_log_id }
    }

    #[test]
    fn pages_stay_in_auth0s_offset_window_and_emails_name_loaded_users() {
        let mut rng = rand::thread_rng();
        let m = mgmt(1_000_000, 1_000_000);
        for _ in 0..200 {
            let p = users_page(&mut rng, &m);
            let k: u64 = p.split("page=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
            assert!(k < OFFSET_WINDOW / PER_PAGE, "{p}");
            let n: u64 = email(&mut rng, &m).trim_start_matches("growth").split('@').next().unwrap().parse().unwrap();
            assert!((1..=1_000_000).contains(&n));
        }
        // A store smaller than a page still has page 0.
        assert!(users_page(&mut rng, &mgmt(10, 10)).contains("page=0&"));
        assert!(logs_page(&mut rng, &m, 1).contains("&take=50"));
        assert_eq!(users_by_email("growth7@bench.test"), "/api/v2/users?q=email%3A%22growth7%40bench.test%22&search_engine=v3");
    }
}
