//! The SQL behind each write on PostgreSQL. Every fetch commits in its own
//! transaction (the server runs many at once, so there is no group commit
//! to do); articles go in as arrays (`unnest`), a few statements per fetch
//! however many items it brought.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use crate::model::outcome::{FetchOutcome, FetchStatus, SourceMemory};
use crate::storage::rows::{
    CLOSE_ROUND, ClaimRequest, Claimed, HostUpdate, Memories, MemoryColumns, NotifyClaim,
    RoundSummary, Stored, StoredArticle, json_list, parse_time, timestamp,
};

type Result<T> = std::result::Result<T, tokio_postgres::Error>;

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) async fn begin_round(
    client: &impl GenericClient,
    trigger: &str,
    started_at: DateTime<Utc>,
    planned: usize,
    instance: &str,
) -> Result<i64> {
    let row = client
        .query_one(
            "INSERT INTO rounds (trigger, started_at, planned, instance) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&trigger, &timestamp(started_at), &count(planned), &instance],
        )
        .await?;
    Ok(row.get(0))
}

pub(crate) async fn finish_round(client: &impl GenericClient, s: &RoundSummary) -> Result<()> {
    for (name, state) in &s.breaker {
        client
            .execute(
                "INSERT INTO sources (name, consecutive_failures, paused_until, gone_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET consecutive_failures = $2, paused_until = $3,
                     gone_at = coalesce($4, sources.gone_at)",
                &[
                    name,
                    &i64::from(state.consecutive_failures),
                    &state.paused_until.map(timestamp),
                    &state.gone_at.map(timestamp),
                ],
            )
            .await?;
    }
    // With leases, a round plans what it claims: its planned count is what
    // it did.
    client
        .execute(
            "UPDATE rounds SET finished_at = $2, ok = $3, failed = $4, skipped = $5, new = $6,
                    seen = $7, wall_ms = $8, ideal_ms = $9, planned = $10
             WHERE id = $1",
            &[
                &s.round_id,
                &timestamp(s.finished_at),
                &count(s.ok),
                &count(s.failed),
                &count(s.skipped),
                &count(s.new),
                &count(s.seen),
                &i64::try_from(s.wall_ms).unwrap_or(i64::MAX),
                &i64::try_from(s.ideal_ms).unwrap_or(i64::MAX),
                &count(s.ok + s.failed + s.skipped),
            ],
        )
        .await?;
    Ok(())
}

/// Stores one fetch: its articles (a URL already stored counts as seen),
/// their appearances, the fetch row, the source's state, and hands the
/// source's lease back with its next due time, all in the caller's
/// transaction. A fetch cut off by shutdown gives the lease back without
/// moving the due time, so another instance fetches it in this slot.
pub(crate) async fn record_fetch(
    client: &impl GenericClient,
    round_id: i64,
    outcome: &FetchOutcome,
    instance: &str,
) -> Result<Stored> {
    let fetched_at = timestamp(outcome.finished_at);
    let refresh_before = timestamp(outcome.finished_at - chrono::Duration::hours(1));
    // One row per URL, in URL order: concurrent commits then take the
    // unique index's locks in the same order and cannot deadlock.
    let mut articles: Vec<_> = outcome.articles.iter().collect();
    articles.sort_by(|a, b| a.url.cmp(&b.url));
    articles.dedup_by(|a, b| a.url == b.url);
    let mut stored = Stored::default();
    if !articles.is_empty() {
        let urls: Vec<&str> = articles.iter().map(|a| a.url.as_str()).collect();
        let titles: Vec<&str> = articles.iter().map(|a| a.title.as_str()).collect();
        let published: Vec<Option<String>> = articles
            .iter()
            .map(|a| a.published_at.map(timestamp))
            .collect();
        let summaries: Vec<Option<&str>> = articles.iter().map(|a| a.summary.as_deref()).collect();
        let authors: Vec<Option<&str>> = articles.iter().map(|a| a.author.as_deref()).collect();
        let origins: Vec<Option<&str>> = articles.iter().map(|a| a.origin.as_deref()).collect();
        let categories: Vec<Option<String>> =
            articles.iter().map(|a| json_list(&a.categories)).collect();
        let enclosure_urls: Vec<Option<&str>> = articles
            .iter()
            .map(|a| a.enclosure.as_ref().map(|e| e.url.as_str()))
            .collect();
        let enclosure_types: Vec<Option<&str>> = articles
            .iter()
            .map(|a| a.enclosure.as_ref().and_then(|e| e.mime_type.as_deref()))
            .collect();
        let enclosure_lengths: Vec<Option<i64>> = articles
            .iter()
            .map(|a| {
                a.enclosure
                    .as_ref()
                    .and_then(|e| e.length)
                    .map(|l| i64::try_from(l).unwrap_or(i64::MAX))
            })
            .collect();
        let fingerprints: Vec<&str> = articles.iter().map(|a| a.fingerprint.as_str()).collect();
        let params: [&(dyn ToSql + Sync); 13] = [
            &outcome.source,
            &fetched_at,
            &urls,
            &titles,
            &published,
            &summaries,
            &authors,
            &origins,
            &categories,
            &enclosure_urls,
            &enclosure_types,
            &enclosure_lengths,
            &fingerprints,
        ];
        let inserted = client
            .query(
                "INSERT INTO articles (source, fetched_at, url, title, published_at, summary, author, origin,
                                       categories, enclosure_url, enclosure_type, enclosure_length, fingerprint)
                 SELECT $1, $2, t.* FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                               $8::text[], $9::text[], $10::text[], $11::text[], $12::int8[],
                                               $13::text[]) AS t
                 ON CONFLICT (url) DO NOTHING RETURNING id",
                &params,
            )
            .await?;
        stored.new = inserted.len();
        stored.seen = articles.len() - inserted.len();
        client
            .execute(
                "INSERT INTO appearances (article_id, source, first_seen, last_seen)
                 SELECT id, $2, $3, $3 FROM articles WHERE url = ANY($1) ORDER BY id
                 ON CONFLICT (article_id, source) DO UPDATE SET last_seen = excluded.last_seen
                 WHERE appearances.last_seen < $4",
                &[&urls, &outcome.source, &fetched_at, &refresh_before],
            )
            .await?;
    }
    client
        .execute(
            "INSERT INTO fetches (round_id, source, status, http_status, elapsed_ms, attempts, new, seen, dropped,
                                  failed_items, error, finished_at, warnings, filtered, instance)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            &[
                &round_id,
                &outcome.source,
                &outcome.status.as_str(),
                &outcome.http_status.map(i64::from),
                &i64::try_from(outcome.elapsed.as_millis()).unwrap_or(i64::MAX),
                &i64::from(outcome.attempts),
                &count(stored.new),
                &count(stored.seen),
                &count(outcome.dropped),
                &count(outcome.failed_items),
                &outcome.error,
                &fetched_at,
                &json_list(&outcome.warnings),
                &count(outcome.filtered),
                &instance,
            ],
        )
        .await?;
    release_lease(client, &outcome.source, instance, outcome.cancelled).await?;
    if outcome.cancelled {
        return Ok(stored);
    }
    update_source(client, outcome, &fetched_at).await?;
    Ok(stored)
}

/// Gives a source's lease back; unless the fetch was cut off, the source
/// is next due when its claim said. A lease another instance took over
/// (this one's expired) is left alone.
async fn release_lease(
    client: &impl GenericClient,
    source: &str,
    instance: &str,
    cancelled: bool,
) -> Result<()> {
    client
        .execute(
            "UPDATE sources SET
                 next_due = CASE WHEN $3 THEN next_due ELSE coalesce(due_after_fetch, next_due) END,
                 due_after_fetch = NULL, lease_until = NULL, leased_by = NULL
             WHERE name = $1 AND leased_by = $2",
            &[&source, &instance, &cancelled],
        )
        .await?;
    Ok(())
}

/// The source's last status, validators, server hint, host backoff and
/// move, as the SQLite store keeps them.
async fn update_source(
    client: &impl GenericClient,
    outcome: &FetchOutcome,
    at: &str,
) -> Result<()> {
    let status = outcome.status;
    if status.is_success() {
        client
            .execute(
                "INSERT INTO sources (name, last_attempt_at, last_success_at, last_status, last_error)
                 VALUES ($1, $2, $2, $3, NULL)
                 ON CONFLICT (name) DO UPDATE SET last_attempt_at = $2, last_success_at = $2,
                     last_status = $3, last_error = NULL",
                &[&outcome.source, &at, &status.as_str()],
            )
            .await?;
    } else if status.is_failure() {
        client
            .execute(
                "INSERT INTO sources (name, last_attempt_at, last_status, last_error)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET last_attempt_at = $2, last_status = $3, last_error = $4",
                &[&outcome.source, &at, &status.as_str(), &outcome.error],
            )
            .await?;
    }
    if let Some(validators) = &outcome.validators {
        client
            .execute(
                "UPDATE sources SET etag = coalesce($2, CASE WHEN $4 THEN etag END),
                                    last_modified = coalesce($3, CASE WHEN $4 THEN last_modified END)
                 WHERE name = $1",
                &[
                    &outcome.source,
                    &validators.etag,
                    &validators.last_modified,
                    &(status == FetchStatus::NotModified),
                ],
            )
            .await?;
    }
    if status != FetchStatus::Skipped {
        let next = outcome.next_check.as_ref().map(|hint| {
            let wait = hint.wait.min(crate::model::http::MAX_HINT_WAIT);
            let at = outcome.finished_at + chrono::Duration::from_std(wait).unwrap_or_default();
            (timestamp(at), hint.reason.clone())
        });
        client
            .execute(
                "UPDATE sources SET next_check_at = $2, next_check_reason = $3 WHERE name = $1",
                &[
                    &outcome.source,
                    &next.as_ref().map(|(at, _)| at),
                    &next.as_ref().map(|(_, reason)| reason),
                ],
            )
            .await?;
    }
    if let Some(host) = &outcome.host {
        record_host(client, host, outcome).await?;
    }
    if let Some(moved) = outcome
        .moved_to
        .as_ref()
        .filter(|moved| !crate::model::secret::carries_credential(moved))
    {
        client
            .execute(
                "UPDATE sources SET moved_to = $2 WHERE name = $1",
                &[&outcome.source, &moved.as_str()],
            )
            .await?;
    }
    Ok(())
}

/// Host backoff after a 429 / 503 (see the SQLite store's `record_host`):
/// kept in the database, so every instance backs off together.
async fn record_host(
    client: &impl GenericClient,
    host: &str,
    outcome: &FetchOutcome,
) -> Result<()> {
    match HostUpdate::of(host, outcome) {
        HostUpdate::Backoff { asked_s, reason } => {
            let row = client
                .query_one(
                    "INSERT INTO hosts (host, backoff_s, backoff_until, reason)
                     VALUES ($1, coalesce($2, 60), '', $3)
                     ON CONFLICT (host) DO UPDATE SET
                         backoff_s = coalesce($2, least(greatest(hosts.backoff_s * 2, 60), 86400)), reason = $3
                     RETURNING backoff_s",
                    &[&host, &asked_s, &reason],
                )
                .await?;
            let backoff: i64 = row.get(0);
            let until = outcome.finished_at + chrono::Duration::seconds(backoff);
            client
                .execute(
                    "UPDATE hosts SET backoff_until = $2 WHERE host = $1",
                    &[&host, &timestamp(until)],
                )
                .await?;
        }
        HostUpdate::Clear => {
            client
                .execute("DELETE FROM hosts WHERE host = $1", &[&host])
                .await?;
        }
        HostUpdate::Nothing => {}
    }
    Ok(())
}

/// Hosts in backoff: `host:port` → (until, why).
pub(crate) async fn host_backoffs(
    client: &impl GenericClient,
) -> Result<HashMap<String, (DateTime<Utc>, String)>> {
    let rows = client
        .query("SELECT host, backoff_until, reason FROM hosts", &[])
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let until = parse_time(row.get(1))?;
            Some((row.get(0), (until, row.get(2))))
        })
        .collect())
}

/// The state of `names` (every source when `None`), with requests since
/// `since` for rate limits.
pub(crate) async fn source_memory(
    client: &impl GenericClient,
    names: Option<&[String]>,
    since: Option<DateTime<Utc>>,
) -> Result<HashMap<String, SourceMemory>> {
    let rows = client
        .query(
            "SELECT name, etag, last_modified, moved_to, consecutive_failures, paused_until, gone_at,
                    next_check_at, next_check_reason
             FROM sources WHERE $1::text[] IS NULL OR name = ANY($1)",
            &[&names],
        )
        .await?;
    let mut memory: HashMap<String, SourceMemory> = rows
        .iter()
        .map(|row| {
            (
                row.get::<_, String>(0),
                MemoryColumns {
                    etag: row.get(1),
                    last_modified: row.get(2),
                    moved_to: row.get(3),
                    consecutive_failures: u32::try_from(row.get::<_, i64>(4)).unwrap_or(u32::MAX),
                    paused_until: row.get(5),
                    gone_at: row.get(6),
                    next_check_at: row.get(7),
                    next_check_reason: row.get(8),
                }
                .into_memory(),
            )
        })
        .collect();
    if let Some(since) = since {
        let rows = client
            .query(
                "SELECT source, finished_at, attempts FROM fetches
                 WHERE finished_at >= $1 AND status != 'skipped' AND ($2::text[] IS NULL OR source = ANY($2))",
                &[&timestamp(since), &names],
            )
            .await?;
        for row in rows {
            if let Some(at) = parse_time(row.get(1)) {
                memory
                    .entry(row.get(0))
                    .or_default()
                    .recent_requests
                    .push((at, u32::try_from(row.get::<_, i64>(2)).unwrap_or(u32::MAX)));
            }
        }
    }
    Ok(memory)
}

/// Leases up to `request.limit` of the candidates to `instance` for
/// `lease`: those due by the slot (or any, without a slot) that no live
/// lease holds, oldest due first. `FOR UPDATE SKIP LOCKED` lets instances
/// claiming at the same moment take disjoint sets without waiting on each
/// other. Returns what a round needs to know about each.
pub(crate) async fn claim(
    client: &mut deadpool_postgres::Client,
    request: &ClaimRequest,
    instance: &str,
    lease: std::time::Duration,
) -> Result<Claimed> {
    let names: Vec<&str> = request.candidates.iter().map(|(n, _)| n.as_str()).collect();
    let next: Vec<Option<DateTime<Utc>>> = request.candidates.iter().map(|(_, d)| *d).collect();
    if request.first {
        // Sources new to the database get their row (due at once); every
        // row records its schedule, which keyed claims look rows up by.
        client
            .execute(
                "INSERT INTO sources (name, schedule) SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (name) DO UPDATE SET schedule = excluded.schedule
                 WHERE sources.schedule IS DISTINCT FROM excluded.schedule",
                &[&names, &request.schedules],
            )
            .await?;
    }
    let tx = client.transaction().await?;
    let rows = match (&request.schedule, request.slot) {
        (Some(schedule), Some(slot)) => {
            // One schedule, one slot: the `sources_due` index yields the due
            // rows in order; no list of names travels.
            let after_fetch = next.first().copied().flatten();
            tx.query(
                "WITH due AS (
                     SELECT name FROM sources
                     WHERE schedule = $1 AND (next_due IS NULL OR next_due <= $2)
                       AND (lease_until IS NULL OR lease_until < now())
                     ORDER BY next_due NULLS FIRST, name
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED
                 )
                 UPDATE sources s SET lease_until = now() + make_interval(secs => $4),
                                      leased_by = $5, due_after_fetch = $6, claimed_at = now()
                 FROM due WHERE s.name = due.name
                 RETURNING s.name",
                &[
                    schedule,
                    &slot,
                    &count(request.limit),
                    &lease.as_secs_f64(),
                    &instance,
                    &after_fetch,
                ],
            )
            .await?
        }
        _ => {
            tx.query(
                "WITH due AS (
                     SELECT name FROM sources
                     WHERE name = ANY($1)
                       AND CASE WHEN $3::timestamptz IS NULL
                                THEN claimed_at IS NULL OR claimed_at < $7
                                ELSE next_due IS NULL OR next_due <= $3 END
                       AND (lease_until IS NULL OR lease_until < now())
                     ORDER BY next_due NULLS FIRST, name
                     LIMIT $4
                     FOR UPDATE SKIP LOCKED
                 ), plan AS (
                     SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS p(name, next)
                 )
                 UPDATE sources s SET lease_until = now() + make_interval(secs => $5),
                                      leased_by = $6, due_after_fetch = plan.next, claimed_at = now()
                 FROM due JOIN plan USING (name)
                 WHERE s.name = due.name
                 RETURNING s.name",
                &[
                    &names,
                    &next,
                    &request.slot,
                    &count(request.limit),
                    &lease.as_secs_f64(),
                    &instance,
                    &request.started,
                ],
            )
            .await?
        }
    };
    let claimed: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    tx.commit().await?;
    if claimed.is_empty() {
        // SKIP LOCKED passes over rows another claim holds for a moment; a
        // plain read (it never waits on row locks) says whether any due,
        // unleased source is left, or the round is really done.
        let contended: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM sources
                 WHERE CASE WHEN $4::text IS NOT NULL AND $2::timestamptz IS NOT NULL
                            THEN schedule = $4 ELSE name = ANY($1) END
                   AND CASE WHEN $2::timestamptz IS NULL
                            THEN claimed_at IS NULL OR claimed_at < $3
                            ELSE next_due IS NULL OR next_due <= $2 END
                   AND (lease_until IS NULL OR lease_until < now()))",
                &[&names, &request.slot, &request.started, &request.schedule],
            )
            .await?
            .get(0);
        return Ok(Claimed {
            contended,
            ..Claimed::default()
        });
    }
    let sources = source_memory(&*client, Some(&claimed), request.since).await?;
    let hosts = host_backoffs(&*client).await?;
    Ok(Claimed {
        names: claimed,
        memories: Memories { sources, hosts },
        contended: false,
    })
}

/// Gives back the leases on `names` without fetching them (a keyed claim
/// found sources this instance's config does not have): they are next due
/// at the following slot.
pub(crate) async fn release(
    client: &impl GenericClient,
    names: &[String],
    instance: &str,
) -> Result<u64> {
    client
        .execute(
            "UPDATE sources SET next_due = coalesce(due_after_fetch, next_due), due_after_fetch = NULL,
                                lease_until = NULL, leased_by = NULL
             WHERE name = ANY($1) AND leased_by = $2",
            &[&names, &instance],
        )
        .await
}

/// Gives back every lease `instance` holds (a clean shutdown), so other
/// instances need not wait for them to expire.
pub(crate) async fn release_all(client: &impl GenericClient, instance: &str) -> Result<u64> {
    client
        .execute(
            "UPDATE sources SET lease_until = NULL, leased_by = NULL, due_after_fetch = NULL
             WHERE leased_by = $1",
            &[&instance],
        )
        .await
}

/// Records this instance and its config digest (and forgets instances
/// stopped more than a week ago: default names change at every start);
/// returns the other instances seen within `recent` whose digest differs.
pub(crate) async fn register_instance(
    client: &impl GenericClient,
    instance: &str,
    digest: &str,
    recent: std::time::Duration,
) -> Result<Vec<(String, String)>> {
    let twin = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM instances WHERE name = $1 AND stopped_at IS NULL
                            AND seen_at > now() - make_interval(secs => $2))",
            &[&instance, &recent.as_secs_f64()],
        )
        .await?
        .get::<_, bool>(0);
    if twin {
        tracing::warn!(
            instance,
            "an instance of this name was running moments ago (or was killed): two running instances must not share [daemon] instance, or they release each other's leases"
        );
    }
    client
        .execute(
            "INSERT INTO instances (name, config_digest, version, started_at, seen_at)
             VALUES ($1, $2, $3, now(), now())
             ON CONFLICT (name) DO UPDATE SET config_digest = $2, version = $3, started_at = now(),
                 seen_at = now(), stopped_at = NULL",
            &[&instance, &digest, &env!("CARGO_PKG_VERSION")],
        )
        .await?;
    client
        .execute(
            "DELETE FROM instances WHERE stopped_at < now() - interval '7 days'",
            &[],
        )
        .await?;
    differing_instances(client, instance, digest, recent).await
}

/// Other instances seen within `recent`, still running, whose config
/// digest differs from `digest`.
pub(crate) async fn differing_instances(
    client: &impl GenericClient,
    instance: &str,
    digest: &str,
    recent: std::time::Duration,
) -> Result<Vec<(String, String)>> {
    let rows = client
        .query(
            "SELECT name, config_digest FROM instances
             WHERE name <> $1 AND config_digest <> $2 AND stopped_at IS NULL
               AND seen_at > now() - make_interval(secs => $3)
             ORDER BY name",
            &[&instance, &digest, &recent.as_secs_f64()],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Marks the instance alive (each round).
pub(crate) async fn heartbeat(client: &impl GenericClient, instance: &str) -> Result<()> {
    client
        .execute(
            "UPDATE instances SET seen_at = now() WHERE name = $1",
            &[&instance],
        )
        .await?;
    Ok(())
}

/// Closes the rounds left open by an instance not seen for `stale`
/// (killed), and by `own` (this instance's earlier life, at start): their
/// totals are rebuilt from the fetches they committed, as on SQLite.
pub(crate) async fn close_interrupted_rounds(
    client: &impl GenericClient,
    own: Option<&str>,
    stale: std::time::Duration,
) -> Result<u64> {
    client
        .execute(
            &format!(
                "UPDATE rounds SET {CLOSE_ROUND}
             WHERE finished_at IS NULL
               AND (instance = $1 OR instance IS NULL OR instance NOT IN (
                   SELECT name FROM instances
                   WHERE stopped_at IS NULL AND seen_at > now() - make_interval(secs => $2)))"
            ),
            &[&own, &stale.as_secs_f64()],
        )
        .await
}

/// A `[[notify]]` rule's new matches, recorded in `notified` before they
/// are returned. Several instances may claim for the same rule at once:
/// the rule's mark row is locked for the claim (`FOR UPDATE`), and the
/// `notified` key refuses a second announcement whatever happens. Article
/// ids are handed out before commit, so a commit still in flight can land
/// below the mark: the scan starts a little behind it (ids committed in
/// the last minutes) and `notified` skips what was announced.
pub(crate) async fn claim_notifications(
    client: &mut deadpool_postgres::Client,
    claim: &NotifyClaim,
) -> Result<Vec<StoredArticle>> {
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO notify_marks (rule, through_id, since)
         VALUES ($1, (SELECT coalesce(max(id), 0) FROM articles WHERE fetched_at < $2), $2)
         ON CONFLICT (rule) DO NOTHING",
        &[&claim.rule, &claim.since],
    )
    .await?;
    let marks = tx
        .query_one(
            "SELECT through_id, since FROM notify_marks WHERE rule = $1 FOR UPDATE",
            &[&claim.rule],
        )
        .await?;
    let mark: i64 = marks.get(0);
    let rule_since: String = marks.get(1);
    let recent = timestamp(Utc::now() - chrono::Duration::minutes(10)).max(rule_since);
    let sources: Option<&[String]> = (!claim.sources.is_empty()).then_some(&claim.sources[..]);
    let rows = tx
        .query(
            &format!(
                "SELECT {} FROM articles a
                 WHERE (a.id > $1 OR (a.fetched_at >= $2 AND a.id > $1 - 100000))
                   AND NOT EXISTS (SELECT 1 FROM notified n WHERE n.rule = $3 AND n.article_id = a.id)
                   AND ($4::text[] IS NULL OR a.id IN (SELECT article_id FROM appearances WHERE source = ANY($4)))
                 ORDER BY a.id",
                super::reads::ARTICLE_COLUMNS
            ),
            &[&mark, &recent, &claim.rule, &sources],
        )
        .await?;
    let mut matched = Vec::new();
    let mut through = mark;
    for row in &rows {
        let article = super::reads::article(row);
        through = through.max(article.id);
        if claim
            .matcher
            .keeps(&article.title, article.summary.as_deref())
        {
            let fresh = tx
                .execute(
                    "INSERT INTO notified (rule, article_id, notified_at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&claim.rule, &article.id, &timestamp(Utc::now())],
                )
                .await?;
            if fresh == 1 {
                matched.push(article);
                if matched.len() == claim.limit {
                    break;
                }
            }
        }
    }
    tx.execute(
        "UPDATE notify_marks SET through_id = $2 WHERE rule = $1",
        &[&claim.rule, &through],
    )
    .await?;
    super::reads::fill_sources(&tx, &mut matched).await?;
    tx.commit().await?;
    Ok(matched)
}
