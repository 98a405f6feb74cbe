//! The `tessera` command line, driven as a user would: the real binary, a fresh data
//! directory per test (and a fresh PostgreSQL database for the PostgreSQL variants), exact
//! outcomes asserted on stdout, stderr and the exit code.

use std::future::Future;
use std::sync::Arc;

use serde_json::{json, Value};
use tessera_core::clock::SystemClock;
use tessera_core::model::AppType;
use tessera_server::bootstrap::Deployment;
use tessera_server::config::Config;

use crate::support::{backends, run_command, tessera_command, Backend, Cli, TempDir, TestData};

/// Opens the deployment in-process (after the CLI has exited) to check what it stored.
fn with_deployment<T, F, Fut>(data: &TestData, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(Deployment) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let config = data.config();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
            let d = Deployment::open(&config, Arc::new(SystemClock)).await.unwrap();
            let out = f(d.clone()).await;
            d.close().await;
            out
        })
    })
    .join()
    .unwrap()
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("{field} missing or not a string in {v}"))
}

#[test]
fn clients_create_list_show_update_rotate_delete() {
    for backend in backends() {
        let data = TestData::new(backend);
        let cli = Cli::new(&data);
        let created = cli
            .run(&["clients", "create", "--name", "Web App", "--callback", "https://app.example.com/callback", "--json"])
            .json();
        let id = str_of(&created, "client_id").to_string();
        let secret = str_of(&created, "client_secret").to_string();
        assert_eq!(id.len(), 32, "[{backend}] client_id {id}");
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "[{backend}] client_id {id}");
        assert!(secret.len() >= 43, "[{backend}] a 256-bit secret, got {secret:?}");
        // Auth0 field names and defaults.
        assert_eq!(created["name"], "Web App");
        assert_eq!(created["callbacks"], json!(["https://app.example.com/callback"]), "[{backend}] {created}");
        let default_method = AppType::RegularWeb.default_auth_method();
        assert!(default_method.uses_secret());
        assert_eq!(created["token_endpoint_auth_method"], default_method.as_str(), "[{backend}] {created}");
        assert_eq!(created["app_type"], "regular_web", "[{backend}] {created}");
        assert_eq!(created["grant_types"], json!(["authorization_code", "refresh_token"]), "[{backend}] {created}");
        assert_eq!(created["is_first_party"], true);
        assert_eq!(created["allowed_logout_urls"], json!([]));

        let listed = cli.run(&["clients", "list", "--json"]).json();
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 1, "[{backend}] {listed:?}");
        assert_eq!(listed[0]["client_id"], id.as_str());
        assert!(listed[0].get("client_secret").is_none(), "[{backend}] list never shows secrets");

        let shown = cli.run(&["clients", "show", &id, "--json"]).json();
        let mut expected = created.clone();
        expected.as_object_mut().unwrap().remove("client_secret");
        assert_eq!(shown, expected, "[{backend}] show = create without the secret");

        let human = cli.run(&["clients", "show", &id]).ok().to_string();
        assert!(human.contains(&id) && human.contains("Web App"), "[{backend}] human output: {human}");
        assert!(!human.contains(&secret), "[{backend}] the secret is shown only once");

        let updated = cli
            .run(&["clients", "update", &id, "--name", "Renamed", "--callback", "https://app.example.com/cb2", "--json"])
            .json();
        assert_eq!(updated["name"], "Renamed");
        assert_eq!(updated["callbacks"], json!(["https://app.example.com/cb2"]), "[{backend}] callbacks replaced");
        assert_eq!(updated["token_endpoint_auth_method"], default_method.as_str());
        assert!(updated.get("client_secret").is_none(), "[{backend}] no new secret when the method is unchanged");
        assert_eq!(cli.run(&["clients", "show", &id, "--json"]).json()["name"], "Renamed");

        let rotated = cli.run(&["clients", "rotate-secret", &id, "--json"]).json();
        assert_eq!(rotated["client_id"], id.as_str());
        let new_secret = str_of(&rotated, "client_secret").to_string();
        assert!(new_secret.len() >= 43 && new_secret != secret, "[{backend}] a new secret");

        // The printed secrets are the ones stored (as hashes): the old one ended at rotation.
        let (old_ok, new_ok, stored) = {
            let (id, secret, new_secret) = (id.clone(), secret.clone(), new_secret.clone());
            with_deployment(&data, move |d| async move {
                let secrets = d.store.client_secrets(&id).await.unwrap();
                let now = d.registry.now();
                let stored: Vec<String> = secrets.iter().map(|s| s.value.clone()).collect();
                (d.registry.secret_matches(&secrets, &secret, now), d.registry.secret_matches(&secrets, &new_secret, now), stored)
            })
        };
        assert!(!old_ok, "[{backend}] the rotated-out secret no longer authenticates");
        assert!(new_ok, "[{backend}] the new secret authenticates");
        assert_eq!(stored.len(), 2);
        assert!(
            stored.iter().all(|v| !v.contains(&secret) && !v.contains(&new_secret)),
            "[{backend}] secrets stored only as hashes"
        );

        let deleted = cli.run(&["clients", "delete", &id, "--json"]).json();
        assert_eq!(deleted["ok"], true);
        let err = cli.run(&["clients", "show", &id]).err().to_string();
        assert!(err.contains("does not exist"), "[{backend}] {err}");
        cli.run(&["clients", "delete", &id]).err();
        assert_eq!(cli.run(&["clients", "list", "--json"]).json(), json!([]));
    }
}

#[test]
fn human_output_shows_the_new_secret_once() {
    let data = TestData::new(crate::support::Backend::Sqlite);
    let cli = Cli::new(&data);
    let out = cli.run(&["clients", "create", "--name", "Human"]).ok().to_string();
    assert!(out.contains("client_id:"), "{out}");
    let secret_line = out.lines().find(|l| l.starts_with("client_secret:")).unwrap_or_else(|| panic!("{out}"));
    assert!(secret_line["client_secret:".len()..].trim().len() >= 43, "{secret_line}");
    // Public clients get no secret.
    let spa = cli
        .run(&["clients", "create", "--name", "SPA", "--app-type", "spa", "--callback", "https://spa.example.com/cb", "--json"])
        .json();
    assert_eq!(spa["token_endpoint_auth_method"], "none");
    assert!(spa.get("client_secret").is_none(), "{spa}");
    let err = cli.run(&["clients", "rotate-secret", str_of(&spa, "client_id")]).err().to_string();
    assert!(err.contains("no secret"), "{err}");
}

#[test]
fn apis_and_client_grants() {
    for backend in backends() {
        let data = TestData::new(backend);
        let cli = Cli::new(&data);
        let api = cli
            .run(&[
                "apis",
                "create",
                "--identifier",
                "https://api.example.com",
                "--scope",
                "read:x=Read",
                "--scope",
                "write:x",
                "--json",
            ])
            .json();
        assert_eq!(api["identifier"], "https://api.example.com");
        assert_eq!(
            api["scopes"],
            json!([{"value": "read:x", "description": "Read"}, {"value": "write:x", "description": ""}]),
            "[{backend}] {api}"
        );
        assert_eq!(api["signing_alg"], "RS256");
        assert_eq!(api["token_lifetime"], 86400);
        let api_id = str_of(&api, "id").to_string();
        let err = cli.run(&["apis", "create", "--identifier", "https://api.example.com"]).err().to_string();
        assert!(err.contains("already exists"), "[{backend}] duplicate identifier: {err}");

        let m2m = cli.run(&["clients", "create", "--name", "M2M", "--app-type", "non_interactive", "--json"]).json();
        assert_eq!(m2m["grant_types"], json!(["client_credentials"]));
        let c1 = str_of(&m2m, "client_id").to_string();
        let c2 = str_of(&cli.run(&["clients", "create", "--name", "Other", "--json"]).json(), "client_id").to_string();

        let g1 = cli.run(&["grants", "create", "--client-id", &c1, "--audience", "https://api.example.com", "--json"]).json();
        assert_eq!(g1["client_id"], c1.as_str());
        assert_eq!(g1["audience"], "https://api.example.com");
        assert_eq!(g1["scope"], json!(["read:x", "write:x"]), "[{backend}] scope defaults to every API scope");
        let g1_id = str_of(&g1, "id").to_string();
        assert!(g1_id.starts_with("cgr_"), "{g1_id}");

        let err = cli.run(&["grants", "create", "--client-id", &c1, "--audience", "https://api.example.com"]).err().to_string();
        assert!(err.contains("already exists"), "[{backend}] duplicate grant: {err}");
        let err = cli
            .run(&["grants", "create", "--client-id", &c2, "--audience", "https://api.example.com", "--scope", "delete:x"])
            .err()
            .to_string();
        assert!(err.contains("delete:x"), "[{backend}] undefined scope: {err}");
        let err = cli.run(&["grants", "create", "--client-id", &c2, "--audience", "https://nope.example.com"]).err().to_string();
        assert!(err.contains("does not exist"), "[{backend}] unknown API: {err}");
        let err =
            cli.run(&["grants", "create", "--client-id", "nope", "--audience", "https://api.example.com"]).err().to_string();
        assert!(err.contains("does not exist"), "[{backend}] unknown client: {err}");

        // By API id too; the grant names the identifier.
        let g2 = cli.run(&["grants", "create", "--client-id", &c2, "--audience", &api_id, "--scope", "read:x", "--json"]).json();
        assert_eq!(g2["audience"], "https://api.example.com");
        assert_eq!(g2["scope"], json!(["read:x"]));

        let of_c1 = cli.run(&["grants", "list", "--client-id", &c1, "--json"]).json();
        assert_eq!(of_c1, json!([g1]), "[{backend}] grants of one client");
        assert_eq!(cli.run(&["grants", "list", "--json"]).json().as_array().unwrap().len(), 2);

        let g1b = cli.run(&["grants", "update", &g1_id, "--scope", "write:x", "--json"]).json();
        assert_eq!(g1b["scope"], json!(["write:x"]));
        assert_eq!(cli.run(&["grants", "show", &g1_id, "--json"]).json(), g1b);

        // Deleting the API removes its grants.
        cli.run(&["apis", "delete", "https://api.example.com"]).ok();
        assert_eq!(cli.run(&["grants", "list", "--json"]).json(), json!([]), "[{backend}] grants went with the API");
        cli.run(&["apis", "show", &api_id]).err();
    }
}

#[test]
fn an_api_with_a_new_algorithm_gets_keys_for_it() {
    let data = TestData::new(crate::support::Backend::Sqlite);
    let cli = Cli::new(&data);
    cli.run(&["apis", "create", "--identifier", "urn:example:ec", "--signing-alg", "ES256"]).ok();
    let keys = cli.run(&["keys", "list", "--json"]).json();
    let mut es: Vec<&str> = keys.as_array().unwrap().iter().filter(|k| k["alg"] == "ES256").map(|k| state_of(k)).collect();
    es.sort();
    assert_eq!(es, ["current", "next"], "{keys}");
}

#[test]
fn users_create_show_block_delete() {
    for backend in backends() {
        let data = TestData::new(backend);
        let cli = Cli::new(&data);
        let password = "correct horse battery";
        let created = cli
            .run_with_stdin(
                &["users", "create", "--email", "A@Example.com", "--password-stdin", "--json"],
                Some(&format!("{password}\n")),
            )
            .json();
        assert_eq!(created["email"], "a@example.com", "[{backend}] emails are stored lower-cased");
        assert_eq!(created["blocked"], false);
        let user_id = str_of(&created, "user_id").to_string();
        assert!(user_id.starts_with("auth0|"), "{user_id}");

        let shown_raw = cli.run(&["users", "show", "a@example.com", "--json"]);
        let shown = shown_raw.json();
        assert_eq!(shown, created, "[{backend}] show by email");
        for field in shown.as_object().unwrap().keys() {
            assert!(!field.contains("password"), "[{backend}] output has {field}");
        }
        assert!(!shown_raw.stdout.contains("argon2"), "[{backend}] no hash in the output");
        assert_eq!(cli.run(&["users", "show", &user_id, "--json"]).json(), created, "[{backend}] show by user_id");
        assert_eq!(cli.run(&["users", "show", "A@EXAMPLE.COM", "--json"]).json()["user_id"], user_id.as_str());

        // The stored hash is Argon2id of exactly the first stdin line.
        let uid = user_id.clone();
        let hash = with_deployment(&data, move |d| async move { d.store.get_user(&uid).await.unwrap().unwrap().password_hash });
        let hash = hash.expect("a password hash is stored");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(tessera_core::password::verify_password(password, &hash), "[{backend}] the stdin password was stored");
        assert!(!tessera_core::password::verify_password(&format!("{password}\n"), &hash));

        let blocked = cli.run(&["users", "block", "a@example.com", "--json"]).json();
        assert_eq!(blocked["blocked"], true);
        assert_eq!(cli.run(&["users", "show", &user_id, "--json"]).json()["blocked"], true, "[{backend}] block persisted");
        assert_eq!(cli.run(&["users", "unblock", &user_id, "--json"]).json()["blocked"], false);

        let err = cli
            .run_with_stdin(&["users", "create", "--email", "a@example.com", "--password-stdin"], Some("another-password\n"))
            .err()
            .to_string();
        assert!(err.contains("already exists"), "[{backend}] duplicate email: {err}");
        let err = cli
            .run_with_stdin(&["users", "create", "--email", "b@example.com", "--password-stdin"], Some("short\n"))
            .err()
            .to_string();
        assert!(err.contains("at least 8"), "[{backend}] short password: {err}");
        let listed = cli.run(&["users", "list", "--json"]).json();
        assert_eq!(listed.as_array().unwrap().len(), 1, "[{backend}] refused users were not created: {listed}");

        cli.run(&["users", "delete", "a@example.com"]).ok();
        let err = cli.run(&["users", "show", "a@example.com"]).err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}

fn keys_of(cli: &Cli, alg: &str) -> Vec<Value> {
    cli.run(&["keys", "list", "--json"]).json().as_array().unwrap().iter().filter(|k| k["alg"] == alg).cloned().collect()
}

/// A key's state from Auth0's flags (`keys list --json` prints the Management API's shape).
fn state_of(k: &Value) -> &'static str {
    let set: Vec<&str> = ["current", "next", "previous", "revoked"].into_iter().filter(|f| k[*f] == true).collect();
    match set[..] {
        ["current"] => "current",
        ["next"] => "next",
        ["previous"] => "retired",
        ["revoked"] => "revoked",
        _ => panic!("exactly one state flag in {k}"),
    }
}

fn kid_with_state(keys: &[Value], state: &str) -> String {
    let found: Vec<&Value> = keys.iter().filter(|k| state_of(k) == state).collect();
    assert_eq!(found.len(), 1, "exactly one {state} key in {keys:?}");
    str_of(found[0], "kid").to_string()
}

fn key_by_kid<'a>(keys: &'a [Value], kid: &str) -> &'a Value {
    keys.iter().find(|k| k["kid"] == kid).unwrap_or_else(|| panic!("{kid} not in {keys:?}"))
}

#[test]
fn keys_list_rotate_revoke() {
    for backend in backends() {
        let data = TestData::new(backend);
        let cli = Cli::new(&data);
        cli.run(&["migrate"]).ok();
        let keys = keys_of(&cli, "RS256");
        assert_eq!(keys.len(), 2, "[{backend}] a fresh deployment has current + next: {keys:?}");
        let current = kid_with_state(&keys, "current");
        let next = kid_with_state(&keys, "next");
        for k in &keys {
            assert_eq!(k["current_until"], Value::Null);
            assert_eq!(k["revoked_at"], Value::Null);
            assert_eq!(k["jwk"]["kid"], k["kid"], "the public key: {k}");
        }
        let current_key = key_by_kid(&keys, &current);
        assert!(current_key["current_since"].as_str().is_some_and(|t| t.ends_with('Z')), "RFC 3339 time: {current_key}");

        let rotated = cli.run(&["keys", "rotate", "--alg", "RS256", "--json"]).json();
        assert_eq!(rotated, json!({"alg": "RS256", "current": next}), "[{backend}] next becomes current");
        let keys = keys_of(&cli, "RS256");
        assert_eq!(keys.len(), 3, "[{backend}] {keys:?}");
        let old = key_by_kid(&keys, &current);
        assert_eq!(state_of(old), "retired", "[{backend}] old current retired");
        assert!(old["current_until"].is_string(), "[{backend}] retired at a time: {old}");
        assert!(old["current_until"].as_str() >= old["current_since"].as_str(), "retired after activation: {old}");
        assert_eq!(kid_with_state(&keys, "current"), next);
        let new_next = kid_with_state(&keys, "next");
        assert!(new_next != current && new_next != next);

        let revoked = cli.run(&["keys", "revoke", &current, "--json"]).json();
        assert_eq!(revoked, json!({"kid": current, "revoked": true, "was": "retired"}), "[{backend}]");
        let keys = keys_of(&cli, "RS256");
        assert_eq!(keys.len(), 3, "[{backend}] revoking a retired key adds none");
        assert_eq!(state_of(key_by_kid(&keys, &current)), "revoked");
        assert!(key_by_kid(&keys, &current)["revoked_at"].is_string(), "[{backend}] revoked at a time");
        let err = cli.run(&["keys", "revoke", &current]).err().to_string();
        assert!(err.contains("already revoked"), "[{backend}] {err}");
        cli.run(&["keys", "revoke", "no-such-kid"]).err();
        // kids are base64url and may start with '-': that is a value, not a flag.
        let err = cli.run(&["keys", "revoke", "-no-such-kid", "--json"]).err().to_string();
        assert!(err.contains("-no-such-kid") && err.contains("does not exist"), "[{backend}] {err}");

        // Revoking the current key promotes next and makes a new next.
        let was = cli.run(&["keys", "revoke", &next, "--json"]).json();
        assert_eq!(was["was"], "current");
        let keys = keys_of(&cli, "RS256");
        assert_eq!(kid_with_state(&keys, "current"), new_next, "[{backend}] next promoted on revocation");
        let newest = kid_with_state(&keys, "next");
        assert!(![&current, &next, &new_next].contains(&&newest));
    }
}

#[test]
fn invalid_input_is_refused_with_a_message() {
    let data = TestData::new(crate::support::Backend::Sqlite);
    let cli = Cli::new(&data);
    let err = cli.run(&["clients", "create", "--name", "Evil", "--callback", "http://evil.example.com/cb"]).err().to_string();
    assert!(err.contains("https"), "the refusal explains the scheme rule: {err}");
    assert!(err.contains("http://evil.example.com/cb"), "and names the URI: {err}");
    let err = cli.run(&["clients", "create", "--name", "Frag", "--callback", "https://app.example.com/cb#x"]).err().to_string();
    assert!(err.contains("fragment"), "{err}");
    assert_eq!(cli.run(&["clients", "list", "--json"]).json(), json!([]), "nothing was created");

    let err = cli.run(&["clients", "show", "no-such-client"]).err().to_string();
    assert!(err.contains("no-such-client") && err.contains("does not exist"), "{err}");
    cli.run(&["clients", "update", "no-such-client", "--name", "x"]).err();
    cli.run(&["clients", "rotate-secret", "no-such-client"]).err();
    let missing = cli.run(&["clients", "create"]);
    assert_eq!(missing.code, Some(2), "a missing --name is a usage error: {missing:?}");
    assert!(missing.stderr.contains("--name"), "{}", missing.stderr);

    // Usage errors come from clap: exit code 2 with the offending value named.
    let usage = cli.run(&["clients", "create", "--name", "X", "--app-type", "bogus"]);
    assert_eq!(usage.code, Some(2), "{usage:?}");
    assert!(usage.stderr.contains("bogus"), "{}", usage.stderr);
}

#[test]
fn tenant_default_audience() {
    let data = TestData::new(backends()[0]);
    let cli = Cli::new(&data);
    cli.run(&["migrate"]).ok();
    assert_eq!(cli.run(&["tenant", "show", "--json"]).json()["default_audience"], Value::Null);
    cli.run(&["apis", "create", "--identifier", "https://api.example.com", "--json"]).ok();
    let v = cli.run(&["tenant", "set", "--default-audience", "https://api.example.com", "--json"]).json();
    assert_eq!(v["default_audience"], "https://api.example.com");
    let bad = cli.run(&["tenant", "set", "--default-audience", "https://unknown.example"]);
    assert!(!bad.success && bad.stderr.contains("does not exist"), "{}", bad.stderr);
    assert_eq!(cli.run(&["tenant", "set", "--default-audience", "", "--json"]).json()["default_audience"], Value::Null);
}

#[test]
fn config_print_default_prints_valid_toml() {
    let dir = TempDir::new("print-default");
    let out = run_command(
        {
            let mut c = tessera_command(dir.path());
            c.args(["config", "print-default"]);
            c
        },
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("not TOML ({e}):\n{text}"));
    assert_eq!(table["listen"].as_str(), Some("127.0.0.1:8080"));
    let config: Config = toml::from_str(&text).expect("the printed file is a complete configuration");
    config.validate().expect("and a valid one");
    assert!(text.lines().filter(|l| l.starts_with('#')).count() > 5, "it is commented");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "printing the default touches no data");
}

/// Issue 17 ("every CLI call logs INFO lines to stderr"): a command's stderr carries only
/// warnings and errors unless a log level is asked for; `serve` keeps logging at info.
#[test]
fn commands_log_nothing_at_info_unless_asked() {
    let data = TestData::new(crate::support::Backend::Sqlite);
    let cli = Cli::new(&data);
    // The first command creates the deployment (migrations, keys): the noisiest there is.
    let first = cli.run(&["clients", "create", "--name", "Quiet", "--json"]);
    assert!(first.success, "{}", first.stderr);
    let db = std::path::absolute(data.dir.join("tessera.db")).unwrap();
    assert_eq!(first.stderr, format!("deployment: sqlite {}\n", db.display()), "only the deployment line on stderr");
    let verbose = Cli::new(&data).with_env("TESSERA_LOG_LEVEL", "info").run(&["apis", "list"]);
    assert!(verbose.success, "{}", verbose.stderr);
    let quiet = cli.run(&["apis", "create", "--identifier", "not a url with spaces"]);
    assert!(!quiet.success && quiet.stderr.contains("error"), "errors still reach stderr: {}", quiet.stderr);
}

/// Issue 17: the help showed `value:description` while the parser splits on `=`, so following
/// the help created the scope `read:things:Read`. The help now shows the form the parser
/// takes, and following it gives the described scope.
#[test]
fn apis_create_help_shows_the_scope_form_the_parser_takes() {
    let data = TestData::new(Backend::Sqlite);
    let cli = Cli::new(&data);
    let help = cli.run(&["apis", "create", "--help"]).ok().to_string();
    assert!(help.contains("`value=description`"), "{help}");
    assert!(!help.contains("value:description"), "{help}");
    let api = cli
        .run(&["apis", "create", "--identifier", "https://api.help.test", "--scope", "read:things=Read things", "--json"])
        .json();
    assert_eq!(api["scopes"], json!([{"value": "read:things", "description": "Read things"}]), "{api}");
}

/// Issue 17: yes/no options needed an explicit `true`. A bare option now means yes, and
/// `false` (as the next word or after `=`) still turns it off.
#[test]
fn yes_no_options_are_switches() {
    let data = TestData::new(Backend::Sqlite);
    let cli = Cli::new(&data);
    let c = cli.run(&["clients", "create", "--name", "Switch", "--first-party", "false", "--json"]).json();
    assert_eq!(c["is_first_party"], false, "{c}");
    let id = str_of(&c, "client_id").to_string();
    let c = cli.run(&["clients", "update", &id, "--first-party", "--json"]).json();
    assert_eq!(c["is_first_party"], true, "{c}");
    let c =
        cli.run(&["clients", "update", &id, "--first-party=false", "--require-pushed-authorization-requests", "--json"]).json();
    assert_eq!(
        (c["is_first_party"].clone(), c["require_pushed_authorization_requests"].clone()),
        (json!(false), json!(true)),
        "{c}"
    );
    let api = cli
        .run(&[
            "apis",
            "create",
            "--identifier",
            "https://api.switch.test",
            "--allow-offline-access",
            "--require-dpop=false",
            "--json",
        ])
        .json();
    assert_eq!(api["allow_offline_access"], true, "{api}");
}

/// Issue 17: the global options were mixed into every command's own. They now come after
/// them, under their own heading.
#[test]
fn a_commands_help_lists_its_own_options_before_the_global_ones() {
    let data = TestData::new(Backend::Sqlite);
    let help = Cli::new(&data).run(&["clients", "create", "--help"]).ok().to_string();
    let heading = help.find("Global options:").unwrap_or_else(|| panic!("no Global options heading:\n{help}"));
    for own in ["--name <NAME>", "--auth-method", "--callback", "--jwks-uri <URL>"] {
        let at = help.find(own).unwrap_or_else(|| panic!("{own} missing:\n{help}"));
        assert!(at < heading, "{own} is listed before the global options:\n{help}");
    }
    for global in ["--data-dir", "--database-url", "--config", "--json", "--new-deployment"] {
        let at = help.find(global).unwrap_or_else(|| panic!("{global} missing:\n{help}"));
        assert!(at > heading, "{global} is under Global options:\n{help}");
    }
    assert!(std::fs::read_dir(data.dir.path()).unwrap().next().is_none(), "help touches no data");
}

/// Issue 17: `create` showed its required options as optional. Clap now requires them:
/// the usage line names them and a call without them is a usage error (exit code 2).
#[test]
fn required_options_of_create_commands_are_required_by_the_parser() {
    let data = TestData::new(Backend::Sqlite);
    let cli = Cli::new(&data);
    let help = cli.run(&["clients", "create", "--help"]).ok().to_string();
    assert!(help.contains("Usage: tessera clients create [OPTIONS] --name <NAME>"), "{help}");
    let help = cli.run(&["apis", "create", "--help"]).ok().to_string();
    assert!(
        help.contains("--identifier <IDENTIFIER>") && help.contains("Usage: tessera apis create [OPTIONS] --identifier"),
        "{help}"
    );
    let cases: [(&[&str], &[&str]); 4] = [
        (&["clients", "create", "--app-type", "spa"], &["--name"]),
        (&["apis", "create", "--name", "No identifier"], &["--identifier"]),
        (&["users", "create", "--password", "long enough password"], &["--email", "--username"]),
        (&["issuers", "create", "--issuer", "https://idp.example", "--client", "c"], &["--jwks-file", "--jwks-uri"]),
    ];
    for (args, named) in cases {
        let r = cli.run(args);
        assert_eq!(r.code, Some(2), "`{}` is a usage error: {r:?}", args.join(" "));
        for n in named {
            assert!(r.stderr.contains(n), "`{}` names {n}: {}", args.join(" "), r.stderr);
        }
    }
    // Update keeps them optional.
    let c = cli.run(&["clients", "create", "--name", "Named", "--json"]).json();
    let id = str_of(&c, "client_id").to_string();
    assert_eq!(cli.run(&["clients", "update", &id, "--first-party", "false", "--json"]).json()["name"], "Named");
    let api = cli.run(&["apis", "create", "--identifier", "https://api.required.test", "--json"]).json();
    assert_eq!(api["name"], "https://api.required.test", "the name defaults to the identifier");
    assert_eq!(cli.run(&["apis", "update", "https://api.required.test", "--name", "R", "--json"]).json()["name"], "R");
    let user = cli.run(&["users", "create", "--username", "only-a-username", "--password", "long enough password", "--json"]);
    assert_eq!(user.json()["username"], "only-a-username");
}

/// Issue 17: a read-only command in the wrong directory (or with a relative --data-dir)
/// opened a new, empty deployment there and answered "no clients". Commands that need an
/// existing deployment now refuse, create nothing and say where they looked; every
/// command names the deployment it acts on, on stderr.
#[test]
fn commands_name_their_deployment_and_read_only_ones_refuse_a_missing_one() {
    let data = TestData::new(Backend::Sqlite);
    let cli = Cli::new(&data);
    let db = std::path::absolute(data.dir.join("tessera.db")).unwrap();
    let nothing_created = |when: &str| {
        let left: Vec<_> = std::fs::read_dir(data.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{when}: created {left:?}");
    };
    let read_only: [&[&str]; 7] = [
        &["clients", "list", "--json"],
        &["clients", "show", "some-client"],
        &["clients", "delete", "some-client"],
        &["apis", "list"],
        &["keys", "list"],
        &["tenant", "show"],
        &["backup", "/nonexistent/copy.db"],
    ];
    for args in read_only {
        let r = cli.run(args);
        let err = r.err();
        assert!(
            err.contains(&format!("no deployment at {}: the database does not exist", db.display()))
                && err.contains("tessera migrate")
                && err.contains("--data-dir"),
            "`{}`: {err}",
            args.join(" ")
        );
        assert!(r.stdout.is_empty(), "`{}` printed {}", args.join(" "), r.stdout);
        nothing_created(&args.join(" "));
    }

    // A relative --data-dir is resolved against the working directory, and named so.
    let cwd = TempDir::new("cwd");
    let mut cmd = tessera_command(cwd.path());
    cmd.args(["--data-dir", "rel/data", "users", "list"]);
    let out = run_command(cmd, None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let rel = std::path::absolute(cwd.join("rel/data/tessera.db")).unwrap();
    assert!(err.contains(&format!("deployment: sqlite {}\n", rel.display())), "{err}");
    assert!(err.contains(&format!("no deployment at {}", rel.display())), "{err}");
    assert!(!cwd.join("rel").exists(), "no data directory was created");

    // A command that creates may start the deployment; it names it too, and --json stdout
    // stays one document.
    let created = cli.run(&["clients", "create", "--name", "First", "--json"]);
    assert_eq!(created.stderr, format!("deployment: sqlite {}\n", db.display()));
    let id = str_of(&created.json(), "client_id").to_string();
    let listed = cli.run(&["clients", "list", "--json"]);
    assert_eq!(listed.json()[0]["client_id"], id.as_str());
    assert!(listed.stderr.starts_with(&format!("deployment: sqlite {}", db.display())), "{}", listed.stderr);
}

/// On PostgreSQL the deployment line names the hosts and the database, never a password.
#[test]
fn the_deployment_line_of_postgres_names_host_and_database_without_the_password() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let data = TestData::new(Backend::Postgres);
    let pg = data.pg.as_ref().unwrap();
    let url = url::Url::parse(&pg.url).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let r = Cli::new(&data).run(&["clients", "list", "--json"]);
    assert_eq!(r.json(), json!([]), "an empty PostgreSQL database is a deployment to open: {}", r.stderr);
    assert!(r.stderr.starts_with(&format!("deployment: postgres {host}/{}\n", pg.name)), "{}", r.stderr);
    let mut with_password = url.clone();
    with_password.set_password(Some("s3cret-pw")).unwrap();
    let mut cmd = tessera_command(data.dir.path());
    cmd.arg("--data-dir").arg(data.dir.path()).args(["--database-url", with_password.as_str(), "apis", "list"]);
    let err = String::from_utf8_lossy(&run_command(cmd, None).stderr).to_string();
    assert!(err.starts_with(&format!("deployment: postgres {host}/{}\n", pg.name)), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
}
