//! The database file: fresh creation, migration, refusal of a newer schema.

mod common;

use std::time::{Duration, Instant};

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

/// Holds the database's write lock from another connection (as a backup or a
/// `sqlite3` shell would) for `hold`, starting once herald's requests are in
/// flight, so herald's commits meet the lock. Returns `herald once`'s report.
async fn once_against_a_lock(hold: Duration) -> (TestEnv, MockServer, serde_json::Value) {
    let server = MockServer::start().await.expect("mock server");
    let paths = ["/a.xml", "/b.xml", "/c.xml"];
    for path in paths {
        // A first answer to create the database, then new items that arrive
        // a second after they were asked for: the lock is taken meanwhile.
        server.route_sequence(
            path,
            vec![
                MockResponse::ok("application/rss+xml", rss_feed(&format!("{path}-v1"), 2)),
                MockResponse::ok("application/rss+xml", rss_feed(&format!("{path}-v2"), 3))
                    .delayed(Duration::from_secs(1)),
            ],
        );
    }
    let sources: Vec<String> = paths
        .iter()
        .map(|p| feed_source(&p[1..2], &server.url(p)))
        .collect();
    let env = TestEnv::new(&config("workers = 3", &sources));
    let (code, first) = env.once_json().await;
    assert_eq!(code, 0, "{first}");
    let second = env.once_json();
    let lock = async {
        let deadline = Instant::now() + Duration::from_secs(20);
        while paths.iter().any(|p| server.hits(p) < 2) {
            assert!(Instant::now() < deadline, "the second round never asked");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let db = env.db_path();
        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
        let holder = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(db).expect("open");
            conn.execute_batch("BEGIN EXCLUSIVE")
                .expect("take the write lock");
            let _ = locked_tx.send(());
            // The fault itself: the lock is held this long, whatever herald does.
            std::thread::sleep(hold);
            conn.execute_batch("COMMIT").expect("release");
        });
        locked_rx.await.expect("locked");
        holder
    };
    let ((code, report), holder) = tokio::join!(second, lock);
    holder.join().expect("the lock holder finished");
    assert_eq!(code, 0, "{report}");
    (env, server, report)
}

#[tokio::test]
async fn a_lock_shorter_than_busy_timeout_costs_only_waiting() {
    let (env, _server, report) = once_against_a_lock(Duration::from_secs(3)).await;
    assert_eq!(report["totals"]["ok"], 3, "{report:#}");
    assert_eq!(report["totals"]["failed"], 0, "{report:#}");
    assert_eq!(report["totals"]["new"], 9, "{report:#}");
    for line in report["sources"].as_array().expect("lines") {
        assert!(line.get("stored_late_ms").is_none(), "not late: {line}");
    }
    assert_eq!(env.article_count(), 15);
    env.assert_integrity();
}

#[tokio::test]
async fn a_long_lock_is_waited_out_and_nothing_fetched_is_lost() {
    let (env, server, report) = once_against_a_lock(Duration::from_secs(12)).await;
    assert_eq!(report["totals"]["ok"], 3, "{report:#}");
    assert_eq!(report["totals"]["failed"], 0, "{report:#}");
    assert_eq!(
        report["totals"]["new"], 9,
        "every article fetched during the lock is stored"
    );
    for line in report["sources"].as_array().expect("lines") {
        let late = line["stored_late_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("stored late, and says so: {report:#}"));
        assert!(late >= 5_000, "waited past busy_timeout: {line}");
    }
    for path in ["/a.xml", "/b.xml", "/c.xml"] {
        assert_eq!(server.hits(path), 2, "{path} was not fetched again");
    }
    assert_eq!(env.article_count(), 15);
    env.assert_integrity();
}

#[tokio::test]
async fn two_first_starts_at_once_one_writes_and_the_other_is_told_why() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/slow.xml", 2, Duration::from_millis(800));
    let env = TestEnv::new(&config(
        "",
        &[feed_source("slow", &server.url("/slow.xml"))],
    ));
    let (a, b) = tokio::join!(env.herald(&["once"]), env.herald(&["once"]));
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(3)], "one wins, one is refused");
    let refused = if a.status.code() == Some(3) { &a } else { &b };
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&env.db_path().display().to_string())
            && stderr.contains("herald once (PID ")
            && stderr.contains("one writer per database")
            && stderr.contains("wait for that round to finish"),
        "{stderr}"
    );
    assert_eq!(env.article_count(), 2);
    env.assert_integrity();
}

/// `herald search story --format json`: how many matches, and stderr.
async fn search(env: &TestEnv) -> (usize, String) {
    let output = env.herald(&["search", "story", "--format", "json"]).await;
    assert_eq!(output.status.code(), Some(0));
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    (
        found.as_array().map_or(0, Vec::len),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A crash between a commit and the indexing that follows it leaves
/// articles stored but not searchable: `search` says so, and the next
/// writer (here the next round) indexes them before anything else.
#[tokio::test]
async fn articles_a_crash_left_unindexed_are_searchable_after_the_next_start() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/feed.xml", 3, Duration::ZERO);
    let env = TestEnv::new(&config("", &[feed_source("one", &server.url("/feed.xml"))]));
    let (code, _) = env.once_json().await;
    assert_eq!(code, 0);
    let (found, note) = search(&env).await;
    assert_eq!(found, 3, "indexed at close");
    assert!(note.is_empty(), "{note}");

    // The state a kill -9 after the commit and before the indexing leaves.
    {
        let conn = env.db();
        conn.execute_batch(
            "INSERT INTO articles_fts (articles_fts) VALUES ('delete-all');
             UPDATE search_index SET indexed_through = 0;",
        )
        .expect("simulate the crash");
    }
    let (found, note) = search(&env).await;
    assert_eq!(found, 0);
    assert!(
        note.contains("the 3 newest article(s) are not in the search index yet"),
        "{note}"
    );

    let (code, _) = env.once_json().await;
    assert_eq!(code, 0);
    let (found, note) = search(&env).await;
    assert_eq!(found, 3, "indexed by the next writer");
    assert!(note.is_empty(), "{note}");
    env.assert_integrity();
}
