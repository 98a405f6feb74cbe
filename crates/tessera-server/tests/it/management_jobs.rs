//! Management API jobs (issue 18), on every store, over HTTP with real management tokens:
//! a users file in Auth0's bulk import format with a user of every supported hash type
//! (and bad ones), uploaded as multipart; the job's summary and errors checked exactly;
//! every imported user then logs in through the hosted login page with their old password,
//! which upgrades the stored hash to Argon2id; an upsert; exports in JSON and CSV by their
//! link; scopes and limits.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use tessera_core::registry::management_audience;

use crate::support_web::*;

const CONNECTION_ID: &str = "con_tessera_database";

pub struct Mgmt {
    pub token: String,
    client_id: String,
    secret: String,
}

impl Mgmt {
    pub async fn new(app: &WebApp) -> Self {
        let b = app.state.deployment.registry.bootstrap_management_client(&app.issuer).await.unwrap();
        let mut m = Self { token: String::new(), client_id: b.client_id, secret: b.client_secret.unwrap() };
        m.token = m.token_for(app, None).await;
        m
    }

    pub async fn token_for(&self, app: &WebApp, scope: Option<&str>) -> String {
        let audience = management_audience(&app.issuer);
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.as_str()),
            ("audience", audience.as_str()),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let v: Value =
            reqwest::Client::new().post(app.url("/oauth/token")).form(&form).send().await.unwrap().json().await.unwrap();
        v["access_token"].as_str().unwrap_or_else(|| panic!("no management token: {v}")).to_string()
    }
}

async fn body_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

pub async fn call(app: &WebApp, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, app.url(&format!("/api/v2{path}"))).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    body_of(req.send().await.unwrap()).await
}

/// A `multipart/form-data` body as a browser or SDK sends it: (content type, bytes).
fn multipart(fields: &[(&str, &str)], users: &str) -> (String, Vec<u8>) {
    let boundary = "----tessera-test-7d3f0a";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"users\"; filename=\"users.json\"\r\n\
         Content-Type: application/json\r\n\r\n{users}\r\n--{boundary}--\r\n"
    ));
    (format!("multipart/form-data; boundary={boundary}"), body.into_bytes())
}

async fn upload(app: &WebApp, token: &str, fields: &[(&str, &str)], users: &str) -> (u16, Value) {
    let (ct, body) = multipart(fields, users);
    let req = reqwest::Client::new()
        .post(app.url("/api/v2/jobs/users-imports"))
        .bearer_auth(token)
        .header("content-type", ct)
        .body(body);
    body_of(req.send().await.unwrap()).await
}

/// Polls the job until it has ended (bounded: the worker looks every second).
pub async fn wait_for_job(app: &WebApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, job) = call(app, token, reqwest::Method::GET, &format!("/jobs/{id}"), None).await;
        assert_eq!(s, 200, "{job}");
        if job["status"] == "completed" || job["status"] == "failed" {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} never ended: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn bcrypt_hash(password: &str, version: bcrypt::Version) -> String {
    bcrypt::hash_with_salt(password, 4, [9u8; 16]).unwrap().format_for_version(version)
}

fn argon2_hash(password: &str, algorithm: argon2::Algorithm) -> String {
    let params = argon2::Params::new(4096, 2, 1, None).unwrap();
    let salt = SaltString::encode_b64(b"an import salt").unwrap();
    argon2::Argon2::new(algorithm, argon2::Version::V0x13, params).hash_password(password.as_bytes(), &salt).unwrap().to_string()
}

/// Auth0's PBKDF2 form, made with ring (an implementation independent of the server's).
fn pbkdf2_hash(password: &str, sha512: bool) -> String {
    let (alg, len, name) =
        if sha512 { (ring::pbkdf2::PBKDF2_HMAC_SHA512, 64, "sha512") } else { (ring::pbkdf2::PBKDF2_HMAC_SHA256, 32, "sha256") };
    let salt = b"pbkdf2 salt bytes";
    let mut out = vec![0u8; len];
    ring::pbkdf2::derive(alg, NonZeroU32::new(1000).unwrap(), salt, password.as_bytes(), &mut out);
    format!("$pbkdf2-{name}$i=1000,l={len}${}${}", STANDARD_NO_PAD.encode(salt), STANDARD_NO_PAD.encode(out))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every hash type, each with its own password: (email, password, the file's user).
fn hashed_users() -> Vec<(&'static str, &'static str, Value)> {
    let sha256 = ring::digest::digest(&ring::digest::SHA256, b"pepper-1sha256 password 7");
    let salt = [0xfeu8, 0x01, 0x7a, 0x33];
    let sha512 = ring::digest::digest(&ring::digest::SHA512, &[b"sha512 password 8".as_slice(), &salt].concat());
    let custom = |alg: &str, value: String| json!({"algorithm": alg, "hash": {"value": value, "encoding": "utf8"}});
    vec![
        (
            "bcrypt@example.com",
            "bcrypt password 1",
            json!({"password_hash": bcrypt_hash("bcrypt password 1", bcrypt::Version::TwoB),
            "user_id": "legacy-1", "given_name": "Bea", "user_metadata": {"plan": "gold"}, "app_metadata": {"roles": ["admin"]}}),
        ),
        (
            "bcrypt-2a@example.com",
            "bcrypt password 2",
            json!({"custom_password_hash": custom("bcrypt", bcrypt_hash("bcrypt password 2", bcrypt::Version::TwoA))}),
        ),
        (
            "argon2id@example.com",
            "argon2 password 3",
            json!({"custom_password_hash": custom("argon2", argon2_hash("argon2 password 3", argon2::Algorithm::Argon2id))}),
        ),
        (
            "argon2i@example.com",
            "argon2 password 4",
            json!({"custom_password_hash": custom("argon2", argon2_hash("argon2 password 4", argon2::Algorithm::Argon2i))}),
        ),
        (
            "pbkdf2-256@example.com",
            "pbkdf2 password 5",
            json!({"custom_password_hash": custom("pbkdf2", pbkdf2_hash("pbkdf2 password 5", false))}),
        ),
        (
            "pbkdf2-512@example.com",
            "pbkdf2 password 6",
            json!({"custom_password_hash": custom("pbkdf2", pbkdf2_hash("pbkdf2 password 6", true))}),
        ),
        (
            "sha256@example.com",
            "sha256 password 7",
            json!({"email_verified": true, "custom_password_hash": {"algorithm": "sha256",
            "hash": {"value": hex(sha256.as_ref()), "encoding": "hex"},
            "salt": {"value": "pepper-1", "encoding": "utf8", "position": "prefix"}}}),
        ),
        (
            "sha512@example.com",
            "sha512 password 8",
            json!({"custom_password_hash": {"algorithm": "sha512",
            "hash": {"value": STANDARD.encode(sha512.as_ref()), "encoding": "base64"},
            "salt": {"value": STANDARD.encode(salt), "encoding": "base64", "position": "suffix"}}}),
        ),
    ]
}

async fn login(app: &WebApp, email: &str, password: &str) -> reqwest::Response {
    let b = Browser::new();
    let (txn, csrf) = b.open_login(&app.web_authorize(&[])).await;
    b.submit_login(app, &txn, &csrf, email, password).await
}

async fn stored_hash(app: &WebApp, email: &str) -> String {
    app.store().find_user_by_login(email).await.unwrap().unwrap().password_hash.unwrap()
}

#[tokio::test]
async fn an_import_of_every_hash_type_logs_each_user_in_and_upgrades_the_hash() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let m = Mgmt::new(&app).await;
        let mut file: Vec<Value> = hashed_users()
            .into_iter()
            .map(|(email, _, mut u)| {
                u["email"] = email.into();
                u
            })
            .collect();
        let bad = [
            json!({"name": "No Email", "password_hash": bcrypt_hash("whatever 1", bcrypt::Version::TwoB)}),
            json!({"email": "bad-hash@example.com", "custom_password_hash": {"algorithm": "sha256", "hash": {"value": "abcd", "encoding": "hex"}}}),
            json!({"email": EMAIL, "name": "Already here"}),
            json!({"email": "bcrypt@example.com", "name": "Twice in the file"}),
        ];
        file.extend(bad.iter().cloned());
        let (s, job) = upload(
            &app,
            &m.token,
            &[("connection_id", CONNECTION_ID), ("upsert", "false"), ("external_id", "ext-42")],
            &Value::Array(file).to_string(),
        )
        .await;
        assert_eq!(s, 201, "[{backend}] {job}");
        let id = job["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("job_") && id.len() == 20, "[{backend}] {id}");
        assert!(job["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "[{backend}] {job}");
        assert_eq!(
            job,
            json!({"id": id, "type": "users_import", "status": "pending", "created_at": job["created_at"],
                "connection_id": CONNECTION_ID, "connection": "Username-Password-Authentication", "upsert": false, "external_id": "ext-42"}),
            "[{backend}]"
        );

        let done = wait_for_job(&app, &m.token, &id).await;
        assert_eq!(done["status"], "completed", "[{backend}] {done}");
        assert_eq!(done["summary"], json!({"failed": 4, "updated": 0, "inserted": 8, "total": 12}), "[{backend}] {done}");
        let (s, errors) = call(&app, &m.token, reqwest::Method::GET, &format!("/jobs/{id}/errors"), None).await;
        assert_eq!(s, 200, "[{backend}] {errors}");
        let exists = json!([{"code": "DUPLICATED_USER", "message": "The user already exist.", "path": ""}]);
        assert_eq!(
            errors,
            json!([
                {"user": {"name": "No Email"}, "errors": [{"code": "OBJECT_MISSING_REQUIRED_PROPERTY", "message": "Missing required property: email", "path": "email"}]},
                {"user": {"email": "bad-hash@example.com"}, "errors": [{"code": "INVALID_FORMAT",
                    "message": "custom_password_hash.hash.value is not a sha256 digest (32 bytes)", "path": "custom_password_hash.hash.value"}]},
                {"user": bad[2], "errors": exists},
                {"user": bad[3], "errors": exists},
            ]),
            "[{backend}]"
        );

        // The profile and metadata came in as given (Auth0 prefixes the user_id).
        let (s, users) = call(&app, &m.token, reqwest::Method::GET, "/users?q=email:%22bcrypt@example.com%22", None).await;
        assert_eq!(s, 200, "[{backend}] {users}");
        let u = &users[0];
        assert_eq!(
            (u["user_id"].clone(), u["given_name"].clone(), u["user_metadata"].clone(), u["app_metadata"].clone()),
            (json!("auth0|legacy-1"), json!("Bea"), json!({"plan": "gold"}), json!({"roles": ["admin"]})),
            "[{backend}] {u}"
        );
        assert_eq!(u["name"], "bcrypt@example.com", "[{backend}] the file's second bcrypt@ entry changed nothing: {u}");

        for (email, password, _) in hashed_users() {
            assert!(stored_hash(&app, email).await.starts_with("imported:"), "[{backend}] {email} before its first login");
            let wrong = login(&app, email, "not the password").await;
            assert!(location(&wrong).ends_with("error=credentials"), "[{backend}] {email}: a wrong password fails");
            assert!(stored_hash(&app, email).await.starts_with("imported:"), "[{backend}] {email}: nothing upgraded on failure");

            let r = login(&app, email, password).await;
            assert_eq!(r.status(), 303, "[{backend}] {email}");
            assert!(location(&r).starts_with(CALLBACK), "[{backend}] {email} logged in with the old password: {}", location(&r));
            let upgraded = stored_hash(&app, email).await;
            assert!(upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "[{backend}] {email} upgraded: {upgraded}");
            // The old hash is gone; the password still works against the new one.
            let again = login(&app, email, password).await;
            assert!(location(&again).starts_with(CALLBACK), "[{backend}] {email} again");
            assert_eq!(stored_hash(&app, email).await, upgraded, "[{backend}] {email} upgraded once");
        }

        // upsert: an existing user is updated by email (here with a new imported password),
        // a new one inserted; no errors (204).
        let new_hash = bcrypt_hash("alice imported 9", bcrypt::Version::TwoB);
        let file = json!([{"email": EMAIL, "given_name": "Alicia", "password_hash": new_hash}, {"email": "new@example.com"}]);
        let (s, job) = upload(&app, &m.token, &[("connection_id", CONNECTION_ID), ("upsert", "true")], &file.to_string()).await;
        assert_eq!((s, job["upsert"].clone()), (201, json!(true)), "[{backend}] {job}");
        let done = wait_for_job(&app, &m.token, job["id"].as_str().unwrap()).await;
        assert_eq!(done["summary"], json!({"failed": 0, "updated": 1, "inserted": 1, "total": 2}), "[{backend}] {done}");
        let (s, none) =
            call(&app, &m.token, reqwest::Method::GET, &format!("/jobs/{}/errors", job["id"].as_str().unwrap()), None).await;
        assert_eq!((s, none), (204, Value::Null), "[{backend}]");
        let alice = app.store().find_user_by_login(EMAIL).await.unwrap().unwrap();
        assert_eq!((alice.given_name.as_deref(), alice.name.as_deref()), (Some("Alicia"), Some("Alice Example")), "[{backend}]");
        assert!(
            location(&login(&app, EMAIL, PASSWORD).await).ends_with("error=credentials"),
            "[{backend}] old password replaced"
        );
        assert!(location(&login(&app, EMAIL, "alice imported 9").await).starts_with(CALLBACK), "[{backend}] imported one works");
    }
}

#[tokio::test]
async fn imports_are_refused_without_scope_or_with_a_bad_upload() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let m = Mgmt::new(&app).await;
        let file = json!([{"email": "x@example.com"}]).to_string();
        let fields = [("connection_id", CONNECTION_ID)];

        let read_only = m.token_for(&app, Some("read:users")).await;
        let (s, v) = upload(&app, &read_only, &fields, &file).await;
        assert_eq!(
            (s, v),
            (
                403,
                json!({"statusCode": 403, "error": "Forbidden", "message": "Insufficient scope, expected any of: create:users", "errorCode": "insufficient_scope"})
            ),
            "[{backend}]"
        );
        let create_only = m.token_for(&app, Some("create:users")).await;
        let (s, v) =
            call(&app, &create_only, reqwest::Method::POST, "/jobs/users-exports", Some(json!({"format": "json"}))).await;
        assert_eq!((s, v["message"].clone()), (403, json!("Insufficient scope, expected any of: read:users")), "[{backend}] {v}");
        let (s, job) = upload(&app, &create_only, &fields, &file).await;
        assert_eq!(s, 201, "[{backend}] {job}");
        let path = format!("/jobs/{}", job["id"].as_str().unwrap());
        assert_eq!(
            call(&app, &create_only, reqwest::Method::GET, &path, None).await.0,
            200,
            "[{backend}] create:users reads its job"
        );
        let clients_only = m.token_for(&app, Some("read:clients")).await;
        let (s, v) = call(&app, &clients_only, reqwest::Method::GET, &path, None).await;
        assert_eq!(
            (s, v["message"].clone()),
            (403, json!("Insufficient scope, expected any of: create:users,read:users")),
            "[{backend}]"
        );
        let (s, v) = call(&app, &m.token, reqwest::Method::GET, "/jobs/job_doesnotexist0000", None).await;
        assert_eq!((s, v["errorCode"].clone()), (404, json!("inexistent_job")), "[{backend}] {v}");

        type Case<'a> = (Vec<(&'a str, &'a str)>, String, u16, &'a str);
        let cases: Vec<Case> = vec![
            (vec![], file.clone(), 400, "Payload validation error: Missing required property: connection_id"),
            (vec![("connection_id", "con_other")], file.clone(), 400, "The connection does not exist. (con_other)"),
            (
                vec![("connection_id", CONNECTION_ID), ("upsert", "yes")],
                file.clone(),
                400,
                "Payload validation error: upsert must be true or false, not \"yes\"",
            ),
            (
                vec![("connection_id", CONNECTION_ID), ("shoe", "9")],
                file.clone(),
                400,
                "Payload validation error: Additional properties not allowed: shoe",
            ),
            (
                fields.to_vec(),
                "{\"email\": \"x@example.com\"}".into(),
                400,
                "Payload validation error: the users file must be a JSON array of users",
            ),
            (
                fields.to_vec(),
                format!("[{}]", vec!["{\"email\":\"a@example.com\"}"; 25_000].join(",")),
                413,
                "Payload validation error: the users file is larger than 512000 bytes",
            ),
        ];
        for (fields, users, status, message) in cases {
            let (s, v) = upload(&app, &m.token, &fields, &users).await;
            assert_eq!((s, v["message"].clone()), (status, json!(message)), "[{backend}] {fields:?}: {v}");
        }
        let resp = reqwest::Client::new()
            .post(app.url("/api/v2/jobs/users-imports"))
            .bearer_auth(&m.token)
            .json(&json!({"users": [], "connection_id": CONNECTION_ID}))
            .send()
            .await
            .unwrap();
        let (s, v) = body_of(resp).await;
        assert_eq!((s, v["errorCode"].clone()), (400, json!("invalid_body")), "[{backend}] JSON instead of multipart: {v}");
    }
}

#[tokio::test]
async fn exports_write_users_without_hashes_to_an_expiring_link() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let m = Mgmt::new(&app).await;
        let file: Vec<Value> = hashed_users()
            .into_iter()
            .map(|(email, _, mut u)| {
                u["email"] = email.into();
                u
            })
            .collect();
        let (_, job) = upload(&app, &m.token, &[("connection_id", CONNECTION_ID)], &Value::Array(file).to_string()).await;
        wait_for_job(&app, &m.token, job["id"].as_str().unwrap()).await;
        let all = app.store().list_users(1000, 0).await.unwrap();
        assert_eq!(all.len(), 9, "[{backend}] alice and the eight imported users");

        // JSON: newline-delimited, the chosen fields under their export names.
        let fields = json!([{"name": "user_id"}, {"name": "email"}, {"name": "user_metadata.plan", "export_as": "plan"}]);
        let (s, job) = call(
            &app,
            &m.token,
            reqwest::Method::POST,
            "/jobs/users-exports",
            Some(json!({"connection_id": CONNECTION_ID, "format": "json", "fields": fields})),
        )
        .await;
        assert_eq!(s, 201, "[{backend}] {job}");
        assert_eq!(
            job,
            json!({"id": job["id"], "type": "users_export", "status": "pending", "created_at": job["created_at"], "connection_id": CONNECTION_ID,
                "connection": "Username-Password-Authentication", "format": "json", "fields": fields}),
            "[{backend}]"
        );
        let done = wait_for_job(&app, &m.token, job["id"].as_str().unwrap()).await;
        let location = done["location"].as_str().unwrap_or_else(|| panic!("[{backend}] no location: {done}")).to_string();
        let resp = reqwest::get(&location).await.unwrap();
        assert_eq!(resp.status(), 200, "[{backend}] the link works without a token");
        assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
        let text = resp.text().await.unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let expected: Vec<Value> = all
            .iter()
            .map(|u| {
                let mut v = json!({"user_id": u.user_id, "email": u.email});
                if u.email.as_deref() == Some("bcrypt@example.com") {
                    v["plan"] = "gold".into();
                }
                v
            })
            .collect();
        assert_eq!(lines, expected, "[{backend}]");

        // Whole users: Auth0's user objects, never a hash.
        let (_, job) = call(&app, &m.token, reqwest::Method::POST, "/jobs/users-exports", Some(json!({"format": "json"}))).await;
        let done = wait_for_job(&app, &m.token, job["id"].as_str().unwrap()).await;
        let text = reqwest::get(done["location"].as_str().unwrap()).await.unwrap().text().await.unwrap();
        assert_eq!(text.lines().count(), 9, "[{backend}]");
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["identities"][0]["connection"], "Username-Password-Authentication", "[{backend}] {first}");
        for needle in ["hash", "$2b$", "$argon2", "$pbkdf2", "imported:"] {
            assert!(!text.contains(needle), "[{backend}] the export holds {needle:?}: {text}");
        }

        // CSV, with a limit.
        let (_, job) = call(&app, &m.token, reqwest::Method::POST, "/jobs/users-exports",
            Some(json!({"format": "csv", "limit": 2, "fields": [{"name": "email"}, {"name": "email_verified", "export_as": "verified"}]}))).await;
        let done = wait_for_job(&app, &m.token, job["id"].as_str().unwrap()).await;
        let link = done["location"].as_str().unwrap().to_string();
        let resp = reqwest::get(&link).await.unwrap();
        assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
        let want: String = std::iter::once("email,verified\r\n".to_string())
            .chain(all[..2].iter().map(|u| format!("{},{}\r\n", u.email.as_deref().unwrap(), u.email_verified)))
            .collect();
        assert_eq!(resp.text().await.unwrap(), want, "[{backend}]");

        // A link with another signature, or past its hour, serves nothing.
        let forged = format!("{}x", link);
        assert_eq!(reqwest::get(&forged).await.unwrap().status(), 404, "[{backend}] forged");
        let (s, v) = call(
            &app,
            &m.token,
            reqwest::Method::POST,
            "/jobs/users-exports",
            Some(json!({"format": "json", "fields": [{"name": "password_hash"}]})),
        )
        .await;
        assert_eq!((s, v["errorCode"].clone()), (400, json!("invalid_body")), "[{backend}] no hash field: {v}");
        app.clock.advance(3601);
        assert_eq!(reqwest::get(&link).await.unwrap().status(), 404, "[{backend}] expired");
    }
}
