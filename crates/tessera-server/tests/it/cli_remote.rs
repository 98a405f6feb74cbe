//! The CLI's remote mode (issue 18): the real `tessera` binary with `--url … --ca-cert …`
//! and `--token` or `--client-id/--client-secret`, against a live `tessera serve` over
//! TLS, on SQLite and on PostgreSQL. Each command's output is compared with what local mode
//! prints for the same object (the local CLI on the server's database), the server's state
//! is read back, the API's refusals become the CLI's one line, and the remote runs leave
//! nothing on the local disk.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{backends, run_command, tessera_command, Backend, Cli, CliResult, TempDir, TestData};
use crate::support_live::{LiveOptions, LiveServer};

/// `tessera --url … --ca-cert … <auth> <args>` run from an empty directory.
struct Remote {
    cwd: TempDir,
    prefix: Vec<String>,
}

impl Remote {
    fn new(live: &LiveServer, auth: &[&str]) -> Self {
        let mut prefix = vec!["--url".to_string(), live.url(""), "--ca-cert".into()];
        prefix.push(live.ca_file().expect("a TLS server").display().to_string());
        prefix.extend(auth.iter().map(|s| s.to_string()));
        Self { cwd: TempDir::new("cli-remote"), prefix }
    }

    fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> CliResult {
        let mut cmd = tessera_command(self.cwd.path());
        cmd.args(&self.prefix).args(args);
        CliResult::new(args, run_command(cmd, stdin))
    }

    fn run(&self, args: &[&str]) -> CliResult {
        self.run_with_stdin(args, None)
    }

    /// The one error line of a failed run (after the `deployment:` line).
    fn error_line(&self, args: &[&str]) -> String {
        let r = self.run(args);
        let err = r.err();
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("deployment:")).collect();
        assert_eq!(lines.len(), 1, "one error line: {err}");
        lines[0].to_string()
    }

    /// Nothing was written where the remote runs ran (no data directory, no database).
    fn assert_nothing_local(&self) {
        let left: Vec<_> = std::fs::read_dir(self.cwd.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "remote mode wrote {left:?}");
    }
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("{field} missing or not a string in {v}"))
}

/// A TLS server with the bootstrap client's credentials.
async fn server(data: TestData) -> (LiveServer, String, String) {
    let live = LiveServer::start_on(Arc::new(data), &LiveOptions::tls()).await;
    let boot = live.cli().run(&["--json", "admin", "bootstrap", "--issuer", &live.issuer()]).json();
    // The server's registry cache picks up the CLI's change within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (live, str_of(&boot, "client_id").to_string(), str_of(&boot, "client_secret").to_string())
}

async fn management_token(live: &LiveServer, id: &str, secret: &str) -> String {
    let audience = format!("{}api/v2/", live.issuer());
    let form = [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret), ("audience", &audience)];
    let body: Value = live.http().post(live.url("/oauth/token")).form(&form).send().await.unwrap().json().await.unwrap();
    str_of(&body, "access_token").to_string()
}

async fn client_credentials_status(live: &LiveServer, id: &str, secret: &str, audience: &str) -> u16 {
    let form = [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret), ("audience", audience)];
    live.http().post(live.url("/oauth/token")).form(&form).send().await.unwrap().status().as_u16()
}

/// Asserts that local mode prints the same for `args`, text and `--json`.
fn same_as_local(local: &Cli, remote: &Remote, args: &[&str]) -> Value {
    assert_eq!(remote.run(args).ok(), local.run(args).ok(), "text of `{}`", args.join(" "));
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let r = remote.run(&json_args).json();
    assert_eq!(r, local.run(&json_args).json(), "--json of `{}`", args.join(" "));
    r
}

async fn session(backend: Backend) {
    let (live, boot_id, boot_secret) = server(TestData::new(backend)).await;
    let token = management_token(&live, &boot_id, &boot_secret).await;
    let by_token = Remote::new(&live, &["--token", &token]);
    let by_credentials = Remote::new(&live, &["--client-id", &boot_id, "--client-secret", &boot_secret]);
    // Local mode on the server's database, under the server's issuer (as with its config
    // file): `apis` marks the Management API of that issuer as `is_system`.
    let local = live.cli().with_env("TESSERA_ISSUER", &live.issuer());

    // Clients: create (the secret shown once), show, list, update, rotate-secret.
    let created =
        by_credentials.run(&["clients", "create", "--name", "Remote M2M", "--app-type", "non_interactive", "--json"]).json();
    let id = str_of(&created, "client_id").to_string();
    let first_secret = str_of(&created, "client_secret").to_string();
    assert_eq!(created["app_type"], "non_interactive", "[{backend}] {created}");
    assert_eq!(created["grant_types"], json!(["client_credentials"]), "[{backend}] {created}");
    let mut without_secret = created.clone();
    without_secret.as_object_mut().unwrap().remove("client_secret");
    assert_eq!(same_as_local(&local, &by_token, &["clients", "show", &id]), without_secret, "[{backend}]");
    let listed = by_token.run(&["clients", "list", "--json"]).json();
    assert_eq!(listed, local.run(&["clients", "list", "--json"]).json(), "[{backend}] the same list");
    assert!(listed.as_array().unwrap().iter().any(|c| c["client_id"] == id.as_str()), "[{backend}] {listed}");
    assert_eq!(by_token.run(&["clients", "list"]).ok(), local.run(&["clients", "list"]).ok(), "[{backend}]");
    let updated = by_token.run(&["clients", "update", &id, "--name", "Renamed", "--json"]).json();
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(local.run(&["clients", "show", &id, "--json"]).json()["name"], "Renamed", "[{backend}] stored");
    let rotated = by_token.run(&["clients", "rotate-secret", &id, "--json"]).json();
    let new_secret = str_of(&rotated, "client_secret").to_string();
    assert_eq!(rotated, json!({"client_id": id, "client_secret": new_secret}), "[{backend}]");
    assert_ne!(new_secret, first_secret);

    // APIs: create with scopes, show by identifier (a URL in the path), update.
    let api = by_credentials
        .run(&["apis", "create", "--identifier", "https://api.remote.test/v1", "--scope", "read:x=Read x,write:x", "--json"])
        .json();
    assert_eq!(api["scopes"], json!([{"value": "read:x", "description": "Read x"}, {"value": "write:x", "description": ""}]));
    let api_id = str_of(&api, "id").to_string();
    assert_eq!(same_as_local(&local, &by_token, &["apis", "show", "https://api.remote.test/v1"]), api, "[{backend}]");
    let api2 = by_token.run(&["apis", "update", &api_id, "--name", "Remote API", "--token-lifetime", "600", "--json"]).json();
    assert_eq!((api2["name"].clone(), api2["token_lifetime"].clone()), (json!("Remote API"), json!(600)), "[{backend}]");
    same_as_local(&local, &by_token, &["apis", "list"]);

    // Grants: every scope by default, then narrowed; the rotated secret is the one that works.
    let grant =
        by_token.run(&["grants", "create", "--client-id", &id, "--audience", "https://api.remote.test/v1", "--json"]).json();
    assert_eq!(grant["scope"], json!(["read:x", "write:x"]), "[{backend}] {grant}");
    let grant_id = str_of(&grant, "id").to_string();
    assert_eq!(same_as_local(&local, &by_token, &["grants", "show", &grant_id]), grant);
    let narrowed = by_token.run(&["grants", "update", &grant_id, "--scope", "read:x", "--json"]).json();
    assert_eq!(narrowed["scope"], json!(["read:x"]));
    same_as_local(&local, &by_token, &["grants", "list", "--client-id", &id]);
    assert_eq!(client_credentials_status(&live, &id, &first_secret, "https://api.remote.test/v1").await, 401, "[{backend}]");
    assert_eq!(client_credentials_status(&live, &id, &new_secret, "https://api.remote.test/v1").await, 200, "[{backend}]");
    // A duplicate grant: the API's 409, as one line.
    let line = by_token.error_line(&["grants", "create", "--client-id", &id, "--audience", "https://api.remote.test/v1"]);
    assert!(line.starts_with("error: ") && line.ends_with("(409 conflict)"), "[{backend}] {line}");

    // Users: create with the password on stdin, show by email, block, update, set-password.
    let user = by_token
        .run_with_stdin(
            &["users", "create", "--email", "R@Example.com", "--password-stdin", "--json"],
            Some("remote password 1\n"),
        )
        .json();
    assert_eq!(user["email"], "r@example.com", "[{backend}] {user}");
    let user_id = str_of(&user, "user_id").to_string();
    assert_eq!(same_as_local(&local, &by_token, &["users", "show", "r@example.com"]), user, "[{backend}]");
    assert_eq!(by_token.run(&["users", "block", "r@example.com", "--json"]).json()["blocked"], true);
    assert_eq!(local.run(&["users", "show", &user_id, "--json"]).json()["blocked"], true, "[{backend}] stored");
    assert_eq!(by_token.run(&["users", "unblock", &user_id, "--json"]).json()["blocked"], false);
    let renamed = by_token.run(&["users", "update", &user_id, "--name", "Remote Person", "--json"]).json();
    assert_eq!(renamed["name"], "Remote Person");
    by_token.run_with_stdin(&["users", "set-password", &user_id, "--password-stdin"], Some("remote password 2\n")).ok();
    same_as_local(&local, &by_token, &["users", "list"]);
    let line = by_token.error_line(&["users", "create", "--email", "r@example.com", "--password", "another password"]);
    assert_eq!(line, "error: The user already exists. (409 auth0_idp_error)", "[{backend}]");

    // Keys: the same list; a rotation promotes the next key.
    let keys = same_as_local(&local, &by_token, &["keys", "list"]);
    let next = keys.as_array().unwrap().iter().find(|k| k["alg"] == "RS256" && k["next"] == true).expect("a next key");
    let next_kid = str_of(next, "kid").to_string();
    let rotated = by_token.run(&["keys", "rotate", "--json"]).json();
    assert_eq!(rotated, json!({"alg": "RS256", "current": next_kid}), "[{backend}]");
    let after = local.run(&["keys", "list", "--json"]).json();
    let current: Vec<&Value> = after.as_array().unwrap().iter().filter(|k| k["alg"] == "RS256" && k["current"] == true).collect();
    assert_eq!(current.len(), 1, "{after}");
    assert_eq!(current[0]["kid"], next_kid.as_str(), "[{backend}] stored");

    // Tenant settings.
    let t =
        by_token.run(&["tenant", "set", "--default-audience", "https://api.remote.test/v1", "--disable-signup", "--json"]).json();
    assert_eq!(t, json!({"default_audience": "https://api.remote.test/v1", "disable_signup": true}), "[{backend}]");
    assert_eq!(same_as_local(&local, &by_token, &["tenant", "show"]), t);
    by_token.run(&["tenant", "set", "--default-audience", "", "--disable-signup", "false"]).ok();
    assert_eq!(local.run(&["tenant", "show", "--json"]).json(), json!({"default_audience": null, "disable_signup": false}));

    // Registration tokens.
    let rt = by_token.run(&["registration", "token", "create", "--uses", "2", "--json"]).json();
    assert!(str_of(&rt, "token").len() >= 32, "{rt}");
    same_as_local(&local, &by_token, &["registration", "token", "list"]);
    by_token.run(&["registration", "token", "delete", str_of(&rt, "id")]).ok();

    // Refusals: an unknown id (404), a bad token (401), a local-only command.
    let line = by_token.error_line(&["clients", "show", "no-such-client"]);
    assert!(line.starts_with("error: ") && line.ends_with("(404 inexistent_client)"), "[{backend}] {line}");
    let line = Remote::new(&live, &["--token", "not-a-token"]).error_line(&["clients", "list"]);
    assert!(line.contains("(401 invalid_token): the token is wrong or has expired"), "[{backend}] {line}");
    let line = Remote::new(&live, &["--client-id", &boot_id, "--client-secret", "wrong"]).error_line(&["clients", "list"]);
    assert!(line.starts_with("error: cannot get a Management API token: ") && line.contains("(401 invalid_client)"), "{line}");
    let line = by_token.error_line(&["migrate"]);
    assert_eq!(line, "error: this command is not available with --url: migrate changes a local database");

    // Deletes, read back locally.
    assert_eq!(
        by_token.run(&["grants", "delete", &grant_id, "--json"]).json()["message"],
        format!("deleted client grant {grant_id}")
    );
    assert_eq!(by_token.run(&["users", "delete", "r@example.com"]).ok().trim(), "deleted user r@example.com");
    by_token.run(&["apis", "delete", "https://api.remote.test/v1"]).ok();
    by_token.run(&["clients", "delete", &id]).ok();
    assert!(local.run(&["grants", "list", "--json"]).json().as_array().unwrap().iter().all(|g| g["id"] != grant_id.as_str()));
    assert_eq!(local.run(&["users", "list", "--json"]).json(), json!([]), "[{backend}]");
    local.run(&["apis", "show", &api_id]).err();
    local.run(&["clients", "show", &id]).err();

    by_token.assert_nothing_local();
    by_credentials.assert_nothing_local();
}

#[tokio::test]
async fn remote_mode_on_sqlite() {
    session(Backend::Sqlite).await;
}

#[tokio::test]
async fn remote_mode_on_postgres() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    session(Backend::Postgres).await;
}

/// Without the server's CA the TLS handshake fails: one line that says why.
#[tokio::test]
async fn an_untrusted_certificate_is_one_clear_line() {
    let (live, _, _) = server(TestData::new(Backend::Sqlite)).await;
    let dir = TempDir::new("cli-remote");
    let mut cmd = tessera_command(dir.path());
    cmd.args(["--url", &live.url(""), "--token", "x", "clients", "list"]);
    let out = run_command(cmd, None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default().to_string();
    assert!(line.starts_with(&format!("error: cannot reach {}", live.url("/api/v2/clients"))), "{stderr}");
    assert!(line.to_lowercase().contains("certificate"), "the cause is named: {line}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

/// A 429 is waited out once (its `Retry-After`), as Auth0's CLI does: with one request per
/// second allowed, a command that makes three requests still succeeds, after the waits.
#[tokio::test]
async fn a_rate_limited_request_is_retried_after_retry_after() {
    let data = TestData::new(Backend::Sqlite);
    std::fs::write(data.dir.join("tessera.toml"), "[management]\nrate_limit = 1\n").unwrap();
    let (live, id, secret) = server(data).await;
    let token = management_token(&live, &id, &secret).await;
    let remote = Remote::new(&live, &["--token", &token]);
    // The limit is on: two requests at once get a 429 with Retry-After.
    let http = live.http();
    let mut statuses = vec![];
    for _ in 0..2 {
        let resp = http.get(live.url("/api/v2/tenants/settings")).bearer_auth(&token).send().await.unwrap();
        statuses.push((resp.status().as_u16(), resp.headers().get("retry-after").is_some()));
    }
    assert_eq!(statuses[1], (429, true), "{statuses:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // `tenant show` reads the settings and the connection (three requests).
    let started = Instant::now();
    let shown = remote.run(&["tenant", "show", "--json"]).json();
    assert_eq!(shown, json!({"default_audience": null, "disable_signup": false}));
    assert!(started.elapsed() >= Duration::from_secs(1), "the CLI waited for its retries: {:?}", started.elapsed());
    remote.assert_nothing_local();
}
