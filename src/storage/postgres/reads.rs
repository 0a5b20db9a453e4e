//! Queries for the read commands on PostgreSQL, as the SQLite store
//! answers them (same rows, same order, same story merging).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::model::http::Validators;
use crate::storage::StorageError;
use crate::storage::rows::{
    ArticleFilter, RoundRow, SourceRow, SourceStats, StoredArticle, attach_sources, decode_extras,
    merge_stories,
};

type Result<T> = std::result::Result<T, tokio_postgres::Error>;

/// The columns [`article`] reads (table alias `a`).
pub(super) const ARTICLE_COLUMNS: &str = "a.id, a.source, a.title, a.url, a.published_at, a.fetched_at, \
     a.summary, a.author, a.origin, a.categories, a.enclosure_url, a.enclosure_type, \
     a.enclosure_length, a.fingerprint";

pub(super) fn article(row: &Row) -> StoredArticle {
    let (categories, enclosure) = decode_extras(row.get(9), row.get(10), row.get(11), row.get(12));
    StoredArticle {
        id: row.get(0),
        source: row.get(1),
        title: row.get(2),
        url: row.get(3),
        published_at: row.get(4),
        fetched_at: row.get(5),
        summary: row.get(6),
        author: row.get(7),
        origin: row.get(8),
        categories,
        enclosure,
        sources: Vec::new(),
    }
}

/// Newest first, one line per story: see [`ArticleFilter`].
pub(crate) async fn latest(
    client: &impl GenericClient,
    filter: &ArticleFilter,
) -> Result<Vec<StoredArticle>> {
    let sources: Option<&[String]> = (!filter.sources.is_empty()).then_some(&filter.sources[..]);
    // Over-fetch a little so stories merged below do not shorten the page.
    let fetch = i64::try_from(filter.limit.saturating_mul(3).max(filter.limit)).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "SELECT {ARTICLE_COLUMNS} FROM articles a
                 WHERE ($1::text[] IS NULL OR a.id IN (SELECT article_id FROM appearances WHERE source = ANY($1)))
                   AND ($2::text IS NULL OR coalesce(a.published_at, a.fetched_at) >= $2)
                 ORDER BY coalesce(a.published_at, a.fetched_at) DESC, a.id DESC LIMIT $3"
            ),
            &[&sources, &filter.since, &fetch],
        )
        .await?;
    let (mut out, merged) = merge_stories(
        rows.iter()
            .map(|row| Ok::<_, tokio_postgres::Error>((article(row), row.get(13)))),
        filter,
    )?;
    let carriers = carriers(client, &out).await?;
    attach_sources(&mut out, &carriers, merged);
    Ok(out)
}

/// Sets each article's `sources`: every source that carried it.
pub(super) async fn fill_sources(
    client: &impl GenericClient,
    articles: &mut [StoredArticle],
) -> Result<()> {
    let carriers = carriers(client, articles).await?;
    attach_sources(articles, &carriers, HashMap::new());
    Ok(())
}

/// Every source that carried each of `articles`, first committer first.
async fn carriers(
    client: &impl GenericClient,
    articles: &[StoredArticle],
) -> Result<HashMap<i64, Vec<String>>> {
    let mut found: HashMap<i64, Vec<String>> = HashMap::new();
    if articles.is_empty() {
        return Ok(found);
    }
    let ids: Vec<i64> = articles.iter().map(|a| a.id).collect();
    let rows = client
        .query(
            "SELECT p.article_id, p.source FROM appearances p JOIN articles a ON a.id = p.article_id
             WHERE p.article_id = ANY($1)
             ORDER BY p.article_id, p.source <> a.source, p.first_seen, p.source",
            &[&ids],
        )
        .await?;
    for row in rows {
        found.entry(row.get(0)).or_default().push(row.get(1));
    }
    Ok(found)
}

/// Full-text search: `websearch_to_tsquery` (quoted phrases, `or`, `-word`;
/// it never refuses a query), ranked title over summary (weights A and B),
/// then newest. A query that is only stop words matches nothing.
pub(crate) async fn search(
    client: &impl GenericClient,
    query: &str,
    limit: usize,
    sources: &[String],
) -> std::result::Result<Vec<StoredArticle>, StorageError> {
    let only: Option<&[String]> = (!sources.is_empty()).then_some(sources);
    let rows = client
        .query(
            &format!(
                "SELECT {ARTICLE_COLUMNS}
                 FROM articles a, websearch_to_tsquery('english', $1) q
                 WHERE a.search @@ q
                   AND ($3::text[] IS NULL OR a.id IN (SELECT article_id FROM appearances WHERE source = ANY($3)))
                 ORDER BY ts_rank('{{0, 0, 0.1, 1.0}}', a.search, q) DESC,
                          coalesce(a.published_at, a.fetched_at) DESC
                 LIMIT $2"
            ),
            &[
                &query,
                &i64::try_from(limit).unwrap_or(i64::MAX),
                &only,
            ],
        )
        .await?;
    let mut found: Vec<StoredArticle> = rows.iter().map(article).collect();
    fill_sources(client, &mut found).await?;
    Ok(found)
}

/// The validators and remembered move stored for `source`.
pub(crate) async fn validators_of(
    client: &impl GenericClient,
    source: &str,
) -> Result<(Option<Validators>, Option<String>)> {
    let row = client
        .query_opt(
            "SELECT etag, last_modified, moved_to FROM sources WHERE name = $1",
            &[&source],
        )
        .await?;
    Ok(row.map_or((None, None), |row| {
        let etag: Option<String> = row.get(0);
        let last_modified: Option<String> = row.get(1);
        let validators = (etag.is_some() || last_modified.is_some()).then_some(Validators {
            etag,
            last_modified,
        });
        (validators, row.get(2))
    }))
}

/// The state of every source the database has seen, by name.
pub(crate) async fn sources(client: &impl GenericClient) -> Result<HashMap<String, SourceRow>> {
    let rows = client
        .query(
            "SELECT s.name, s.last_success_at, s.last_attempt_at, s.last_status, s.last_error,
                    s.consecutive_failures, s.paused_until, s.gone_at, s.moved_to, s.next_check_at,
                    (SELECT count(*) FROM appearances p WHERE p.source = s.name),
                    last.new, s.next_check_reason, warned.warnings, last.filtered, last.instance
             FROM sources s
             LEFT JOIN LATERAL (SELECT f.new, f.filtered, f.instance FROM fetches f
                                WHERE f.source = s.name ORDER BY f.id DESC LIMIT 1) last ON true
             LEFT JOIN LATERAL (SELECT f.warnings FROM fetches f
                                WHERE f.source = s.name AND f.status IN ('ok', 'not_modified', 'failed', 'timeout')
                                ORDER BY f.id DESC LIMIT 1) warned ON true",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get::<_, String>(0),
                SourceRow {
                    last_success_at: row.get(1),
                    last_attempt_at: row.get(2),
                    last_status: row.get(3),
                    last_error: row.get(4),
                    consecutive_failures: row.get(5),
                    paused_until: row.get(6),
                    gone_at: row.get(7),
                    moved_to: row.get(8),
                    next_check_at: row.get(9),
                    articles: row.get(10),
                    last_new: row.get(11),
                    next_check_reason: row.get(12),
                    warnings: row
                        .get::<_, Option<String>>(13)
                        .and_then(|json| serde_json::from_str(&json).ok())
                        .unwrap_or_default(),
                    last_filtered: row.get(14),
                    last_instance: row.get(15),
                },
            )
        })
        .collect())
}

/// The most recent `limit` finished rounds, newest first.
pub(crate) async fn rounds(client: &impl GenericClient, limit: usize) -> Result<Vec<RoundRow>> {
    let rows = client
        .query(
            "SELECT id, trigger, started_at, planned, ok, failed, skipped, new, wall_ms, ideal_ms, interrupted
             FROM rounds WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT $1",
            &[&i64::try_from(limit).unwrap_or(i64::MAX)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| RoundRow {
            id: row.get(0),
            trigger: row.get(1),
            started_at: row.get(2),
            sources: row.get(3),
            ok: row.get(4),
            failed: row.get(5),
            skipped: row.get(6),
            new: row.get(7),
            wall_ms: row.get(8),
            ideal_ms: row.get(9),
            interrupted: row.get::<_, i64>(10) != 0,
        })
        .collect())
}

/// Per-source latency and failure rate over the fetches of rounds ≥ `from_round`.
pub(crate) async fn source_stats(
    client: &impl GenericClient,
    from_round: i64,
) -> Result<Vec<SourceStats>> {
    let rows = client
        .query(
            "SELECT source, count(*), avg(elapsed_ms)::float8,
                    avg(CASE WHEN status IN ('failed', 'timeout') THEN 1.0 ELSE 0.0 END)::float8
             FROM fetches WHERE round_id >= $1 AND status != 'skipped'
             GROUP BY source ORDER BY source",
            &[&from_round],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| SourceStats {
            source: row.get(0),
            fetches: row.get(1),
            avg_elapsed_ms: row.get(2),
            failure_rate: row.get(3),
        })
        .collect())
}

/// When the newest article was fetched, for feed `updated` stamps.
pub(crate) async fn newest_fetch(client: &impl GenericClient) -> Result<Option<String>> {
    Ok(client
        .query_one("SELECT max(fetched_at) FROM articles", &[])
        .await?
        .get(0))
}
