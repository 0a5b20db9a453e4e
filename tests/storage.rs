//! The database file: fresh creation, migration, refusal of a newer schema.

mod common;

use common::*;

#[tokio::test]
async fn a_fresh_file_is_created_and_migrated() {
    let env = TestEnv::new("[daemon]\ndatabase = \"data/news.db\"\n");
    let output = env.herald(&["once"]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = env.dir.path().join("data/news.db");
    let conn = rusqlite::Connection::open(&path).expect("database exists");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, herald::storage::CURRENT_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    for table in ["articles", "sources", "rounds", "fetches"] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .expect("schema query");
        assert_eq!(n, 1, "table {table}");
    }
    // Opening again migrates nothing and keeps the data.
    let output = env.herald(&["once"]).await;
    assert_eq!(output.status.code(), Some(0));
    let rounds: i64 = conn
        .query_row("SELECT count(*) FROM rounds", [], |r| r.get(0))
        .expect("rounds");
    assert_eq!(rounds, 2);
    assert_integrity(&path);
}

#[tokio::test]
async fn a_database_from_a_newer_herald_is_refused() {
    let env = TestEnv::new("");
    let conn = rusqlite::Connection::open(env.db_path()).expect("create");
    conn.pragma_update(None, "user_version", 999)
        .expect("set version");
    drop(conn);
    let output = env.herald(&["once"]).await;
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("newer than this herald understands"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&env.db_path().display().to_string()),
        "{stderr}"
    );
}
