//! What a round did, per source and in total: the report `herald once`
//! prints, the daemon logs and the metrics count.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::time::Duration;

use crate::model::outcome::{FetchStatus, SkipReason};

/// What a round did, per source and in total; `--format json` prints this.
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    pub round_id: i64,
    pub started_at: String,
    pub wall_ms: u64,
    /// `ceil(fetched / workers) × slowest fetch`: what perfect concurrency would cost.
    pub ideal_ms: u64,
    pub sources: Vec<SourceReport>,
    pub totals: Totals,
    /// Peak resident memory of the process, where a one-shot command reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_kb: Option<u64>,
}

/// One source's line in a round report.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub name: String,
    pub status: FetchStatus,
    pub http_status: Option<u16>,
    pub elapsed_ms: u64,
    pub attempts: u32,
    pub new: usize,
    pub seen: usize,
    /// Follow-up items that failed (Hacker News items); the source may still be ok.
    pub failed_items: usize,
    pub error: Option<String>,
    /// Body size received (decompressed); 0 for a 304.
    pub body_bytes: u64,
    /// Why it was skipped (the text is in `error`).
    #[serde(skip)]
    pub skip: Option<SkipReason>,
}

/// Round totals: `ok` counts 304s too, `failed` counts timeouts too.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub new: usize,
    pub seen: usize,
}

impl RoundReport {
    /// True when there was something to fetch and every fetch failed.
    pub fn all_failed(&self) -> bool {
        !self.sources.is_empty() && self.sources.iter().all(|s| s.status.is_failure())
    }

    /// The line a person tailing the log wants: `round 42: 37/40 ok, ...`.
    pub fn summary_line(&self) -> String {
        format!(
            "round {}: {}/{} ok, {} failed, {} new, {:.2} s (ideal {:.2} s)",
            self.round_id,
            self.totals.ok,
            self.sources.len(),
            self.totals.failed,
            self.totals.new,
            self.wall_ms as f64 / 1000.0,
            self.ideal_ms as f64 / 1000.0,
        )
    }
}

pub(super) fn build_report(
    round_id: i64,
    started_at: DateTime<Utc>,
    wall: Duration,
    workers: usize,
    sources: Vec<SourceReport>,
) -> RoundReport {
    let mut totals = Totals::default();
    for s in &sources {
        match s.status {
            FetchStatus::Ok | FetchStatus::NotModified => totals.ok += 1,
            FetchStatus::Failed | FetchStatus::Timeout => totals.failed += 1,
            FetchStatus::Skipped => totals.skipped += 1,
        }
        totals.new += s.new;
        totals.seen += s.seen;
    }
    let fetched = sources.len() - totals.skipped;
    let slowest = sources.iter().map(|s| s.elapsed_ms).max().unwrap_or(0);
    let ideal_ms = fetched.div_ceil(workers.max(1)) as u64 * slowest;
    RoundReport {
        round_id,
        started_at: started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        wall_ms: wall.as_millis() as u64,
        ideal_ms,
        sources,
        totals,
        peak_rss_kb: None,
    }
}
