//! What one fetch produced: the record a worker hands back to its round.
//!
//! Plain data shared by the pool (which fills it), the round (which reports
//! it) and storage (which writes it); none of them reach into the others.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::article::Article;
use crate::fetch::{ServerHint, Validators};
use crate::sources::FetchRequest;
use url::Url;

/// How a source's fetch ended; stored as text in `fetches.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchStatus {
    Ok,
    NotModified,
    Failed,
    Timeout,
    Skipped,
}

impl FetchStatus {
    /// The stable name used in the database, logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchStatus::Ok => "ok",
            FetchStatus::NotModified => "not_modified",
            FetchStatus::Failed => "failed",
            FetchStatus::Timeout => "timeout",
            FetchStatus::Skipped => "skipped",
        }
    }

    /// Whether the source answered usefully (a 304 is an answer).
    pub fn is_success(self) -> bool {
        matches!(self, FetchStatus::Ok | FetchStatus::NotModified)
    }

    /// Whether the source let us down this time.
    pub fn is_failure(self) -> bool {
        matches!(self, FetchStatus::Failed | FetchStatus::Timeout)
    }
}

/// Everything a worker learned about one source in one round.
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    pub source: String,
    pub status: FetchStatus,
    pub http_status: Option<u16>,
    pub elapsed: Duration,
    pub attempts: u32,
    pub articles: Vec<Article>,
    /// Items the source listed that had no usable link.
    pub dropped: usize,
    /// One line, safe to log and store: no secrets, no bodies.
    pub error: Option<String>,
    pub finished_at: DateTime<Utc>,
    /// Requests the source's parse asked for (Hacker News items); the round
    /// queues them and merges their articles before storing.
    pub follow_ups: Vec<FetchRequest>,
    /// Follow-up items that failed (the source itself still succeeded).
    pub failed_items: usize,
    /// Validators to send next time (`None`: leave the stored ones alone).
    pub validators: Option<Validators>,
    /// A permanent redirect to remember for the next fetch.
    pub moved_to: Option<Url>,
    /// The failure was at the network level (connection, DNS, timeout).
    pub network_failure: bool,
    /// When the server wants to be checked next (capped at 24 h).
    pub next_check: Option<ServerHint>,
    /// `host:port` first contacted, for per-host backoff.
    pub host: Option<String>,
    /// Size of the (decompressed) body received; 0 for a 304 or no response.
    pub body_bytes: u64,
}

/// What earlier fetches taught us about a source, kept in the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMemory {
    pub validators: Option<Validators>,
    /// Where a permanent redirect sent it last time.
    pub moved_to: Option<Url>,
    pub consecutive_failures: u32,
    /// The circuit breaker is open until then.
    pub paused_until: Option<DateTime<Utc>>,
    /// It answered 410 Gone then; it is not fetched again.
    pub gone_at: Option<DateTime<Utc>>,
    /// Requests made recently (when, how many attempts), for rate limits.
    pub recent_requests: Vec<(DateTime<Utc>, u32)>,
    /// A server asked not to be checked before then, and said why.
    pub next_check: Option<(DateTime<Utc>, String)>,
    /// Its host is backing off (after a 429 or 503) until then, and why.
    pub host_backoff: Option<(DateTime<Utc>, String)>,
}

/// The answer to one follow-up request.
#[derive(Debug, Clone)]
pub struct ItemOutcome {
    pub source: String,
    /// Position in the source's list, to keep its order.
    pub index: usize,
    /// `Ok(None)`: the item is legitimately absent (deleted, dead, no link).
    pub result: Result<Option<Article>, String>,
}

/// What a worker sends back to the round that queued the job.
#[derive(Debug, Clone)]
pub enum JobReply {
    Source(FetchOutcome),
    Item(ItemOutcome),
}

impl FetchOutcome {
    /// An outcome for a fetch that produced no response.
    pub fn without_response(
        source: &str,
        status: FetchStatus,
        elapsed: Duration,
        error: String,
    ) -> Self {
        FetchOutcome {
            source: source.to_owned(),
            status,
            http_status: None,
            elapsed,
            attempts: 0,
            articles: Vec::new(),
            dropped: 0,
            error: Some(error),
            finished_at: Utc::now(),
            follow_ups: Vec::new(),
            failed_items: 0,
            validators: None,
            moved_to: None,
            network_failure: false,
            next_check: None,
            host: None,
            body_bytes: 0,
        }
    }
}
