//! Retention: removing what `keep` and `keep_history` no longer cover, in
//! steps short enough that the writer never holds the lock for long.
//!
//! An article goes when *every* source that carried it last served it
//! longer ago than that source's `keep` (its `appearances`). So an article a
//! source still serves is never removed, and never comes back as "new". Each
//! step is one transaction over a window of article ids (or a batch of
//! history rows) sized to take about [`STEP_TARGET`]: the window doubles
//! while steps are quick and halves when one is slow (a window where every
//! row goes costs far more than one where none does). Then space goes back
//! to the file system a window of pages at a time (`incremental_vacuum`).

use std::time::Instant;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use super::writes::timestamp;
use crate::model::retention::{Keep, RetentionPolicy};
use crate::storage::rows::PruneReport;

/// What one step should take: short enough that a commit waiting behind it
/// barely notices.
const STEP_TARGET: std::time::Duration = std::time::Duration::from_millis(40);
/// The first window (article ids) or batch (history rows).
const FIRST_WINDOW: i64 = 1_000;
/// Bounds of the adapted window.
const WINDOW_RANGE: (i64, i64) = (16, 100_000);

/// The cutoff SQL compares against for [`Keep::Forever`]: no timestamp is
/// older than the empty string.
const NEVER: &str = "";

/// Where a prune is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Articles, by id window after this id.
    Articles {
        after: i64,
    },
    Fetches,
    Rounds,
    Vacuum,
    Done,
}

/// A prune in progress: [`PruneJob::step`] until it says it is done.
#[derive(Debug)]
pub(crate) struct PruneJob {
    phase: Phase,
    dry_run: bool,
    /// `[daemon] keep` as a cutoff ([`NEVER`] for forever).
    default_cutoff: String,
    /// The latest cutoff of any source: no article fetched after it can go.
    latest_cutoff: Option<String>,
    history_cutoff: Option<String>,
    /// The highest article id when the prune began.
    last_id: i64,
    /// Article ids (or history rows) the next step takes on.
    window: i64,
    report: PruneReport,
}

impl PruneJob {
    /// Starts a prune of `policy` as of `now`. Cheap: it records the
    /// per-source cutoffs in a temporary table and measures the file.
    pub(crate) fn start(
        conn: &Connection,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> rusqlite::Result<PruneJob> {
        let cutoff = |keep: Keep| keep.cutoff(now).map_or_else(|| NEVER.to_owned(), timestamp);
        conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS prune_policy (source TEXT PRIMARY KEY, cutoff TEXT NOT NULL);
             DELETE FROM temp.prune_policy;",
        )?;
        let mut insert =
            conn.prepare_cached("INSERT OR REPLACE INTO temp.prune_policy VALUES (?1, ?2)")?;
        for (source, keep) in &policy.per_source {
            insert.execute(params![source, cutoff(*keep)])?;
        }
        // No article fetched after the latest finite cutoff can go (a source
        // kept forever is protected by its own cutoff in the query); with no
        // finite cutoff at all, articles are not looked at.
        let latest_cutoff = std::iter::once(policy.keep)
            .chain(policy.per_source.iter().map(|(_, keep)| *keep))
            .filter_map(|keep| keep.cutoff(now))
            .max()
            .map(timestamp);
        let last_id = conn.query_row("SELECT coalesce(max(id), 0) FROM articles", [], |row| {
            row.get(0)
        })?;
        Ok(PruneJob {
            phase: if latest_cutoff.is_some() {
                Phase::Articles { after: 0 }
            } else {
                Phase::Fetches
            },
            dry_run,
            default_cutoff: cutoff(policy.keep),
            latest_cutoff,
            history_cutoff: policy.keep_history.cutoff(now).map(timestamp),
            last_id,
            window: FIRST_WINDOW,
            report: PruneReport {
                dry_run,
                bytes_before: database_bytes(conn)?,
                ..PruneReport::default()
            },
        })
    }

    /// Whether every step has run.
    pub(crate) fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The totals so far (final once [`PruneJob::done`]).
    pub(crate) fn report(&self) -> &PruneReport {
        &self.report
    }

    /// Runs one short step in its own transaction.
    pub(crate) fn step(&mut self, conn: &mut Connection) -> rusqlite::Result<()> {
        let started = Instant::now();
        let before = self.phase;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        self.phase = match self.phase {
            Phase::Articles { after } => {
                let upto = after + self.window;
                let removed = self.articles(&tx, after, upto)?;
                self.report.articles += removed;
                if upto >= self.last_id {
                    Phase::Fetches
                } else {
                    Phase::Articles { after: upto }
                }
            }
            Phase::Fetches => match &self.history_cutoff {
                Some(cutoff) => {
                    let removed = history_batch(
                        &tx,
                        self.dry_run,
                        "fetches",
                        "SELECT id FROM fetches WHERE finished_at < ?1 ORDER BY id",
                        cutoff,
                        self.window,
                    )?;
                    self.report.fetches += removed;
                    if removed < self.window.unsigned_abs() || self.dry_run {
                        Phase::Rounds
                    } else {
                        Phase::Fetches
                    }
                }
                None => Phase::Vacuum,
            },
            Phase::Rounds => match &self.history_cutoff {
                Some(cutoff) => {
                    let removed = history_batch(
                        &tx,
                        self.dry_run,
                        "rounds",
                        // A round goes with its last fetch row (and only then).
                        "SELECT r.id FROM rounds r
                         WHERE coalesce(r.finished_at, r.started_at) < ?1
                           AND NOT EXISTS (SELECT 1 FROM fetches f WHERE f.round_id = r.id
                                           AND f.finished_at >= ?1)
                         ORDER BY r.id",
                        cutoff,
                        self.window,
                    )?;
                    self.report.rounds += removed;
                    if removed < self.window.unsigned_abs() || self.dry_run {
                        Phase::Vacuum
                    } else {
                        Phase::Rounds
                    }
                }
                None => Phase::Vacuum,
            },
            Phase::Vacuum => {
                let incremental: i64 = tx.query_row("PRAGMA auto_vacuum", [], |row| row.get(0))?;
                let free: i64 = tx.query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
                if self.dry_run || incremental != 2 || free == 0 {
                    Phase::Done
                } else {
                    // The pragma hands back one page per step of its
                    // statement: run it to the end.
                    // The window is pages here: moving pages from the end of
                    // a large file costs more per page than a small one.
                    let mut vacuum =
                        tx.prepare(&format!("PRAGMA incremental_vacuum({})", self.window))?;
                    let mut pages = vacuum.query([])?;
                    while pages.next()?.is_some() {}
                    Phase::Vacuum
                }
            }
            Phase::Done => Phase::Done,
        };
        tx.commit()?;
        if self.phase == Phase::Done {
            self.report.bytes_after = database_bytes(conn)?;
        }
        let took = started.elapsed();
        self.report.steps += 1;
        self.report.longest_step = self.report.longest_step.max(took);
        tracing::debug!(
            phase = ?before,
            window = self.window,
            took_ms = took.as_millis() as u64,
            "prune step"
        );
        let same_phase = std::mem::discriminant(&self.phase) == std::mem::discriminant(&before);
        self.window = if !same_phase {
            // A new kind of row: what a step costs is learnt again.
            FIRST_WINDOW
        } else if took < STEP_TARGET / 2 {
            (self.window * 2).min(WINDOW_RANGE.1)
        } else if took > STEP_TARGET * 2 {
            (self.window / 2).max(WINDOW_RANGE.0)
        } else {
            self.window
        };
        Ok(())
    }

    /// Removes (or counts) the prunable articles with ids in `(after, upto]`.
    fn articles(&self, conn: &Connection, after: i64, upto: i64) -> rusqlite::Result<u64> {
        let Some(latest) = &self.latest_cutoff else {
            return Ok(0);
        };
        let condition = "id > ?1 AND id <= ?2 AND fetched_at < ?3
             AND NOT EXISTS (
                 SELECT 1 FROM appearances p
                 LEFT JOIN temp.prune_policy pp ON pp.source = p.source
                 WHERE p.article_id = articles.id
                   AND p.last_seen >= coalesce(pp.cutoff, ?4))";
        let arguments = params![after, upto, latest, self.default_cutoff];
        if self.dry_run {
            conn.prepare_cached(&format!("SELECT count(*) FROM articles WHERE {condition}"))?
                .query_row(arguments, |row| row.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
        } else {
            conn.prepare_cached(&format!("DELETE FROM articles WHERE {condition}"))?
                .execute(arguments)
                .map(|n| n as u64)
        }
    }
}

/// Removes (or, dry, counts) up to `batch` rows of `table` whose ids
/// `select` lists (oldest first).
fn history_batch(
    conn: &Connection,
    dry_run: bool,
    table: &str,
    select: &str,
    cutoff: &str,
    batch: i64,
) -> rusqlite::Result<u64> {
    let count = if dry_run {
        conn.prepare_cached(&format!("SELECT count(*) FROM ({select})"))?
            .query_row([cutoff], |row| row.get::<_, i64>(0))?
    } else {
        let removed = conn
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE id IN ({select} LIMIT {batch})"
            ))?
            .execute([cutoff])?;
        i64::try_from(removed).unwrap_or(i64::MAX)
    };
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The database's size in bytes (pages in use and free, WAL excluded).
pub(crate) fn database_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    Ok(u64::try_from(pages * size).unwrap_or(0))
}
