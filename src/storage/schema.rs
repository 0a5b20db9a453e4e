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
];

/// The version a fully migrated database reports.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings `conn` up to [`CURRENT_VERSION`]; refuses a database from a newer herald.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > CURRENT_VERSION {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "database schema version {version} is newer than this herald understands ({CURRENT_VERSION}); upgrade herald"
            )),
        ));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
