//! SQLite files under faults (issue 19, defects 5 and 6), driven through the CLI as an
//! operator would: a database file emptied to 0 bytes or missing next to an existing master
//! key stops the start unless `--new-deployment` asks for a new deployment; a damaged data
//! page stops it too (`PRAGMA quick_check`); `tessera backup` taken while a node serves and
//! writes restores into a node that serves the same deployment.

use crate::support::{Backend, Cli, TestData};

fn remove_wal(data: &TestData) {
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data.dir.join(format!("tessera.db{ext}")));
    }
}

#[test]
fn an_empty_or_missing_database_next_to_a_master_key_is_refused_unless_a_new_deployment_is_asked_for() {
    let data = TestData::new(Backend::Sqlite);
    let cli = Cli::new(&data);
    cli.run(&["clients", "create", "--name", "Existing", "--json"]).ok();
    let db = data.dir.join("tessera.db");
    assert!(data.dir.join("master.key").is_file());

    let empty = || std::fs::write(&db, b"").unwrap();
    let missing = || std::fs::remove_file(&db).unwrap();
    for (what, lose) in [("is empty (0 bytes)", &empty as &dyn Fn()), ("does not exist", &missing)] {
        lose();
        remove_wal(&data);
        for args in [&["clients", "list"][..], &["migrate"], &["serve", "--listen", "127.0.0.1:0"]] {
            let err = cli.run(args).err().to_string();
            assert!(err.contains(what) && err.contains("master key") && err.contains("--new-deployment"), "{args:?}: {err}");
        }
        let after = std::fs::metadata(&db).map(|m| m.len()).ok();
        assert!(after.is_none_or(|l| l == 0), "{what}: nothing was written ({after:?})");
    }

    // Asked for: a new, empty deployment under the same master key file, which then opens
    // as usual.
    assert_eq!(cli.run(&["clients", "list", "--json", "--new-deployment"]).json(), serde_json::json!([]));
    assert_eq!(cli.run(&["clients", "list", "--json"]).json(), serde_json::json!([]));
}

/// The root page of `table` and the page size, read from the file.
fn page_of(db: &std::path::Path, table: &str) -> (u64, u64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let root: i64 = conn.query_row("SELECT rootpage FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0)).unwrap();
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    (root as u64, size as u64)
}

#[test]
fn a_damaged_data_page_stops_the_start() {
    let data = TestData::new(Backend::Sqlite);
    let cli = Cli::new(&data);
    cli.run(&["clients", "create", "--name", "Existing", "--json"]).ok();
    remove_wal(&data);
    let db = data.dir.join("tessera.db");
    // A page nothing reads at start: only the integrity check finds it.
    let (page, size) = page_of(&db, "audit_events");
    let mut bytes = std::fs::read(&db).unwrap();
    let at = ((page - 1) * size) as usize;
    bytes[at..at + size as usize].fill(0xA5);
    std::fs::write(&db, &bytes).unwrap();
    for args in [&["migrate"][..], &["serve", "--listen", "127.0.0.1:0"]] {
        let err = cli.run(args).err().to_string();
        assert!(err.contains("damaged") && err.contains("quick_check") && err.contains("refusing to start"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_serving_restores_and_serves() {
    use crate::faults_support::*;
    use crate::support_live::LiveServer;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let a = LiveServer::start_with(Backend::Sqlite, &node_options()).await;
    let m2m = seed_m2m(&a.cli());
    let http = http();
    let kept = access_token(&http, &a, &m2m).await;
    let revoked = access_token(&http, &a, &m2m).await;
    let r = http
        .post(a.url("/oauth/revoke"))
        .form(&[("token", revoked.as_str()), ("client_id", &m2m.id), ("client_secret", &m2m.secret)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Writes go on while the backup runs (revocations of fresh tokens).
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (http, url, m2m, stop) = (http.clone(), a.url(""), m2m.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let t = http
                    .post(format!("{url}/oauth/token"))
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("audience", API),
                        ("client_id", &m2m.id),
                        ("client_secret", &m2m.secret),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap();
                let token = t["access_token"].as_str().unwrap().to_string();
                let r = http
                    .post(format!("{url}/oauth/revoke"))
                    .form(&[("token", token.as_str()), ("client_id", &m2m.id), ("client_secret", &m2m.secret)])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let file = a.data.dir.join("backup.db");
    let out = a.cli().run(&["backup", file.to_str().unwrap(), "--json"]).json();
    assert_eq!(out["backup"], file.to_str().unwrap());
    stop.store(true, Ordering::SeqCst);
    assert!(load.await.unwrap() > 0, "writes ran during the backup");
    let err = a.cli().run(&["backup", file.to_str().unwrap()]).err().to_string();
    assert!(err.contains("already exists"), "{err}");
    let check: String = rusqlite::Connection::open(&file).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");

    // Restored on another machine: the backup and the master key, nothing else.
    let restored = TestData::new(Backend::Sqlite);
    std::fs::copy(&file, restored.dir.join("tessera.db")).unwrap();
    std::fs::copy(a.data.dir.join("master.key"), restored.dir.join("master.key")).unwrap();
    let b = LiveServer::start_on(Arc::new(restored), &node_options()).await;
    assert!(active_at(&http, &b, &m2m, &kept).await, "a token issued before the backup verifies on the restored node");
    assert!(!active_at(&http, &b, &m2m, &revoked).await, "a revocation before the backup holds on the restored node");
    let fresh = access_token(&http, &b, &m2m).await;
    assert!(active_at(&http, &a, &m2m, &fresh).await, "the restored node signs with the same keys");
}

/// A small tmpfs mounted on a directory for the life of the value (root only).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Self> {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A full disk under a serving node: writes answer 503 (never a false 200), `/readyz` says
/// not ready, and both recover once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_makes_writes_503_and_readyz_not_ready_until_space_is_freed() {
    use std::io::Write;
    use std::sync::Arc;

    use crate::faults_support::*;
    use crate::support_live::LiveServer;

    let data = Arc::new(TestData::new(Backend::Sqlite));
    let Some(_disk) = SmallDisk::mount(data.dir.path(), "6m") else {
        eprintln!("cannot mount a tmpfs here; skipping");
        return;
    };
    let node = LiveServer::start_on(data.clone(), &node_options()).await;
    let m2m = seed_m2m(&node.cli());
    let http = http();
    let readyz = || async { http.get(node.url("/readyz")).send().await.unwrap().status().as_u16() };
    assert_eq!(readyz().await, 200);

    let filler = data.dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0u8; 65536]).is_ok() {}
    let _ = f.sync_all();
    drop(f);

    let revoke = |token: String| {
        let (http, url, m2m) = (http.clone(), node.url("/oauth/revoke"), m2m.clone());
        async move {
            let r = http.post(url).form(&[("token", token.as_str()), ("client_id", &m2m.id), ("client_secret", &m2m.secret)]);
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            let retry = r.headers().contains_key("retry-after");
            (status, retry, r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for _ in 0..2000 {
        let token = access_token(&http, &node, &m2m).await;
        match revoke(token.clone()).await {
            (200, _, _) => acknowledged.push(token),
            other => {
                refused = Some((token, other));
                break;
            }
        }
    }
    let (unrevoked, (status, retry, body)) = refused.expect("a write failed on the full disk");
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert!(retry, "Retry-After");
    assert_eq!(readyz().await, 503, "a store that cannot write is not ready");
    assert_eq!(http.get(node.url("/healthz")).send().await.unwrap().status(), 200);

    std::fs::remove_file(&filler).unwrap();
    let started = std::time::Instant::now();
    while readyz().await != 200 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "not ready again after space was freed: {}",
            http.get(node.url("/readyz")).send().await.unwrap().text().await.unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(revoke(unrevoked.clone()).await.0, 200, "writes work again");
    for token in acknowledged.iter().chain([&unrevoked]) {
        assert!(!active_at(&http, &node, &m2m, token).await, "every acknowledged revocation holds");
    }
    let db = data.dir.join("tessera.db");
    let check: String = rusqlite::Connection::open(&db).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}
