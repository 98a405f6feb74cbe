//! Starting fails closed: a bad configuration, a corrupt database, a wrong or missing
//! master key each stop the binary with a non-zero exit and a message naming the problem,
//! before any data is touched. And a running server stops gracefully on SIGTERM.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{backends, tessera_command, Backend, Cli, TempDir, TestData};

/// The SQLite database file and its write-ahead log, if present.
#[derive(Debug, PartialEq)]
struct DbFiles {
    db: Vec<u8>,
    wal: Option<Vec<u8>>,
}

/// Moves everything in the write-ahead log into the database file and empties the log, so
/// that any later write — to the file or to the log — shows up in [`db_files`]. (Whether a
/// previous process's exit left frames in the log is up to SQLite; a refused start that
/// merely checkpointed them would otherwise look like a write.)
fn checkpoint(dir: &Path) {
    let path = dir.join("tessera.db");
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
            use sqlx::{ConnectOptions, Connection};
            let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).connect().await.unwrap();
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        })
    })
    .join()
    .unwrap();
    let wal = std::fs::metadata(dir.join("tessera.db-wal")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal, 0, "the write-ahead log is empty after a checkpoint");
}

fn db_files(dir: &Path) -> DbFiles {
    DbFiles {
        db: std::fs::read(dir.join("tessera.db")).expect("tessera.db"),
        wal: std::fs::read(dir.join("tessera.db-wal")).ok(),
    }
}

/// The database file is byte-for-byte unchanged and no write reached its log: the WAL is
/// unchanged, or was absent and is now at most an empty file.
fn assert_untouched(before: &DbFiles, dir: &Path, what: &str) {
    let after = db_files(dir);
    assert!(after.db == before.db, "{what}: tessera.db changed ({} -> {} bytes)", before.db.len(), after.db.len());
    match (&before.wal, &after.wal) {
        (None, None) => {}
        (None, Some(w)) => assert!(w.is_empty(), "{what}: a write-ahead log with {} bytes appeared", w.len()),
        (Some(a), Some(b)) => assert!(a == b, "{what}: the write-ahead log changed"),
        (Some(_), None) => panic!("{what}: the write-ahead log disappeared"),
    }
}

fn write_config(dir: &TempDir, text: &str) -> String {
    let path = dir.join("bad.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_bad_config_file_is_refused_and_named() {
    let data = TestData::new(Backend::Sqlite);
    let cli = Cli::new(&data);
    let cases = [
        ("listen = \"127.0.0.1:1\"\nlisen = 3\n", "lisen"),
        ("[tokens]\ncode_lifetime = 9999\n", "code_lifetime"),
        ("[tokens]\ncode_lifetime = \"sixty\"\n", "code_lifetime"),
        ("[database]\nurl = \"mysql://db.example.com/x\"\n", "database.url"),
        ("[keys]\nreload_interval = 0\n", "reload_interval"),
        ("master_key = \"too-short\"\n", "master_key"),
        ("listen = [\n", "not valid TOML"),
    ];
    for (text, needle) in cases {
        let file = write_config(&data.dir, text);
        for cmd in [&["migrate"][..], &["serve"][..], &["clients", "list"][..]] {
            let mut args = vec!["--config", file.as_str()];
            args.extend_from_slice(cmd);
            let err = cli.run(&args).err().to_string();
            assert!(err.contains(needle), "config {text:?}, `{}`: the message should name {needle:?}: {err}", cmd.join(" "));
        }
    }
    assert!(!data.dir.join("tessera.db").exists(), "no database was created");
    assert!(!data.dir.join("master.key").exists(), "no master key was created");
}

#[test]
fn bad_environment_values_are_refused_and_named() {
    let data = TestData::new(Backend::Sqlite);
    let cases = [
        ("TESSERA_LISTEN", "nonsense", "listen"),
        ("TESSERA_CODE_LIFETIME", "abc", "TESSERA_CODE_LIFETIME"),
        ("TESSERA_ISSUER", "http://id.example.com/", "https"),
        ("TESSERA_LOG_FORMAT", "xml", "log.format"),
        ("TESSERA_MASTER_KEY", "not base64!", "master_key"),
    ];
    for (var, value, needle) in cases {
        let cli = Cli::new(&data).with_env(var, value);
        let err = cli.run(&["serve"]).err().to_string();
        assert!(err.contains(needle), "{var}={value}: the message should name {needle:?}: {err}");
    }
    // A bad listen flag too.
    let err = Cli::new(&data).run(&["serve", "--listen", "localhost"]).err().to_string();
    assert!(err.contains("listen") && err.contains("localhost"), "{err}");
    assert!(!data.dir.join("tessera.db").exists(), "no database was created");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let data = TestData::new(Backend::Sqlite);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(data.dir.join("tessera.db"), &garbage).unwrap();
    let before = db_files(data.dir.path());
    let cli = Cli::new(&data);
    for args in [&["migrate"][..], &["serve"][..], &["clients", "list"][..]] {
        let err = cli.run(args).err().to_string();
        assert!(err.contains("not a valid"), "`{}` should say the file is not a valid database: {err}", args.join(" "));
        assert_untouched(&before, data.dir.path(), &format!("`{}` on a garbage file", args.join(" ")));
    }
    assert!(!data.dir.join("master.key").exists(), "no master key was created for a database that did not open");
}

#[test]
fn a_corrupt_database_is_refused_untouched() {
    let data = TestData::new(Backend::Sqlite);
    let cli = Cli::new(&data);
    cli.run(&["migrate"]).ok();
    checkpoint(data.dir.path());
    // Keep the SQLite header, scramble the rest (the schema page included).
    let path = data.dir.join("tessera.db");
    let mut bytes = std::fs::read(&path).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(100) {
        *b = (i as u8).wrapping_mul(31) ^ 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let before = db_files(data.dir.path());
    for args in [&["migrate"][..], &["keys", "list"][..]] {
        let err = cli.run(args).err().to_string();
        assert!(err.contains("not a valid"), "`{}` should call the file invalid: {err}", args.join(" "));
        assert_untouched(&before, data.dir.path(), &format!("`{}` on a corrupt database", args.join(" ")));
    }
}

/// Base64 of 32 bytes that are not the deployment's key.
fn another_master_key() -> String {
    tessera_core::crypto::MasterKey::generate().to_base64()
}

#[test]
fn a_wrong_master_key_is_refused_without_touching_the_database() {
    for backend in backends() {
        let data = TestData::new(backend);
        let cli = Cli::new(&data);
        cli.run(&["clients", "create", "--name", "Existing"]).ok();
        let key_path = data.dir.join("master.key");
        let right_key = std::fs::read_to_string(&key_path).expect("the first start created master.key");
        let before = (backend == Backend::Sqlite).then(|| {
            checkpoint(data.dir.path());
            db_files(data.dir.path())
        });

        std::fs::write(&key_path, format!("{}\n", another_master_key())).unwrap();
        for args in [&["migrate"][..], &["serve"][..], &["clients", "list"][..]] {
            let err = cli.run(args).err().to_string();
            assert!(err.contains("master key"), "[{backend}] `{}` should blame the master key: {err}", args.join(" "));
            if let Some(before) = &before {
                assert_untouched(before, data.dir.path(), &format!("`{}` with a wrong key file", args.join(" ")));
            }
        }

        // The right key file with a wrong key in the environment: the environment wins, and is refused.
        std::fs::write(&key_path, &right_key).unwrap();
        let err = Cli::new(&data).with_env("TESSERA_MASTER_KEY", &another_master_key()).run(&["migrate"]).err().to_string();
        assert!(err.contains("master key"), "[{backend}] TESSERA_MASTER_KEY: {err}");
        if let Some(before) = &before {
            assert_untouched(before, data.dir.path(), "migrate with a wrong TESSERA_MASTER_KEY");
        }

        // With the right key everything is still there.
        let listed = cli.run(&["clients", "list", "--json"]).json();
        assert_eq!(listed[0]["name"], "Existing", "[{backend}] data intact: {listed}");
        let same_key_via_env = Cli::new(&data).with_env("TESSERA_MASTER_KEY", right_key.trim());
        same_key_via_env.run(&["migrate"]).ok();
    }
}

#[test]
fn a_missing_or_unreadable_master_key_is_refused() {
    for backend in backends() {
        let data = TestData::new(backend);
        let cli = Cli::new(&data);
        cli.run(&["migrate"]).ok();
        let key_path = data.dir.join("master.key");
        let right_key = std::fs::read_to_string(&key_path).unwrap();
        let before = (backend == Backend::Sqlite).then(|| {
            checkpoint(data.dir.path());
            db_files(data.dir.path())
        });

        std::fs::remove_file(&key_path).unwrap();
        for args in [&["migrate"][..], &["serve"][..]] {
            let err = cli.run(args).err().to_string();
            assert!(err.contains("master.key") && err.contains("refusing"), "[{backend}] `{}`: {err}", args.join(" "));
            assert!(!key_path.exists(), "[{backend}] no new key is made up for an initialised database");
            if let Some(before) = &before {
                assert_untouched(before, data.dir.path(), "start without master.key");
            }
        }

        std::fs::write(&key_path, "this is not a key\n").unwrap();
        let err = cli.run(&["migrate"]).err().to_string();
        assert!(err.contains("master key file"), "[{backend}] {err}");

        std::fs::write(&key_path, right_key).unwrap();
        cli.run(&["migrate"]).ok();
    }
}

#[cfg(unix)]
#[test]
fn the_master_key_file_and_data_dir_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = TempDir::new("private");
    let dir = parent.join("data");
    let mut cmd = tessera_command(parent.path());
    cmd.arg("--data-dir").arg(&dir).arg("migrate");
    let out = crate::support::run_command(cmd, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join("master.key")), 0o600, "master.key is readable by its owner only");
    assert_eq!(mode(&dir), 0o700, "a data directory created by tessera is private");
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn serve_becomes_ready_and_stops_gracefully_on_sigterm() {
    let data = TestData::new(Backend::Sqlite);
    let port = free_port();
    let mut cmd = tokio::process::Command::from(tessera_command(data.dir.path()));
    cmd.env("TESSERA_LOG_LEVEL", "info")
        .arg("--data-dir")
        .arg(data.dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn tessera serve");
    let pid = child.id().expect("pid");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let readyz = format!("http://127.0.0.1:{port}/readyz");

    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().await.unwrap();
            panic!("serve exited early ({status}): {}", String::from_utf8_lossy(&out.stderr));
        }
        if let Ok(resp) = http.get(&readyz).send().await {
            if resp.status() == 200 {
                break resp.json::<serde_json::Value>().await.unwrap();
            }
        }
        assert!(Instant::now() < deadline, "serve did not become ready within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["status"], "ready");
    assert_eq!(body["backend"], "sqlite");
    let discovery: serde_json::Value =
        http.get(format!("http://127.0.0.1:{port}/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["issuer"], format!("http://127.0.0.1:{port}/"), "the default issuer is the listen address");

    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("serve stops within 10 s of SIGTERM")
        .unwrap();
    assert!(out.status.success(), "graceful shutdown exits 0, got {}", out.status);
    // Logs go to stderr; piped (not a terminal), they are plain text without colour codes.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(!log.contains('\u{1b}'), "no terminal escape codes in a piped log: {log:?}");
    assert!(http.get(&readyz).send().await.is_err(), "nothing listens on the port after shutdown");
    // A clean stop leaves the database closed and reusable.
    Cli::new(&data).run(&["migrate"]).ok();
}
