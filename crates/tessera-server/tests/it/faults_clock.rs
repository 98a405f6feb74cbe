//! Clock skew between nodes (issue 19, fault test 5): two nodes on one PostgreSQL, the second
//! started under libfaketime with a wall clock 8 s behind. Left alone, the lagging node would
//! accept a code, a refresh token or a client assertion for 8 s after it expired. It follows
//! the database server's clock instead (crate::clock_sync), so with a code lifetime of 3 s,
//! a refresh idle lifetime of 3 s and an assertion leeway of 1 s, each is refused there 4.5 s
//! after it was issued, while fresh ones work and what it issues carries the true time.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::faults_failover::{login, redeem, rotate, Web, CALLBACK, PASSWORD};
use crate::faults_support::*;
use crate::oauth_fixture::{jwt_parts, sign_compact};
use crate::support::{postgres_admin_url, Backend, TestData};
use crate::support_live::{LiveOptions, LiveServer};

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// How far the second node's wall clock lags.
const LAG: i64 = 8;
/// Past every lifetime below (3 s, and an assertion's 2 s + 1 s leeway), and well inside
/// the lag: the lagging node's own clock would still call each of them valid.
const AFTER: Duration = Duration::from_millis(4_500);

fn real_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn options() -> LiveOptions {
    node_options().env("TESSERA_CODE_LIFETIME", "3").env("TESSERA_ASSERTION_LEEWAY", "1")
}

fn metric(page: &str, name: &str) -> f64 {
    page.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

/// An HS256 `client_secret_jwt` assertion for the token endpoint, expiring `exp_in` seconds
/// from the true time.
fn assertion(client_id: &str, secret: &str, exp_in: i64) -> String {
    let now = real_now();
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": format!("{ISSUER}oauth/token"),
        "iat": now, "exp": now + exp_in, "jti": crate::support::random_suffix(),
    });
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    sign_compact(&json!({"alg": "HS256", "typ": "JWT"}), &claims, |m| ring::hmac::sign(&key, m).as_ref().to_vec())
}

async fn with_assertion(node: &LiveServer, jwt: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("audience", API),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", jwt),
    ];
    let r = http().post(node.url("/oauth/token")).form(&form).send().await.expect("token request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_clock_lags_lets_nothing_expired_through() {
    if postgres_admin_url().is_none() {
        return;
    }
    if !Path::new(FAKETIME).exists() {
        assert!(
            std::env::var("TESSERA_REQUIRE_PG_SERVER").is_err(),
            "libfaketime is missing ({FAKETIME}); apt-get install faketime"
        );
        eprintln!("skipped: libfaketime is not installed");
        return;
    }
    let data = Arc::new(TestData::new(Backend::Postgres));
    let a = LiveServer::start_on(data.clone(), &options()).await;
    let lagging =
        options().env("LD_PRELOAD", FAKETIME).env("FAKETIME", &format!("-{LAG}s")).env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    let b = LiveServer::start_on(data.clone(), &lagging).await;
    let cli = a.cli();
    let (id, secret) = seed_rotating_web(&cli, CALLBACK, "0", PASSWORD);
    cli.run(&["clients", "update", &id, "--refresh-idle-lifetime", "3", "--json"]).ok();
    let web = Web { id, secret };
    let jwt_client = cli
        .run(&[
            "clients",
            "create",
            "--name",
            "Assertions",
            "--app-type",
            "non_interactive",
            "--auth-method",
            "client_secret_jwt",
            "--json",
        ])
        .json();
    let (jwt_id, jwt_secret) = (jwt_client["client_id"].as_str().unwrap(), jwt_client["client_secret"].as_str().unwrap());
    cli.run(&["grants", "create", "--client-id", jwt_id, "--audience", API, "--json"]).ok();

    // The lagging node measured the database's clock ahead of its own and follows it.
    let started = Instant::now();
    loop {
        let page = http().get(b.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let (offset, correction) =
            (metric(&page, "tessera_database_clock_offset_seconds"), metric(&page, "tessera_clock_correction_seconds"));
        if correction >= (LAG - 1) as f64 {
            assert!((offset - LAG as f64).abs() < 1.0, "measured offset {offset}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the lagging node never corrected its clock ({offset}, {correction})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = http().get(a.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&page, "tessera_clock_correction_seconds"), 0.0, "the node on the true time is not moved");

    // Issued on the node with the true time, presented 4.5 s later on the lagging one.
    let http = http();
    let code = login(&a, &web).await.expect("a code from the first node");
    let (status, body) = redeem(&http, &a, &web, &login(&a, &web).await.unwrap()).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let expiring = assertion(jwt_id, jwt_secret, 2);
    tokio::time::sleep(AFTER).await;

    let (status, body) = redeem(&http, &b, &web, &code).await.unwrap();
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "an expired code: {body}");
    let (status, body) = rotate(&http, &b, &web, &rt).await.unwrap();
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "an idle refresh token: {body}");
    let (status, body) = with_assertion(&b, &expiring).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "an expired assertion: {body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains("expired"), "the description names the check: {description}");

    // Fresh ones work on the lagging node, and what it issues carries the true time.
    let (status, body) = with_assertion(&b, &assertion(jwt_id, jwt_secret, 2)).await;
    assert_eq!(status, 200, "a fresh assertion: {body}");
    let code = login(&b, &web).await.expect("a code from the lagging node");
    let (status, body) = redeem(&http, &b, &web, &code).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt_parts(body["id_token"].as_str().unwrap());
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - real_now()).abs() <= 2, "the lagging node stamps the true time: iat {iat}, now {}", real_now());
    let (status, body) = rotate(&http, &a, &web, body["refresh_token"].as_str().unwrap()).await.unwrap();
    assert_eq!(status, 200, "its refresh token works on the other node: {body}");
}
