//! The schema, as an ordered list of migrations keyed by `PRAGMA user_version`.
//!
//! A migration is never edited once released: a change is a new entry at the
//! end. Each runs in its own transaction together with the version bump, so a
//! crash mid-migration leaves the previous version intact.

use rusqlite::Connection;

/// Migration `i` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: articles, per-source state, rounds and their fetches.
    "
    CREATE TABLE articles (
        id           INTEGER PRIMARY KEY,
        source       TEXT NOT NULL,
        title        TEXT NOT NULL,
        url          TEXT NOT NULL UNIQUE,
        published_at TEXT,
        fetched_at   TEXT NOT NULL,
        summary      TEXT,
        author       TEXT,
        origin       TEXT,
        fingerprint  TEXT NOT NULL
    );
    CREATE INDEX articles_by_time ON articles (coalesce(published_at, fetched_at) DESC);
    CREATE INDEX articles_by_source ON articles (source, fetched_at DESC);

    CREATE TABLE sources (
        name                 TEXT PRIMARY KEY,
        last_attempt_at      TEXT,
        last_success_at      TEXT,
        last_status          TEXT,
        last_error           TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        etag                 TEXT,
        last_modified        TEXT,
        moved_to             TEXT,
        paused_until         TEXT,
        gone_at              TEXT,
        next_check_at        TEXT,
        next_check_reason    TEXT
    );

    CREATE TABLE hosts (
        host          TEXT PRIMARY KEY,
        backoff_until TEXT NOT NULL,
        backoff_s     INTEGER NOT NULL,
        reason        TEXT NOT NULL
    );

    CREATE TABLE rounds (
        id          INTEGER PRIMARY KEY,
        trigger     TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        planned     INTEGER NOT NULL,
        ok          INTEGER,
        failed      INTEGER,
        skipped     INTEGER,
        new         INTEGER,
        seen        INTEGER,
        wall_ms     INTEGER,
        ideal_ms    INTEGER
    );

    CREATE TABLE fetches (
        id          INTEGER PRIMARY KEY,
        round_id    INTEGER NOT NULL REFERENCES rounds (id),
        source      TEXT NOT NULL,
        status      TEXT NOT NULL,
        http_status INTEGER,
        elapsed_ms  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL,
        new         INTEGER NOT NULL,
        seen        INTEGER NOT NULL,
        dropped     INTEGER NOT NULL,
        failed_items INTEGER NOT NULL DEFAULT 0,
        error       TEXT,
        finished_at TEXT NOT NULL
    );
    CREATE INDEX fetches_by_round ON fetches (round_id);
    CREATE INDEX fetches_by_source ON fetches (source, id DESC);
    CREATE INDEX fetches_by_time ON fetches (finished_at);
    ",
    // 2: full-text search over titles and summaries. External-content FTS5
    // (the text lives once, in `articles`); `rebuild` indexes existing rows.
    // The writer indexes new rows itself, once per transaction
    // (`writes::index_pending`: an insert trigger measured 6.8× slower);
    // deletes and edits, rare, stay in sync through triggers. Porter stems
    // English words (`releases` finds `released`); accents are folded.
    "
    CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, summary,
        content = 'articles', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    INSERT INTO articles_fts (articles_fts) VALUES ('rebuild');
    CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
    END;
    CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, summary ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
        INSERT INTO articles_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END;
    ",
    // 3: a round a crash cut off is closed at the next start and marked.
    "
    ALTER TABLE rounds ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
    ",
    // 4: an article's categories (a JSON array) and first enclosure; what
    // the parser repaired to read each fetch (a JSON array).
    "
    ALTER TABLE articles ADD COLUMN categories TEXT;
    ALTER TABLE articles ADD COLUMN enclosure_url TEXT;
    ALTER TABLE articles ADD COLUMN enclosure_type TEXT;
    ALTER TABLE articles ADD COLUMN enclosure_length INTEGER;
    ALTER TABLE fetches ADD COLUMN warnings TEXT;
    ",
    // 5: the full-text index follows the articles instead of joining each
    // commit (`writer` indexes when idle, before each round and at close):
    // `search_index` records how far it has got. Deletes and edits touch
    // the index only for rows it holds; the others are indexed as they are.
    "
    CREATE TABLE search_index (
        only_row        INTEGER PRIMARY KEY CHECK (only_row = 1),
        indexed_through INTEGER NOT NULL
    );
    INSERT INTO search_index VALUES (1, (SELECT coalesce(max(id), 0) FROM articles));
    DROP TRIGGER articles_fts_delete;
    DROP TRIGGER articles_fts_update;
    CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles
    WHEN old.id <= (SELECT indexed_through FROM search_index) BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
    END;
    CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, summary ON articles
    WHEN old.id <= (SELECT indexed_through FROM search_index) BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
        INSERT INTO articles_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END;
    ",
    // 6: every source that carried an article, and when it first and last
    // served it. A story stays one row in `articles`; per-source views read
    // `appearances`, and retention keeps an article while any source still
    // serves it (so a pruned article never comes back as new while its
    // source keeps serving it). Existing rows become one appearance each.
    "
    CREATE TABLE appearances (
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        source     TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen  TEXT NOT NULL,
        PRIMARY KEY (article_id, source)
    ) WITHOUT ROWID;
    INSERT INTO appearances (article_id, source, first_seen, last_seen)
        SELECT id, source, fetched_at, fetched_at FROM articles;
    CREATE INDEX appearances_by_source ON appearances (source, first_seen DESC);
    ",
    // 7: items a source's include/exclude kept out, per fetch; and what
    // each [[notify]] rule has announced, so an article is announced at
    // most once per rule, across restarts (`notify_marks` is the highest
    // article id a rule has looked at).
    "
    ALTER TABLE fetches ADD COLUMN filtered INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE notify_marks (
        rule       TEXT PRIMARY KEY,
        through_id INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE notified (
        rule        TEXT NOT NULL,
        article_id  INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        notified_at TEXT NOT NULL,
        PRIMARY KEY (rule, article_id)
    ) WITHOUT ROWID;
    ",
    // 8: the instance (`[daemon] instance`) behind each round and fetch, as
    // a shared PostgreSQL database records it; one writer here, but the
    // rows read the same in both stores and copy across unchanged.
    "
    ALTER TABLE rounds ADD COLUMN instance TEXT;
    ALTER TABLE fetches ADD COLUMN instance TEXT;
    ",
];

/// The version a fully migrated database reports.
pub(crate) const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version `conn` is at (0 for a new, empty database).
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings `conn` up to [`CURRENT_VERSION`]; refuses a database from a newer herald.
///
/// The version is read once without a lock (an up-to-date database, the
/// common case, needs no write), then again inside an `IMMEDIATE`
/// transaction: the write lock is taken before the read, so two processes
/// starting at once cannot both see an old version and both migrate, and a
/// lock held elsewhere costs waiting (`busy_timeout`), not a failure.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let newer = |version: i64| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "database schema version {version} is newer than this herald understands ({CURRENT_VERSION}); upgrade herald"
            )),
        )
    };
    match version(conn)? {
        current if current == CURRENT_VERSION => return Ok(()),
        newer_version if newer_version > CURRENT_VERSION => return Err(newer(newer_version)),
        _ => {}
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found > CURRENT_VERSION {
        return Err(newer(found));
    }
    for sql in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", CURRENT_VERSION)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_migration_indexes_rows_that_already_exist() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        conn.execute_batch(MIGRATIONS[0]).expect("version 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute(
            "INSERT INTO articles (source, title, url, fetched_at, summary, fingerprint)
             VALUES ('s', 'Old headline', 'https://x.example/1', '2026-11-01T00:00:00Z', 'kept from before', 'f')",
            [],
        )
        .expect("row at version 1");
        migrate(&mut conn).expect("migrates");
        assert_eq!(version(&conn).expect("version"), CURRENT_VERSION);
        let count = |query: &str| -> i64 {
            conn.query_row(
                "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?1",
                [query],
                |row| row.get(0),
            )
            .expect("search")
        };
        assert_eq!(count("headline"), 1, "title indexed by the rebuild");
        assert_eq!(count("before"), 1, "summary indexed by the rebuild");
        conn.execute("DELETE FROM articles", []).expect("delete");
        assert_eq!(count("headline"), 0, "the delete trigger keeps it in sync");
    }

    #[test]
    fn two_processes_migrating_a_new_file_at_once_both_succeed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("race.db");
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut conn = Connection::open(&path).expect("open");
                    conn.busy_timeout(std::time::Duration::from_secs(10))
                        .expect("busy timeout");
                    migrate(&mut conn)
                })
            })
            .collect();
        for start in starts {
            start
                .join()
                .expect("no panic")
                .expect("migrates or finds it migrated");
        }
        let conn = Connection::open(&path).expect("open");
        assert_eq!(version(&conn).expect("version"), CURRENT_VERSION);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'articles'",
                [],
                |row| row.get(0),
            )
            .expect("schema");
        assert_eq!(tables, 1);
    }
}
