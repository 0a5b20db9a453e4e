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
    // Opening again migrates nothing and keeps the data: the same schema,
    // byte for byte, and the first round's row still there.
    let schema = |conn: &rusqlite::Connection| -> Vec<String> {
        conn.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .expect("schema")
    };
    let before = schema(&conn);
    let first_round: String = conn
        .query_row("SELECT started_at FROM rounds WHERE id = 1", [], |r| {
            r.get(0)
        })
        .expect("round 1");
    let output = env.herald(&["once"]).await;
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(schema(&conn), before, "no migration ran again");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, herald::storage::CURRENT_VERSION);
    let rounds: Vec<(i64, String)> = conn
        .prepare("SELECT id, started_at FROM rounds ORDER BY id")
        .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("rounds");
    assert_eq!(rounds.len(), 2);
    assert_eq!(rounds[0], (1, first_round), "the first round is kept");
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
