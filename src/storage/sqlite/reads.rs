//! Queries for the read commands (`sources`, `latest`, `stats`, `export`).
//!
//! They use their own read-only connection, so they are safe while the
//! daemon runs: WAL readers never block the writer and hold no write lock.
//! The commands are one-shot and synchronous; nothing here runs on an
//! async runtime. A read command never migrates, so columns added by a
//! later schema version are read only when the file has them.

use std::collections::HashMap;

use crate::model::http::Validators;
use crate::storage::StorageError;
use crate::storage::rows::{
    ArticleFilter, RoundRow, SourceRow, SourceStats, StoredArticle, attach_sources, decode_extras,
    merge_stories,
};
use rusqlite::{Connection, OptionalExtension, params_from_iter};

/// The columns [`article`] reads, each prefixed with `table` (`a.` or
/// nothing); placeholders for the ones an older schema lacks.
pub(super) fn article_columns(conn: &Connection, table: &str) -> rusqlite::Result<String> {
    let extra = if super::schema::version(conn)? >= 4 {
        format!(
            "{table}categories, {table}enclosure_url, {table}enclosure_type, {table}enclosure_length"
        )
    } else {
        "NULL, NULL, NULL, NULL".to_owned()
    };
    Ok(format!(
        "{table}id, {table}source, {table}title, {table}url, {table}published_at, {table}fetched_at, \
         {table}summary, {table}author, {table}origin, {extra}, {table}fingerprint"
    ))
}

/// Column of the fingerprint in [`article_columns`].
pub(super) const FINGERPRINT: usize = 13;

pub(super) fn article(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredArticle> {
    let (categories, enclosure) =
        decode_extras(row.get(9)?, row.get(10)?, row.get(11)?, row.get(12)?);
    Ok(StoredArticle {
        id: row.get(0)?,
        source: row.get(1)?,
        title: row.get(2)?,
        url: row.get(3)?,
        published_at: row.get(4)?,
        fetched_at: row.get(5)?,
        summary: row.get(6)?,
        author: row.get(7)?,
        origin: row.get(8)?,
        categories,
        enclosure,
        sources: Vec::new(),
    })
}

/// Newest first (by publication, else fetch time): see [`ArticleFilter`].
/// A source filter matches every story the source carried (its
/// `appearances`), not only those it was first to bring; each story lists
/// all its sources.
pub(crate) fn latest(
    conn: &Connection,
    filter: &ArticleFilter,
) -> rusqlite::Result<Vec<StoredArticle>> {
    let version = super::schema::version(conn)?;
    let mut sql = format!(
        "SELECT {} FROM articles WHERE 1 = 1",
        article_columns(conn, "")?
    );
    let mut args: Vec<String> = Vec::new();
    if !filter.sources.is_empty() {
        let marks = vec!["?"; filter.sources.len()].join(", ");
        if version >= 6 {
            sql.push_str(&format!(
                " AND id IN (SELECT article_id FROM appearances WHERE source IN ({marks}))"
            ));
        } else {
            sql.push_str(&format!(" AND source IN ({marks})"));
        }
        args.extend(filter.sources.iter().cloned());
    }
    if let Some(since) = &filter.since {
        sql.push_str(" AND coalesce(published_at, fetched_at) >= ?");
        args.push(since.clone());
    }
    let limit = filter.limit;
    // Over-fetch a little so stories merged below do not shorten the page.
    sql.push_str(&format!(
        " ORDER BY coalesce(published_at, fetched_at) DESC, id DESC LIMIT {}",
        limit.saturating_mul(3).max(limit)
    ));
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map(params_from_iter(args.iter()), |row| {
        Ok((article(row)?, row.get::<_, String>(FINGERPRINT)?))
    })?;
    let (mut out, merged) = merge_stories(rows, filter)?;
    let carriers = carriers(conn, version, &out)?;
    attach_sources(&mut out, &carriers, merged);
    Ok(out)
}

/// Sets each article's `sources`: every source that carried it, first
/// committer first (just its own source on a database without
/// `appearances`).
pub(super) fn fill_sources(
    conn: &Connection,
    version: i64,
    articles: &mut [StoredArticle],
) -> rusqlite::Result<()> {
    let carriers = carriers(conn, version, articles)?;
    attach_sources(articles, &carriers, HashMap::new());
    Ok(())
}

/// Every source that carried each of `articles`, first committer first.
fn carriers(
    conn: &Connection,
    version: i64,
    articles: &[StoredArticle],
) -> rusqlite::Result<HashMap<i64, Vec<String>>> {
    let mut found: HashMap<i64, Vec<String>> = HashMap::new();
    if version < 6 || articles.is_empty() {
        return Ok(found);
    }
    let ids: Vec<String> = articles.iter().map(|a| a.id.to_string()).collect();
    let mut statement = conn.prepare(&format!(
        "SELECT p.article_id, p.source FROM appearances p JOIN articles a ON a.id = p.article_id
         WHERE p.article_id IN ({})
         ORDER BY p.article_id, p.source <> a.source, p.first_seen, p.source",
        ids.join(", ")
    ))?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (id, source) = row?;
        found.entry(id).or_default().push(source);
    }
    Ok(found)
}

/// Full-text search over titles and summaries, best match first (bm25,
/// a title hit weighing ten times a summary hit), then newest. A query
/// FTS5 cannot parse is a [`StorageError::BadQuery`], not a database fault.
pub(crate) fn search(
    conn: &Connection,
    query: &str,
    limit: usize,
    sources: &[String],
) -> Result<Vec<StoredArticle>, StorageError> {
    let bad_query = |e: rusqlite::Error| match &e {
        // The schema is known to be there (the caller checked the version),
        // so a generic SQL error from MATCH is the query's fault.
        rusqlite::Error::SqliteFailure(failure, Some(message))
            if failure.code == rusqlite::ErrorCode::Unknown =>
        {
            StorageError::BadQuery {
                query: query.to_owned(),
                reason: message.clone(),
            }
        }
        _ => StorageError::Sqlite(e),
    };
    let version = super::schema::version(conn)?;
    // Sources are bound after the query and the limit (?1, ?2).
    let only = if sources.is_empty() {
        String::new()
    } else {
        let marks: Vec<String> = (0..sources.len()).map(|i| format!("?{}", i + 3)).collect();
        if version >= 6 {
            format!(
                " AND a.id IN (SELECT article_id FROM appearances WHERE source IN ({}))",
                marks.join(", ")
            )
        } else {
            format!(" AND a.source IN ({})", marks.join(", "))
        }
    };
    let mut statement = conn.prepare(&format!(
        "SELECT {}
         FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
         WHERE articles_fts MATCH ?1{only}
         ORDER BY bm25(articles_fts, 10.0, 1.0), coalesce(a.published_at, a.fetched_at) DESC
         LIMIT ?2",
        article_columns(conn, "a.")?
    ))?;
    let mut values: Vec<rusqlite::types::Value> = vec![
        query.to_owned().into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    values.extend(sources.iter().map(|s| s.clone().into()));
    let rows = statement
        .query_map(params_from_iter(values), article)
        .map_err(bad_query)?;
    let mut found: Vec<StoredArticle> = rows.collect::<rusqlite::Result<_>>().map_err(bad_query)?;
    fill_sources(conn, version, &mut found)?;
    Ok(found)
}

/// Articles stored after the full-text index's watermark.
pub(crate) fn unindexed(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT count(*) FROM articles WHERE id > (SELECT indexed_through FROM search_index)",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(|count| u64::try_from(count).unwrap_or(0))
}

/// The validators and remembered move stored for `source`, to send what
/// the daemon would send (`herald fetch --explain NAME`).
pub(crate) fn validators_of(
    conn: &Connection,
    source: &str,
) -> rusqlite::Result<(Option<Validators>, Option<String>)> {
    conn.query_row(
        "SELECT etag, last_modified, moved_to FROM sources WHERE name = ?1",
        [source],
        |row| {
            let etag: Option<String> = row.get(0)?;
            let last_modified: Option<String> = row.get(1)?;
            let validators = (etag.is_some() || last_modified.is_some()).then_some(Validators {
                etag,
                last_modified,
            });
            Ok((validators, row.get(2)?))
        },
    )
    .optional()
    .map(Option::unwrap_or_default)
}

/// The state of every source the database has seen, by name.
pub(crate) fn sources(conn: &Connection) -> rusqlite::Result<HashMap<String, SourceRow>> {
    // What the parser repaired in the last fetch that got an answer
    // (a database before version 4 does not record it).
    let version = super::schema::version(conn)?;
    // What each source carried, not only what it was first to bring.
    let carried = if version >= 6 {
        "(SELECT count(*) FROM appearances p WHERE p.source = s.name)"
    } else {
        "(SELECT count(*) FROM articles a WHERE a.source = s.name)"
    };
    let filtered = if version >= 7 {
        "(SELECT f.filtered FROM fetches f WHERE f.source = s.name ORDER BY f.id DESC LIMIT 1)"
    } else {
        "NULL"
    };
    let instance = if version >= 8 {
        "(SELECT f.instance FROM fetches f WHERE f.source = s.name ORDER BY f.id DESC LIMIT 1)"
    } else {
        "NULL"
    };
    let warnings = if version >= 4 {
        "(SELECT f.warnings FROM fetches f
          WHERE f.source = s.name AND f.status IN ('ok', 'not_modified', 'failed', 'timeout')
          ORDER BY f.id DESC LIMIT 1)"
    } else {
        "NULL"
    };
    let mut statement = conn.prepare(&format!(
        "SELECT s.name, s.last_success_at, s.last_attempt_at, s.last_status, s.last_error,
                s.consecutive_failures, s.paused_until, s.gone_at, s.moved_to, s.next_check_at,
                {carried},
                (SELECT f.new FROM fetches f WHERE f.source = s.name ORDER BY f.id DESC LIMIT 1),
                s.next_check_reason, {warnings}, {filtered}, {instance}
         FROM sources s"
    ))?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            SourceRow {
                last_success_at: row.get(1)?,
                last_attempt_at: row.get(2)?,
                last_status: row.get(3)?,
                last_error: row.get(4)?,
                consecutive_failures: row.get(5)?,
                paused_until: row.get(6)?,
                gone_at: row.get(7)?,
                moved_to: row.get(8)?,
                next_check_at: row.get(9)?,
                articles: row.get(10)?,
                last_new: row.get(11)?,
                next_check_reason: row.get(12)?,
                warnings: row
                    .get::<_, Option<String>>(13)?
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .unwrap_or_default(),
                last_filtered: row.get(14)?,
                last_instance: row.get(15)?,
            },
        ))
    })?;
    rows.collect()
}

/// The most recent `limit` finished rounds, newest first.
pub(crate) fn rounds(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<RoundRow>> {
    // A database not yet migrated to version 3 has no `interrupted` column.
    let interrupted = if super::schema::version(conn)? >= 3 {
        "interrupted"
    } else {
        "0"
    };
    let mut statement = conn.prepare(&format!(
        "SELECT id, trigger, started_at, planned, ok, failed, skipped, new, wall_ms, ideal_ms, {interrupted}
         FROM rounds WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = statement.query_map([limit as i64], |row| {
        Ok(RoundRow {
            id: row.get(0)?,
            trigger: row.get(1)?,
            started_at: row.get(2)?,
            sources: row.get(3)?,
            ok: row.get(4)?,
            failed: row.get(5)?,
            skipped: row.get(6)?,
            new: row.get(7)?,
            wall_ms: row.get(8)?,
            ideal_ms: row.get(9)?,
            interrupted: row.get(10)?,
        })
    })?;
    rows.collect()
}

/// Per-source latency and failure rate over the fetches of rounds ≥ `from_round`.
pub(crate) fn source_stats(
    conn: &Connection,
    from_round: i64,
) -> rusqlite::Result<Vec<SourceStats>> {
    let mut statement = conn.prepare(
        "SELECT source, count(*), avg(elapsed_ms),
                avg(CASE WHEN status IN ('failed', 'timeout') THEN 1.0 ELSE 0.0 END)
         FROM fetches WHERE round_id >= ?1 AND status != 'skipped'
         GROUP BY source ORDER BY source",
    )?;
    let rows = statement.query_map([from_round], |row| {
        Ok(SourceStats {
            source: row.get(0)?,
            fetches: row.get(1)?,
            avg_elapsed_ms: row.get(2)?,
            failure_rate: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// When the newest article was fetched, for feed `updated` stamps.
pub(crate) fn newest_fetch(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT max(fetched_at) FROM articles", [], |row| row.get(0))
        .optional()
        .map(Option::flatten)
}
