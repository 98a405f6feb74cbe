//! Management API jobs through the Node `auth0` package's `ManagementClient` against a live
//! `tessera serve` over TLS (issue 18): the SDK uploads a users file in Auth0's bulk import
//! format (multipart, from a file stream) holding a bcrypt `custom_password_hash` user and a
//! user without an email, polls the job, reads its errors, exports the users and downloads
//! the export by its link. The test then checks from outside that the imported user signs in
//! with the old password (the password-realm grant) and that the export holds the user and
//! no hash.

use serde_json::{json, Value};

use crate::support::Backend;
use crate::support_live::{LiveOptions, LiveServer};
use crate::support_sdk::{run, sdk_available, Runtime};

const EMAIL: &str = "imported-by-node@example.com";
const PASSWORD: &str = "an old bcrypt password";
const REALM_GRANT: &str = "http://auth0.com/oauth/grant-type/password-realm";

/// The password-realm grant for `EMAIL`; (status, body).
async fn sign_in(live: &LiveServer, client: &(String, String), password: &str) -> (u16, Value) {
    let form = [
        ("grant_type", REALM_GRANT),
        ("username", EMAIL),
        ("password", password),
        ("realm", "Username-Password-Authentication"),
        ("scope", "openid email"),
        ("client_id", client.0.as_str()),
        ("client_secret", client.1.as_str()),
    ];
    let resp = live.http().post(live.url("/oauth/token")).form(&form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn node_management_client_imports_and_exports_users() {
    if !sdk_available(Runtime::Node) {
        return;
    }
    let live = LiveServer::start_with(Backend::Sqlite, &LiveOptions::tls().env("TESSERA_PASSWORD_GRANT", "true")).await;
    let issuer = live.issuer();
    let cli = live.cli();
    let boot = cli.run(&["--json", "admin", "bootstrap", "--issuer", &issuer]).json();
    let (id, secret) = (boot["client_id"].as_str().unwrap(), boot["client_secret"].as_str().unwrap());
    let app = cli
        .run(&["clients", "create", "--name", "Login", "--app-type", "regular_web", "--grant-type", REALM_GRANT, "--json"])
        .json();
    let client = (app["client_id"].as_str().unwrap().to_string(), app["client_secret"].as_str().unwrap().to_string());
    // The server's registry cache polls for changes made by the CLI every second.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    // The bcrypt hash is made here (no bcrypt package among the SDK's node_modules).
    let hash = bcrypt::hash_with_salt(PASSWORD, 4, [3u8; 16]).unwrap().format_for_version(bcrypt::Version::TwoB);
    let env = [
        ("CLIENT_ID", id),
        ("CLIENT_SECRET", secret),
        ("CONNECTION_ID", "con_tessera_database"),
        ("IMPORT_EMAIL", EMAIL),
        ("BCRYPT_HASH", hash.as_str()),
    ];
    let out = run(Runtime::Node, &live, "node/jobs.mjs", &env).await;

    let created = &out["created"];
    assert_eq!((&created["type"], &created["status"]), (&json!("users_import"), &json!("pending")), "{out}");
    assert!(created["id"].as_str().is_some_and(|j| j.starts_with("job_")), "{out}");
    assert_eq!(out["imported"]["status"], "completed", "{out}");
    assert_eq!(out["imported"]["summary"], json!({"failed": 1, "updated": 0, "inserted": 1, "total": 2}), "{out}");
    assert_eq!(
        out["errors"],
        json!([{"user": {"name": "No Email"}, "errors": [{"code": "OBJECT_MISSING_REQUIRED_PROPERTY",
            "message": "Missing required property: email", "path": "email"}]}]),
        "{out}"
    );
    assert_eq!(
        out["export"],
        json!({"type": "users_export", "status": "completed", "format": "json", "download_status": 200}),
        "{out}"
    );
    assert_eq!(out["export_lines"], json!([{"email": EMAIL, "name": "Imported by Node", "source": "node-sdk"}]), "{out}");
    assert!(!out["export_text"].as_str().unwrap().contains("$2b$"), "the export holds no hash: {out}");

    // The imported user signs in with the password it had before the import (and a wrong
    // one still fails), twice: the first sign-in upgrades the hash to Argon2id.
    let (s, v) = sign_in(&live, &client, "not the old password").await;
    assert_eq!((s, &v["error"]), (403, &json!("invalid_grant")), "{v}");
    for attempt in ["first", "after the upgrade"] {
        let (s, v) = sign_in(&live, &client, PASSWORD).await;
        assert_eq!(s, 200, "{attempt}: {v}");
        let (_, claims) = crate::oauth_fixture::jwt_parts(v["id_token"].as_str().unwrap());
        assert_eq!(claims["email"], EMAIL, "{attempt}: {claims}");
    }
    let users = cli.run(&["--json", "users", "list"]).json();
    let user = users.as_array().unwrap().iter().find(|u| u["email"] == EMAIL).unwrap_or_else(|| panic!("{users}"));
    assert_eq!(user["email_verified"], true, "{user}");
}
