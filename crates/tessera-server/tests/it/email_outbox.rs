//! The email outbox (issue 17) against a real SMTP conversation with the test sink: a
//! message queued while the relay is down is retried with backoff and delivered once the
//! relay is back, and nothing is lost in between.

use tessera_server::config::Config;
use tessera_server::store::db::query;

use crate::support_smtp::SmtpSink;
use crate::support_web::{backends, Backend, WebApp};

/// Points the deployment's relay at `sink` (plain SMTP on loopback, with AUTH).
pub fn relay_to(sink_port: u16) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.email.smtp_host = "127.0.0.1".into();
        c.email.smtp_port = sink_port;
        c.email.security = "none".into();
        c.email.username = "relay-user".into();
        c.email.password = "relay-pass".into();
        c.email.from = "Tessera Tests <no-reply@tessera.test>".into();
    }
}

/// A web app whose email goes to a fresh sink.
pub async fn app_with_sink(backend: Backend) -> (WebApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let app = WebApp::start_with(backend, relay_to(sink.port)).await;
    (app, sink)
}

/// Rows of the outbox matching `condition`, read through a second connection.
pub async fn outbox_rows(app: &WebApp, condition: &str) -> i64 {
    let store = tessera_server::store::connect(&app.database_url()).await.expect("second connection");
    let row = store.db().fetch_optional(query(format!("SELECT COUNT(*) FROM email_outbox WHERE {condition}"))).await.unwrap();
    let n = row.unwrap().at::<i64>(0).unwrap();
    store.close().await;
    n
}

async fn wait_rows(app: &WebApp, condition: &str, want: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while outbox_rows(app, condition).await != want {
        assert!(std::time::Instant::now() < deadline, "[{}] outbox never had {want} rows where {condition}", app.backend);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_message_queued_while_the_relay_is_down_is_delivered_when_it_is_back() {
    for backend in backends() {
        let (app, mut sink) = app_with_sink(backend).await;
        sink.stop();
        let http = reqwest::Client::new();
        let r = http
            .post(app.url("/dbconnections/change_password"))
            .json(&serde_json::json!({"client_id": app.web.id, "email": crate::support_web::EMAIL, "connection": "Username-Password-Authentication"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "[{backend}]");
        // The relay refuses connections: the first attempt fails and is rescheduled, the
        // message stays in the outbox.
        wait_rows(&app, "attempts >= 1 AND sent_at IS NULL", 1).await;
        assert_eq!(sink.count_to(crate::support_web::EMAIL), 0, "[{backend}]");
        sink.start_again().await;
        // The backoff is on the server's clock; move it past the retry time.
        app.clock.advance(3);
        let m = sink.wait_for(crate::support_web::EMAIL, "/u/reset-password?ticket=").await;
        assert_eq!(m.subject(), "Reset your password", "[{backend}]");
        assert_eq!(m.from, "no-reply@tessera.test", "[{backend}]");
        assert_eq!(m.auth, Some(("relay-user".into(), "relay-pass".into())), "[{backend}] AUTH with the configured credentials");
        assert!(m.raw.contains("multipart/alternative"), "[{backend}] text and HTML");
        wait_rows(&app, "sent_at IS NOT NULL AND text_body = ''", 1).await;
        assert_eq!(sink.count_to(crate::support_web::EMAIL), 1, "[{backend}] delivered once");
    }
}

/// `serve --demo` without a relay logs each email, so the demo's links and codes are there
/// to follow.
#[tokio::test]
async fn the_demo_without_a_relay_logs_the_links_it_would_send() {
    use crate::support_live::{LiveOptions, LiveServer};
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::default().arg("--demo")).await;
    let web = live.cli().run(&["clients", "create", "--name", "Demo Web", "--app-type", "regular_web", "--json"]).json();
    let client_id = web["client_id"].as_str().expect("client_id").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let body = serde_json::json!({"client_id": client_id, "email": "demo@example.com", "connection": "Username-Password-Authentication"});
    let r = live.http().post(live.url("/dbconnections/change_password")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let link = loop {
        let log = live.log();
        if let Some(at) = log.find(&live.url("/u/reset-password?ticket=")) {
            break log[at..].split_whitespace().next().unwrap_or_default().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no logged demo email:\n{log}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(live.log().contains("demo email (no SMTP relay)"), "{}", live.log());
    // The logged link is the real one: it opens the reset form.
    let page = live.http().get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200, "{link}");
    assert!(page.text().await.unwrap().contains("Change your password"));
}

async fn ask_reset(app: &WebApp) {
    let body = serde_json::json!({"client_id": app.web.id, "email": crate::support_web::EMAIL, "connection": "Username-Password-Authentication"});
    let r = reqwest::Client::new().post(app.url("/dbconnections/change_password")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// `security = "starttls"`: the relay's certificate is verified against `ca_file`, AUTH
/// happens inside TLS, and a relay that does not offer STARTTLS gets nothing (no fall back
/// to plain text).
#[tokio::test]
async fn starttls_is_required_and_the_relay_certificate_verified() {
    for backend in backends() {
        let dir = crate::support::TempDir::new("smtp-ca");
        let ca = crate::support_live::TestCa::create(dir.path());
        let starttls = |port: u16, ca_file: String| {
            move |c: &mut Config| {
                relay_to(port)(c);
                c.email.security = "starttls".into();
                c.email.ca_file = ca_file;
            }
        };
        let sink = SmtpSink::start_tls(&ca).await;
        let app = WebApp::start_with(backend, starttls(sink.port, ca.ca_file.display().to_string())).await;
        ask_reset(&app).await;
        let m = sink.wait_for(crate::support_web::EMAIL, "/u/reset-password?ticket=").await;
        assert!(m.tls, "[{backend}] delivered over TLS");
        assert_eq!(m.auth, Some(("relay-user".into(), "relay-pass".into())), "[{backend}] AUTH inside TLS");

        let plain = SmtpSink::start().await;
        let app = WebApp::start_with(backend, starttls(plain.port, ca.ca_file.display().to_string())).await;
        ask_reset(&app).await;
        wait_rows(&app, "attempts >= 1 AND sent_at IS NULL", 1).await;
        assert_eq!(plain.count_to(crate::support_web::EMAIL), 0, "[{backend}] never sent in plain text");
    }
}
