//! The hosted login: brute-force counters exact under 30 concurrent wrong attempts, the
//! block refusing even the right password, per-IP limits, answers that do not reveal
//! whether a user exists, CSRF and browser binding, cookie attributes.

use tessera_core::routes;

use crate::support_web::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_concurrent_wrong_attempts_are_all_counted_and_block_the_user() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        let (txn, csrf) = b.open_login(&app.web_authorize(&[])).await;
        let mut set = tokio::task::JoinSet::new();
        for i in 0..30 {
            let http = b.http.clone();
            let url = app.url(routes::LOGIN);
            let form = [
                ("txn", txn.clone()),
                ("csrf", csrf.clone()),
                ("username", EMAIL.into()),
                ("password", format!("wrong password {i}")),
            ];
            set.spawn(async move { http.post(url).form(&form).send().await.expect("POST") });
        }
        let responses = set.join_all().await;
        let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
        statuses.sort_unstable();
        // Failures 1..=9 go back to the form; the 10th reaches the limit, and every later
        // attempt is refused while blocked, whatever the interleaving.
        assert_eq!(statuses, [vec![303; 9], vec![429; 21]].concat(), "[{backend}]");
        for r in responses.iter().filter(|r| r.status() == 303) {
            assert!(location(r).ends_with("&error=credentials"));
        }
        let blocked = responses.into_iter().find(|r| r.status() == 429).unwrap();
        assert!(blocked.headers()["retry-after"].to_str().unwrap().parse::<i64>().unwrap() > 0);
        assert!(blocked.text().await.unwrap().contains("Too many failed logins"));

        // The counters are exact: the next failure on each is the 31st.
        let now = app.state.now();
        let user_key = format!("user:{}|ip:127.0.0.1", app.user_id);
        assert_eq!(
            app.store().record_failure(&user_key, now, 900, 10, 900).await.unwrap().failures,
            31,
            "[{backend}] per user and IP"
        );
        assert_eq!(
            app.store().record_failure("ip:127.0.0.1", now, 900, 100, 900).await.unwrap().failures,
            31,
            "[{backend}] per IP"
        );
        assert_eq!(app.audit_count("login_failed").await, 30);
        assert_eq!(app.audit_count("login_blocked").await, 1);

        // Blocked: the right password is refused too.
        let r = b.submit_login(&app, &txn, &csrf, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 429);
        // After the block, the right password works and the counter is cleared.
        app.clock.advance(901);
        let (txn, csrf) = b.open_login(&app.web_authorize(&[])).await;
        let r = b.submit_login(&app, &txn, &csrf, USERNAME, PASSWORD).await;
        assert_eq!(r.status(), 303);
        assert!(query_of(&location(&r)).contains_key("code"));
        assert_eq!(app.store().blocked_until(&[&user_key], app.state.now()).await.unwrap(), None);
    }
}

#[tokio::test]
async fn the_per_ip_limit_blocks_every_user_from_that_address() {
    for backend in backends() {
        let app = WebApp::start_with(backend, |c| c.login.ip_max_failures = 5).await;
        let b = Browser::new();
        let (txn, csrf) = b.open_login(&app.web_authorize(&[])).await;
        for i in 0..4 {
            let r = b.submit_login(&app, &txn, &csrf, &format!("nobody{i}@example.com"), "whatever-it-is").await;
            assert_eq!(r.status(), 303);
        }
        let r = b.submit_login(&app, &txn, &csrf, "someone-else", "whatever-it-is").await;
        assert_eq!(r.status(), 429, "[{backend}] the 5th failure from the IP blocks it");
        let r = b.submit_login(&app, &txn, &csrf, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 429, "[{backend}] a user who never failed is refused from that IP");
        let blocked =
            app.store().list_audit(100).await.unwrap().into_iter().filter(|e| e.kind == "login_blocked").collect::<Vec<_>>();
        assert_eq!(blocked.len(), 1);
        assert_eq!(blocked[0].detail["scope"], "ip");
        assert_eq!(blocked[0].ip.as_deref(), Some("127.0.0.1"));
    }
}

#[tokio::test]
async fn answers_do_not_reveal_whether_a_user_exists() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        app.state
            .deployment
            .registry
            .create_user(tessera_core::model::UserPatch { username: Some("bob".into()), ..Default::default() }, Some(PASSWORD))
            .await
            .unwrap();
        app.state.deployment.registry.set_blocked("bob", true).await.unwrap();
        let b = Browser::new();
        let (txn, csrf) = b.open_login(&app.web_authorize(&[])).await;
        let mut answers = vec![];
        for (login, password) in
            [(EMAIL, "wrong password"), ("nobody@example.com", PASSWORD), ("bob", PASSWORD), ("ALICE", PASSWORD)]
        {
            let r = b.submit_login(&app, &txn, &csrf, login, password).await;
            answers.push((r.status(), location(&r)));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "[{backend}] {answers:?}");
        assert_eq!(answers[0].0, 303);
        let page = b.get(&answers[0].1).await.text().await.unwrap();
        assert!(page.contains("Wrong username or password."));
        // Email is case-insensitive; the username works as well.
        let r = b.submit_login(&app, &txn, &csrf, "Alice@Example.COM", PASSWORD).await;
        assert!(query_of(&location(&r)).contains_key("code"), "[{backend}]");
        let (txn, csrf) = b.open_login(&app.web_authorize(&[("prompt", "login")])).await;
        let r = b.submit_login(&app, &txn, &csrf, USERNAME, PASSWORD).await;
        assert!(query_of(&location(&r)).contains_key("code"), "[{backend}]");
    }
}

#[tokio::test]
async fn the_login_form_is_bound_to_its_browser_csrf_token_and_lifetime() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let b = Browser::new();
        let (txn, csrf) = b.open_login(&app.web_authorize(&[])).await;
        let r = b.submit_login(&app, &txn, &"A".repeat(43), EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 400, "[{backend}] wrong CSRF token");
        let other = Browser::new();
        let r = other.submit_login(&app, &txn, &csrf, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 400, "[{backend}] another browser (login CSRF)");
        let r = other.get(&app.url(&format!("{}?txn={txn}", routes::LOGIN))).await;
        assert_eq!(r.status(), 400, "[{backend}] another browser cannot open the form");
        let r = b
            .http
            .post(app.url(routes::LOGIN))
            .body(format!("txn={txn}&csrf={csrf}&username=a&password=b"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "[{backend}] not a form content type");
        let r = b
            .post_form(
                &app.url(routes::LOGIN),
                &[("txn", &txn), ("txn", &txn), ("csrf", &csrf), ("username", EMAIL), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(r.status(), 400, "[{backend}] repeated field");
        let r = b.submit_login(&app, &txn, &csrf, EMAIL, "").await;
        assert!(location(&r).ends_with("&error=missing"));
        assert_eq!(app.audit_count("login_failed").await, 0, "nothing above was a password attempt");
        app.clock.advance(601);
        let r = b.submit_login(&app, &txn, &csrf, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 400, "[{backend}] expired transaction");
        assert!(r.text().await.unwrap().contains("expired"));
        // A completed transaction cannot be replayed.
        let (txn, csrf) = b.open_login(&app.web_authorize(&[])).await;
        assert_eq!(b.submit_login(&app, &txn, &csrf, EMAIL, PASSWORD).await.status(), 303);
        assert_eq!(b.submit_login(&app, &txn, &csrf, EMAIL, PASSWORD).await.status(), 400);
    }
}

#[tokio::test]
async fn https_issuers_get_host_prefixed_secure_cookies() {
    for backend in backends() {
        let app = WebApp::start_with(backend, |c| c.issuer = Some("https://id.example.test/".into())).await;
        // A manual browser: reqwest's jar would (rightly) not send Secure cookies over http.
        let http = Browser::new().http;
        let r = http.get(app.web_authorize(&[])).send().await.unwrap();
        let to = location(&r);
        assert!(to.starts_with("https://id.example.test/u/login?txn="), "{to}");
        let browser = set_cookies(&r).into_iter().find(|c| c.starts_with("__Host-tessera_browser=")).expect("binding cookie");
        assert!(browser.ends_with("; Path=/; HttpOnly; SameSite=Lax; Secure"), "{browser}");
        let cookie = browser.split(';').next().unwrap().to_string();
        let login = app.url(&to["https://id.example.test".len()..]);
        let page = http.get(&login).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        let form = [
            ("txn", field(&page, "txn").unwrap()),
            ("csrf", field(&page, "csrf").unwrap()),
            ("username", EMAIL.into()),
            ("password", PASSWORD.into()),
        ];
        let r = http.post(app.url(routes::LOGIN)).header("cookie", &cookie).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let session = set_cookies(&r).into_iter().find(|c| c.starts_with("__Host-tessera_session=")).expect("session cookie");
        // Cross-site over https, so a SPA's silent-authentication iframe carries it (issue 17).
        assert!(session.ends_with("; Path=/; HttpOnly; SameSite=None; Secure; Max-Age=604800"), "{session}");
        assert!(query_of(&location(&r)).contains_key("code"));
    }
}
