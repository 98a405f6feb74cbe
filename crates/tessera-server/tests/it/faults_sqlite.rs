//! SQLite files under faults (issue 19, defects 5 and 6), driven through the CLI as an
//! operator would: a database file emptied to 0 bytes or missing next to an existing master
//! key stops the start unless `--new-deployment` asks for a new deployment.

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
