//! Retention on PostgreSQL, by the same rule as SQLite (an article goes
//! when every source that carried it last served it longer ago than that
//! source's `keep`), in transactions of a few thousand ids so other
//! instances' commits never wait long. Freed space is the server's to
//! reuse (autovacuum); `--vacuum` runs `VACUUM (ANALYZE)` on the tables.

use chrono::{DateTime, Utc};

use crate::model::retention::{Keep, RetentionPolicy};
use crate::storage::rows::{PruneReport, timestamp};

/// Article ids per transaction.
const WINDOW: i64 = 5_000;
/// History rows per transaction.
const BATCH: i64 = 5_000;

/// The cutoff for [`Keep::Forever`]: no timestamp is older.
const NEVER: &str = "";

/// Runs a whole prune (or, dry, counts it).
pub(crate) async fn prune(
    client: &mut deadpool_postgres::Client,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
    dry_run: bool,
    vacuum: bool,
) -> Result<PruneReport, tokio_postgres::Error> {
    let cutoff = |keep: Keep| keep.cutoff(now).map_or_else(|| NEVER.to_owned(), timestamp);
    let mut report = PruneReport {
        dry_run,
        bytes_before: database_bytes(client).await?,
        ..PruneReport::default()
    };
    let names: Vec<&str> = policy.per_source.iter().map(|(n, _)| n.as_str()).collect();
    let cutoffs: Vec<String> = policy.per_source.iter().map(|(_, k)| cutoff(*k)).collect();
    let default_cutoff = cutoff(policy.keep);
    let latest_cutoff = std::iter::once(policy.keep)
        .chain(policy.per_source.iter().map(|(_, keep)| *keep))
        .filter_map(|keep| keep.cutoff(now))
        .max()
        .map(timestamp);
    let condition = "a.id > $1 AND a.id <= $2 AND a.fetched_at < $3
         AND NOT EXISTS (
             SELECT 1 FROM appearances p
             LEFT JOIN unnest($4::text[], $5::text[]) AS pp(source, cutoff) ON pp.source = p.source
             WHERE p.article_id = a.id AND p.last_seen >= coalesce(pp.cutoff, $6))";
    let mut step = |took: std::time::Duration| {
        report.steps += 1;
        report.longest_step = report.longest_step.max(took);
    };
    if let Some(latest) = &latest_cutoff {
        let last_id: i64 = client
            .query_one("SELECT coalesce(max(id), 0) FROM articles", &[])
            .await?
            .get(0);
        let mut after = 0;
        while after < last_id {
            let upto = after + WINDOW;
            let started = std::time::Instant::now();
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
                [&after, &upto, latest, &names, &cutoffs, &default_cutoff];
            let removed = count_or_delete(
                client,
                dry_run,
                &format!("SELECT count(*) FROM articles a WHERE {condition}"),
                &format!("DELETE FROM articles a WHERE {condition}"),
                &params,
            )
            .await?;
            report.articles += removed;
            step(started.elapsed());
            after = upto;
        }
    }
    if let Some(history) = policy.keep_history.cutoff(now).map(timestamp) {
        for (table, select) in [
            (
                "fetches",
                "SELECT id FROM fetches WHERE finished_at < $1 ORDER BY id",
            ),
            (
                "rounds",
                "SELECT r.id FROM rounds r
                 WHERE coalesce(r.finished_at, r.started_at) < $1
                   AND NOT EXISTS (SELECT 1 FROM fetches f WHERE f.round_id = r.id)
                 ORDER BY r.id",
            ),
        ] {
            loop {
                let started = std::time::Instant::now();
                let removed = count_or_delete(
                    client,
                    dry_run,
                    &format!("SELECT count(*) FROM ({select}) s"),
                    &format!("DELETE FROM {table} WHERE id IN ({select} LIMIT {BATCH})"),
                    &[&history],
                )
                .await?;
                step(started.elapsed());
                if table == "fetches" {
                    report.fetches += removed;
                } else {
                    report.rounds += removed;
                }
                if dry_run || removed < BATCH.unsigned_abs() {
                    break;
                }
            }
        }
    }
    if vacuum && !dry_run {
        client
            .batch_execute("VACUUM (ANALYZE) articles, appearances, fetches, rounds")
            .await?;
        report.vacuumed = true;
    }
    report.bytes_after = database_bytes(client).await?;
    Ok(report)
}

/// Runs `delete` (rows removed), or, `dry_run`, `count` (rows it would remove).
async fn count_or_delete(
    client: &deadpool_postgres::Client,
    dry_run: bool,
    count: &str,
    delete: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    if dry_run {
        let n: i64 = client.query_one(count, params).await?.get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    } else {
        client.execute(delete, params).await
    }
}

/// The size of herald's tables with their indexes.
pub(crate) async fn database_bytes(
    client: &deadpool_postgres::Client,
) -> Result<u64, tokio_postgres::Error> {
    let bytes: i64 = client
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
             WHERE c.relname IN ('articles', 'appearances', 'sources', 'hosts', 'rounds', 'fetches',
                                 'notify_marks', 'notified', 'instances')
               AND c.relnamespace = current_schema()::regnamespace",
            &[],
        )
        .await?
        .get(0);
    Ok(u64::try_from(bytes).unwrap_or(0))
}
