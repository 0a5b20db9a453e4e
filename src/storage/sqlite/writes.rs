//! The SQL behind each writer command. Runs only on the writer thread.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params, params_from_iter};

use std::collections::HashMap;

use crate::model::outcome::{FetchOutcome, FetchStatus, SourceMemory};
pub(crate) use crate::storage::rows::timestamp;
use crate::storage::rows::{CLOSE_ROUND, HostUpdate};
use crate::storage::rows::{
    MemoryColumns, NotifyClaim, RoundSummary, Stored, StoredArticle, json_list, parse_time,
};

pub(crate) fn begin_round(
    conn: &Connection,
    trigger: &str,
    started_at: DateTime<Utc>,
    planned: usize,
    instance: &str,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO rounds (trigger, started_at, planned, instance) VALUES (?1, ?2, ?3, ?4)",
        params![trigger, timestamp(started_at), planned as i64, instance],
    )?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn finish_round(conn: &Connection, s: &RoundSummary) -> rusqlite::Result<()> {
    let mut breaker = conn.prepare_cached(
        "INSERT INTO sources (name, consecutive_failures, paused_until, gone_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET consecutive_failures = ?2, paused_until = ?3,
             gone_at = coalesce(?4, gone_at)",
    )?;
    for (name, state) in &s.breaker {
        breaker.execute(params![
            name,
            state.consecutive_failures,
            state.paused_until.map(timestamp),
            state.gone_at.map(timestamp),
        ])?;
    }
    conn.execute(
        "UPDATE rounds SET finished_at = ?2, ok = ?3, failed = ?4, skipped = ?5, new = ?6,
                seen = ?7, wall_ms = ?8, ideal_ms = ?9
         WHERE id = ?1",
        params![
            s.round_id,
            timestamp(s.finished_at),
            s.ok as i64,
            s.failed as i64,
            s.skipped as i64,
            s.new as i64,
            s.seen as i64,
            s.wall_ms as i64,
            s.ideal_ms as i64,
        ],
    )?;
    Ok(())
}

/// The highest article id so far (0 when there are none).
pub(crate) fn last_article_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(id), 0) FROM articles")?
        .query_row([], |row| row.get(0))
}

/// The id up to which articles are in the full-text index.
pub(crate) fn indexed_through(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT indexed_through FROM search_index")?
        .query_row([], |row| row.get(0))
}

/// Adds up to `limit` articles not yet in the full-text index to it, oldest
/// first, in one transaction; returns how far the index now reaches.
///
/// One `INSERT … SELECT` over many rows, never a per-row trigger: FTS5
/// writes a segment per statement, so a trigger wrote one tiny segment per
/// article and then merged them (6.8× the cost of the whole insert), and
/// fewer, larger batches mean fewer segments to merge. Ids only grow (the
/// writer is the only writer and never reuses ids below the maximum), so
/// `id > indexed_through` is exactly what is missing.
pub(crate) fn index_pending(conn: &mut Connection, limit: usize) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let from = indexed_through(&tx)?;
    let through: Option<i64> = tx
        .prepare_cached(
            "SELECT max(id) FROM (SELECT id FROM articles WHERE id > ?1 ORDER BY id LIMIT ?2)",
        )?
        .query_row(params![from, limit as i64], |row| row.get(0))?;
    let Some(through) = through else {
        return Ok(from);
    };
    tx.prepare_cached(
        "INSERT INTO articles_fts (rowid, title, summary)
         SELECT id, title, summary FROM articles WHERE id > ?1 AND id <= ?2",
    )?
    .execute([from, through])?;
    tx.prepare_cached("UPDATE search_index SET indexed_through = ?1")?
        .execute([through])?;
    tx.commit()?;
    Ok(through)
}

/// Inserts the articles (a canonical URL already stored counts as seen), the
/// fetch row, and updates the source's state.
///
/// `shadow`: a dry run's scratch database with the live one attached as
/// `live`; an article stored there counts as seen.
pub(crate) fn record_fetch(
    conn: &Connection,
    round_id: i64,
    outcome: &FetchOutcome,
    shadow: bool,
    instance: &str,
) -> rusqlite::Result<Stored> {
    let fetched_at = timestamp(outcome.finished_at);
    // A source serving an article it served before refreshes `last_seen`
    // at most hourly: enough for retention, which counts in days, and a
    // feed re-served every few minutes costs no write.
    let refresh_before = timestamp(outcome.finished_at - chrono::Duration::hours(1));
    let mut stored = Stored::default();
    let mut existing = conn.prepare_cached("SELECT id FROM articles WHERE url = ?1")?;
    let mut appearance = conn.prepare_cached(
        "INSERT INTO appearances (article_id, source, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (article_id, source) DO UPDATE SET last_seen = excluded.last_seen
         WHERE appearances.last_seen < ?4",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO articles (source, title, url, published_at, fetched_at, summary, author, origin,
                               categories, enclosure_url, enclosure_type, enclosure_length, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10, ?11, ?12, ?13, ?9)
         ON CONFLICT (url) DO NOTHING",
    )?;
    let mut live = if shadow {
        Some(conn.prepare_cached("SELECT 1 FROM live.articles WHERE url = ?1")?)
    } else {
        None
    };
    for article in &outcome.articles {
        if let Some(live) = live.as_mut()
            && live.exists([&article.url])?
        {
            stored.seen += 1;
            continue;
        }
        let enclosure = article.enclosure.as_ref();
        let inserted = insert.execute(params![
            outcome.source,
            article.title,
            article.url,
            article.published_at.map(timestamp),
            fetched_at,
            article.summary,
            article.author,
            article.origin,
            article.fingerprint,
            json_list(&article.categories),
            enclosure.map(|e| e.url.as_str()),
            enclosure.and_then(|e| e.mime_type.as_deref()),
            enclosure
                .and_then(|e| e.length)
                .map(|l| i64::try_from(l).unwrap_or(i64::MAX)),
        ])?;
        let id = if inserted == 1 {
            stored.new += 1;
            conn.last_insert_rowid()
        } else {
            stored.seen += 1;
            existing.query_row([&article.url], |row| row.get(0))?
        };
        appearance.execute(params![id, outcome.source, fetched_at, refresh_before])?;
    }
    conn.prepare_cached(
        "INSERT INTO fetches (round_id, source, status, http_status, elapsed_ms, attempts, new, seen, dropped, failed_items, error, finished_at, warnings, filtered, instance)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        round_id,
        outcome.source,
        outcome.status.as_str(),
        outcome.http_status,
        outcome.elapsed.as_millis() as i64,
        outcome.attempts,
        stored.new as i64,
        stored.seen as i64,
        outcome.dropped as i64,
        outcome.failed_items as i64,
        outcome.error,
        fetched_at,
        json_list(&outcome.warnings),
        outcome.filtered as i64,
        instance,
    ])?;
    if outcome.cancelled {
        // Cut off by a shutdown: the source's state says what it last really did.
        return Ok(stored);
    }
    update_source(conn, outcome, &fetched_at)?;
    if let Some(validators) = &outcome.validators {
        // A 304 may omit the validators; keep the ones we have then.
        conn.prepare_cached(
            "UPDATE sources SET etag = coalesce(?2, CASE WHEN ?4 THEN etag END),
                                last_modified = coalesce(?3, CASE WHEN ?4 THEN last_modified END)
             WHERE name = ?1",
        )?
        .execute(params![
            outcome.source,
            validators.etag,
            validators.last_modified,
            outcome.status == FetchStatus::NotModified,
        ])?;
    }
    if outcome.status != FetchStatus::Skipped {
        // Every answer replaces the previous hint (or clears it).
        let next = outcome.next_check.as_ref().map(|hint| {
            let wait = hint.wait.min(crate::model::http::MAX_HINT_WAIT);
            let at = outcome.finished_at + chrono::Duration::from_std(wait).unwrap_or_default();
            (timestamp(at), hint.reason.clone())
        });
        conn.prepare_cached(
            "UPDATE sources SET next_check_at = ?2, next_check_reason = ?3 WHERE name = ?1",
        )?
        .execute(params![
            outcome.source,
            next.as_ref().map(|(at, _)| at),
            next.as_ref().map(|(_, reason)| reason),
        ])?;
    }
    if let Some(host) = &outcome.host {
        record_host(conn, host, outcome)?;
    }
    // A move carrying a credential is never stored (the engine does not
    // hand one over; this is the last line of defence).
    if let Some(moved) = outcome
        .moved_to
        .as_ref()
        .filter(|moved| !crate::model::secret::carries_credential(moved))
    {
        conn.prepare_cached("UPDATE sources SET moved_to = ?2 WHERE name = ?1")?
            .execute(params![outcome.source, moved.as_str()])?;
    }
    Ok(stored)
}

/// A rate limit (429, or a 403 that says so) or a 503 puts the whole host in
/// backoff: until the limit resets or Retry-After when given, else double
/// the last backoff (from one minute, at most a day). A successful answer
/// from the host ends it.
fn record_host(conn: &Connection, host: &str, outcome: &FetchOutcome) -> rusqlite::Result<()> {
    match HostUpdate::of(host, outcome) {
        HostUpdate::Backoff { asked_s, reason } => {
            conn.prepare_cached(
                "INSERT INTO hosts (host, backoff_s, backoff_until, reason)
                 VALUES (?1, coalesce(?2, 60), '', ?3)
                 ON CONFLICT (host) DO UPDATE SET
                     backoff_s = coalesce(?2, min(max(backoff_s * 2, 60), 86400)), reason = ?3",
            )?
            .execute(params![host, asked_s, reason])?;
            conn.prepare_cached(
                "UPDATE hosts SET backoff_until = strftime('%Y-%m-%dT%H:%M:%SZ', ?2, '+' || backoff_s || ' seconds')
                 WHERE host = ?1",
            )?
            .execute(params![host, timestamp(outcome.finished_at)])?;
        }
        HostUpdate::Clear => {
            conn.prepare_cached("DELETE FROM hosts WHERE host = ?1")?
                .execute([host])?;
        }
        HostUpdate::Nothing => {}
    }
    Ok(())
}

/// Hosts in backoff: `host:port` → (until, why).
pub(crate) fn host_backoffs(
    conn: &Connection,
) -> rusqlite::Result<HashMap<String, (DateTime<Utc>, String)>> {
    let mut statement = conn.prepare_cached("SELECT host, backoff_until, reason FROM hosts")?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            parse_time(row.get(1)?),
            row.get::<_, String>(2)?,
        ))
    })?;
    let mut hosts = HashMap::new();
    for row in rows {
        if let (host, Some(until), reason) = row? {
            hosts.insert(host, (until, reason));
        }
    }
    Ok(hosts)
}

/// Every source's persisted state; requests since `since` (if given) are
/// included for rate limits.
pub(crate) fn source_memory(
    conn: &Connection,
    since: Option<DateTime<Utc>>,
) -> rusqlite::Result<HashMap<String, SourceMemory>> {
    let mut statement = conn.prepare_cached(
        "SELECT name, etag, last_modified, moved_to, consecutive_failures, paused_until, gone_at,
                next_check_at, next_check_reason
         FROM sources",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            MemoryColumns {
                etag: row.get(1)?,
                last_modified: row.get(2)?,
                moved_to: row.get(3)?,
                consecutive_failures: row.get(4)?,
                paused_until: row.get(5)?,
                gone_at: row.get(6)?,
                next_check_at: row.get(7)?,
                next_check_reason: row.get(8)?,
            }
            .into_memory(),
        ))
    })?;
    let mut memory: HashMap<String, SourceMemory> = rows.collect::<rusqlite::Result<_>>()?;
    if let Some(since) = since {
        let mut recent = conn.prepare_cached(
            "SELECT source, finished_at, attempts FROM fetches WHERE finished_at >= ?1 AND status != 'skipped'",
        )?;
        let rows = recent.query_map([timestamp(since)], |row| {
            Ok((
                row.get::<_, String>(0)?,
                parse_time(row.get(1)?),
                row.get::<_, u32>(2)?,
            ))
        })?;
        for row in rows {
            let (source, at, attempts) = row?;
            if let Some(at) = at {
                memory
                    .entry(source)
                    .or_default()
                    .recent_requests
                    .push((at, attempts));
            }
        }
    }
    Ok(memory)
}

fn update_source(conn: &Connection, outcome: &FetchOutcome, at: &str) -> rusqlite::Result<()> {
    let status = outcome.status;
    // Failure counting and pausing belong to the breaker, applied when the
    // round ends (it needs the whole round to tell "offline" from "broken").
    if status.is_success() {
        conn.prepare_cached(
            "INSERT INTO sources (name, last_attempt_at, last_success_at, last_status, last_error)
             VALUES (?1, ?2, ?2, ?3, NULL)
             ON CONFLICT (name) DO UPDATE SET last_attempt_at = ?2, last_success_at = ?2,
                 last_status = ?3, last_error = NULL",
        )?
        .execute(params![outcome.source, at, status.as_str()])?;
    } else if status.is_failure() {
        conn.prepare_cached(
            "INSERT INTO sources (name, last_attempt_at, last_status, last_error)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET last_attempt_at = ?2, last_status = ?3, last_error = ?4",
        )?
        .execute(params![outcome.source, at, status.as_str(), outcome.error])?;
    }
    Ok(())
}

/// Closes the rounds a crash (kill -9, power loss) left open: only the one
/// writer holding the lock file gets here, so an open round belongs to a
/// process that is gone. Its totals are rebuilt from the fetch rows it did
/// commit, and it is marked `interrupted`. Returns how many were closed.
pub(crate) fn close_interrupted_rounds(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        &format!("UPDATE rounds SET {CLOSE_ROUND} WHERE finished_at IS NULL"),
        [],
    )
}

/// Whether any round is still open.
pub(crate) fn has_open_rounds(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM rounds WHERE finished_at IS NULL)",
        [],
        |row| row.get(0),
    )
}

/// A `[[notify]]` rule's new matches: the articles after its mark (the
/// highest id it has looked at; set to what existed before `claim.since`
/// the first time), carried by one of its sources, whose title or summary
/// matches. They are recorded in `notified` and the mark moves past them
/// in the caller's transaction, before anything is sent: an article is
/// announced at most once per rule, even if herald dies mid-delivery.
pub(crate) fn claim_notifications(
    conn: &Connection,
    claim: &NotifyClaim,
) -> rusqlite::Result<Vec<StoredArticle>> {
    conn.execute(
        "INSERT OR IGNORE INTO notify_marks (rule, through_id)
         VALUES (?1, (SELECT coalesce(max(id), 0) FROM articles WHERE fetched_at < ?2))",
        params![claim.rule, claim.since],
    )?;
    let mark: i64 = conn.query_row(
        "SELECT through_id FROM notify_marks WHERE rule = ?1",
        [&claim.rule],
        |row| row.get(0),
    )?;
    let mut sql = format!(
        "SELECT {} FROM articles WHERE id > ?1",
        super::reads::article_columns(conn, "")?
    );
    let mut values: Vec<rusqlite::types::Value> = vec![mark.into()];
    if !claim.sources.is_empty() {
        let marks: Vec<String> = (0..claim.sources.len())
            .map(|i| format!("?{}", i + 2))
            .collect();
        sql.push_str(&format!(
            " AND id IN (SELECT article_id FROM appearances WHERE source IN ({}))",
            marks.join(", ")
        ));
        values.extend(claim.sources.iter().map(|s| s.clone().into()));
    }
    sql.push_str(" ORDER BY id");
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(params_from_iter(values))?;
    let mut matched = Vec::new();
    let mut through = mark;
    while let Some(row) = rows.next()? {
        let article = super::reads::article(row)?;
        through = article.id;
        if claim
            .matcher
            .keeps(&article.title, article.summary.as_deref())
        {
            matched.push(article);
            if matched.len() == claim.limit {
                break;
            }
        }
    }
    // Nothing the rule could match is left behind the mark, matched or not.
    if matched.len() < claim.limit {
        through = through.max(conn.query_row(
            "SELECT coalesce(max(id), 0) FROM articles",
            [],
            |row| row.get::<_, i64>(0),
        )?);
    }
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut record = conn.prepare_cached(
        "INSERT OR IGNORE INTO notified (rule, article_id, notified_at) VALUES (?1, ?2, ?3)",
    )?;
    for article in &matched {
        record.execute(params![claim.rule, article.id, now])?;
    }
    conn.execute(
        "UPDATE notify_marks SET through_id = ?2 WHERE rule = ?1",
        params![claim.rule, through],
    )?;
    super::reads::fill_sources(conn, super::schema::version(conn)?, &mut matched)?;
    Ok(matched)
}
