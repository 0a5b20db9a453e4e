//! What storage takes and gives back, whatever the backend: the rows the
//! read commands show, and the records a round hands the writer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::outcome::{BreakerState, SourceMemory};

/// What a round needs to know before it starts: each source's persisted
/// state, and the hosts backing off (`host:port` → until, why).
#[derive(Debug, Clone, Default)]
pub struct Memories {
    /// Per source, by name.
    pub sources: HashMap<String, SourceMemory>,
    /// Hosts in backoff after a 429 or 503.
    pub hosts: HashMap<String, (DateTime<Utc>, String)>,
}

/// Row id of a round in the `rounds` table.
pub type RoundId = i64;

/// How many of a fetch's articles were new and how many were already stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    pub new: usize,
    pub seen: usize,
}

/// A finished round's totals, for the `rounds` row.
#[derive(Debug, Clone)]
pub struct RoundSummary {
    pub round_id: i64,
    pub finished_at: DateTime<Utc>,
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub new: usize,
    pub seen: usize,
    pub wall_ms: u64,
    pub ideal_ms: u64,
    /// Sources whose breaker state changed this round.
    pub breaker: Vec<(String, BreakerState)>,
}

/// One stored article, as readers want it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredArticle {
    pub id: i64,
    pub source: String,
    pub title: String,
    pub url: String,
    pub published_at: Option<String>,
    pub fetched_at: String,
    pub summary: Option<String>,
    pub author: Option<String>,
    pub origin: Option<String>,
}

/// What the database knows about one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceRow {
    pub last_success_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
    pub paused_until: Option<String>,
    pub gone_at: Option<String>,
    pub moved_to: Option<String>,
    pub next_check_at: Option<String>,
    /// Why the server asked for that wait (`Cache-Control max-age`, `ttl`).
    pub next_check_reason: Option<String>,
    pub articles: i64,
    /// `new` of its most recent fetch.
    pub last_new: Option<i64>,
}

/// One round, for `stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundRow {
    pub id: i64,
    pub trigger: String,
    pub started_at: String,
    pub sources: i64,
    pub ok: Option<i64>,
    pub failed: Option<i64>,
    pub skipped: Option<i64>,
    pub new: Option<i64>,
    pub wall_ms: Option<i64>,
    pub ideal_ms: Option<i64>,
}

/// Per-source figures over recent fetches, for `stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStats {
    pub source: String,
    pub fetches: i64,
    pub avg_elapsed_ms: f64,
    /// Share of fetches that failed or timed out (skips not counted).
    pub failure_rate: f64,
}
