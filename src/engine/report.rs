//! What a round did, per source and in total: the report `herald once`
//! prints, the daemon logs and the metrics count.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::time::Duration;

use crate::model::outcome::{FetchStatus, SkipReason};

/// What a round did, per source and in total; `--format json` prints this.
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    /// The round's row id.
    pub round_id: i64,
    /// When it started (RFC 3339, milliseconds).
    pub started_at: String,
    /// From the first job queued to the last commit.
    pub wall_ms: u64,
    /// What perfect concurrency would cost under the caps: `ceil(fetched /
    /// workers) × slowest fetch`, or, when one host's sources are more than
    /// its `per_host_concurrency` lets through at once, `ceil(its sources /
    /// cap) × its slowest fetch`, whichever is longer.
    pub ideal_ms: u64,
    /// The cap that sets `ideal_ms` when it is a host's, not the workers':
    /// `per_host_concurrency = 2 on example.org:443`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ideal_bound: Option<String>,
    /// One line per source, in config order.
    pub sources: Vec<SourceReport>,
    /// The sums of the lines.
    pub totals: Totals,
    /// Peak resident memory of the process, where a one-shot command reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_kb: Option<u64>,
}

/// One source's line in a round report.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The source's name.
    pub name: String,
    /// How its fetch ended.
    pub status: FetchStatus,
    /// The last HTTP status, if any.
    pub http_status: Option<u16>,
    /// Fetch time, follow-ups included.
    pub elapsed_ms: u64,
    /// Requests made, retries included.
    pub attempts: u32,
    /// Articles stored for the first time.
    pub new: usize,
    /// Articles already stored.
    pub seen: usize,
    /// Follow-up items that failed (Hacker News items); the source may still be ok.
    pub failed_items: usize,
    /// Why it failed or was skipped; no secrets.
    pub error: Option<String>,
    /// Body size received (decompressed); 0 for a 304.
    pub body_bytes: u64,
    /// What the parser repaired to read the answer (empty when nothing).
    pub warnings: Vec<String>,
    /// Items the source's `include`/`exclude` kept out.
    pub filtered: usize,
    /// Stored late: the commit waited this long for a write lock another
    /// process held (nothing was lost). Absent when it did not wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_late_ms: Option<u64>,
    /// Why it was skipped (the text is in `error`).
    #[serde(skip)]
    pub skip: Option<SkipReason>,
}

impl SourceReport {
    /// The note for a person: the error, else that it was stored late.
    pub fn note(&self) -> Option<String> {
        self.error.clone().or_else(|| {
            self.stored_late_ms.map(|ms| {
                format!(
                    "stored late: waited {:.1} s for the database lock",
                    ms as f64 / 1000.0
                )
            })
        })
    }
}

/// Round totals: `ok` counts 304s too, `failed` counts timeouts too.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Sources that answered.
    pub ok: usize,
    /// Sources that failed or timed out.
    pub failed: usize,
    /// Sources not fetched.
    pub skipped: usize,
    /// New articles.
    pub new: usize,
    /// Articles already stored.
    pub seen: usize,
    /// Items kept out by filters.
    pub filtered: usize,
}

impl RoundReport {
    /// True when there was something to fetch and every fetch failed.
    pub fn all_failed(&self) -> bool {
        !self.sources.is_empty() && self.sources.iter().all(|s| s.status.is_failure())
    }

    /// The line a person tailing the log wants: `round 42: 37/40 ok, ...`.
    pub fn summary_line(&self) -> String {
        let late = self
            .sources
            .iter()
            .filter(|s| s.stored_late_ms.is_some())
            .count();
        format!(
            "round {}: {}/{} ok, {} failed, {}{} new, {:.2} s (ideal {:.2} s{}){}",
            self.round_id,
            self.totals.ok,
            self.sources.len(),
            self.totals.failed,
            self.skipped_summary(),
            self.totals.new,
            self.wall_ms as f64 / 1000.0,
            self.ideal_ms as f64 / 1000.0,
            self.ideal_bound
                .as_deref()
                .map_or_else(String::new, |bound| format!(", bound by {bound}")),
            if late > 0 {
                format!("; {late} stored late (database locked)")
            } else {
                String::new()
            },
        )
    }

    /// `12 skipped (10 not due, 2 paused), ` or nothing.
    fn skipped_summary(&self) -> String {
        let mut kinds: Vec<(&'static str, usize)> = Vec::new();
        for reason in self.sources.iter().filter_map(|s| s.skip.as_ref()) {
            let kind = match reason {
                SkipReason::Gone { .. } => "gone",
                SkipReason::Paused { .. } => "paused",
                SkipReason::HostBackoff { .. } => "host backing off",
                SkipReason::NotDue { .. } => "not due",
                SkipReason::RateLimited { .. } => "rate limited",
                SkipReason::StillRunning => "still running",
                SkipReason::ShuttingDown => "shutting down",
            };
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((kind, 1)),
            }
        }
        if kinds.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        format!("{} skipped ({}), ", self.totals.skipped, parts.join(", "))
    }
}

pub(super) fn build_report(
    round_id: i64,
    started_at: DateTime<Utc>,
    wall: Duration,
    caps: (usize, usize),
    host_of: &std::collections::HashMap<&str, String>,
    sources: Vec<SourceReport>,
) -> RoundReport {
    let (workers, per_host) = caps;
    let mut totals = Totals::default();
    for s in &sources {
        match s.status {
            FetchStatus::Ok | FetchStatus::NotModified => totals.ok += 1,
            FetchStatus::Failed | FetchStatus::Timeout => totals.failed += 1,
            FetchStatus::Skipped => totals.skipped += 1,
        }
        totals.new += s.new;
        totals.seen += s.seen;
        totals.filtered += s.filtered;
    }
    let fetched = sources.len() - totals.skipped;
    let slowest = sources.iter().map(|s| s.elapsed_ms).max().unwrap_or(0);
    let mut ideal_ms = fetched.div_ceil(workers.max(1)) as u64 * slowest;
    let mut ideal_bound = None;
    let mut by_host: std::collections::HashMap<&str, (usize, u64)> =
        std::collections::HashMap::new();
    for s in sources.iter().filter(|s| s.status != FetchStatus::Skipped) {
        if let Some(host) = host_of.get(s.name.as_str()) {
            let entry = by_host.entry(host.as_str()).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(s.elapsed_ms);
        }
    }
    for (host, (count, slowest)) in by_host {
        let bound = count.div_ceil(per_host.max(1)) as u64 * slowest;
        if bound > ideal_ms {
            ideal_ms = bound;
            ideal_bound = Some(format!("per_host_concurrency = {per_host} on {host}"));
        }
    }
    RoundReport {
        ideal_bound,
        round_id,
        started_at: started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        wall_ms: wall.as_millis() as u64,
        ideal_ms,
        sources,
        totals,
        peak_rss_kb: None,
    }
}
