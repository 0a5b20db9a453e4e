//! What one fetch produced, and what earlier fetches taught us.
//!
//! Plain data shared by the engine (which fills a [`FetchOutcome`] and
//! decides with a [`SourceMemory`]) and storage (which writes the one and
//! reads back the other); neither reaches into the other.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use url::Url;

use super::article::Article;
use super::http::{FetchRequest, ServerHint, Validators};

/// How a source's fetch ended; stored as text in `fetches.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchStatus {
    /// A 2xx with a body that parsed.
    Ok,
    /// A 304: the stored copy is current.
    NotModified,
    /// An error answer, a network failure or a body that did not parse.
    Failed,
    /// The request or the round ran out of time.
    Timeout,
    /// Not fetched this round; [`SkipReason`] says why.
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
    /// The source's name.
    pub source: String,
    /// How it ended.
    pub status: FetchStatus,
    /// The last HTTP status received, if any.
    pub http_status: Option<u16>,
    /// From the job's start to its answer (follow-ups included).
    pub elapsed: Duration,
    /// Requests made, retries included.
    pub attempts: u32,
    /// The cleaned articles, in the source's order.
    pub articles: Vec<Article>,
    /// Items the source listed that had no usable link.
    pub dropped: usize,
    /// Items the source's `include`/`exclude` filters (or `[filters]`) kept
    /// out: counted, never stored.
    pub filtered: usize,
    /// One line, safe to log and store: no secrets, no bodies.
    pub error: Option<String>,
    /// When the answer was complete.
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
    /// The server said "slow down" (429, or a 403 rate limit): a wait,
    /// never a failure for the breaker; the host backs off.
    pub rate_limited: bool,
    /// When the server wants to be checked next (capped at 24 h).
    pub next_check: Option<ServerHint>,
    /// `host:port` first contacted, for per-host backoff.
    pub host: Option<String>,
    /// Size of the (decompressed) body received; 0 for a 304 or no response.
    pub body_bytes: u64,
    /// Why it was skipped, when it was.
    pub skip: Option<SkipReason>,
    /// What the parser had to repair to read the answer.
    pub warnings: Vec<String>,
    /// Cut off by a shutdown: neither success nor failure (the breaker,
    /// alerts and the source's last status ignore it).
    pub cancelled: bool,
}

/// What earlier fetches taught us about a source, kept in the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMemory {
    /// Validators to send (`If-None-Match`, `If-Modified-Since`).
    pub validators: Option<Validators>,
    /// Where a permanent redirect sent it last time.
    pub moved_to: Option<Url>,
    /// Failures in a row, as the circuit breaker counts them.
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
            filtered: 0,
            error: Some(error),
            finished_at: Utc::now(),
            follow_ups: Vec::new(),
            failed_items: 0,
            validators: None,
            moved_to: None,
            network_failure: false,
            rate_limited: false,
            next_check: None,
            host: None,
            body_bytes: 0,
            skip: None,
            warnings: Vec::new(),
            cancelled: false,
        }
    }

    /// The outcome of a source the round decided not to fetch.
    pub fn skipped(source: &str, reason: SkipReason) -> Self {
        let text = reason.to_string();
        FetchOutcome {
            skip: Some(reason),
            ..FetchOutcome::without_response(source, FetchStatus::Skipped, Duration::ZERO, text)
        }
    }
}

/// Why a source was not fetched this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// It answered 410 Gone; it is not fetched again until removed.
    Gone {
        /// When it said so.
        since: DateTime<Utc>,
    },
    /// The circuit breaker is open.
    Paused {
        /// Failures in a row so far.
        failures: u32,
        /// The next probe.
        until: DateTime<Utc>,
    },
    /// Its host answered 429 or 503 and is given time.
    HostBackoff {
        /// When the host is tried again.
        until: DateTime<Utc>,
        /// `HTTP 503 from host:port`.
        why: String,
    },
    /// The server asked not to be checked before then.
    NotDue {
        /// When the source is due.
        until: DateTime<Utc>,
        /// `max-age 3600`, `ttl 30 min`.
        why: String,
    },
    /// Its `rate_limit` is used up.
    RateLimited {
        /// When enough of the window frees up.
        until: DateTime<Utc>,
    },
    /// Its previous round has not finished: the one skip that means the
    /// daemon is stuck rather than being polite.
    StillRunning,
    /// Shutdown began before the fetch started.
    ShuttingDown,
}

impl SkipReason {
    /// Whether the skip is herald being polite (not due, paused, limited),
    /// as opposed to stuck behind a round that has not finished.
    pub fn is_polite(&self) -> bool {
        !matches!(self, SkipReason::StillRunning)
    }
}

fn clock(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Gone { since } => write!(
                f,
                "gone (HTTP 410) since {}; remove it from the config",
                clock(*since)
            ),
            SkipReason::Paused { failures, until } => write!(
                f,
                "paused after {failures} failures, next try {}",
                clock(*until)
            ),
            SkipReason::HostBackoff { until, why } => {
                write!(f, "host backing off until {} ({why})", clock(*until))
            }
            SkipReason::NotDue { until, why } => {
                write!(f, "not due until {} ({why})", clock(*until))
            }
            SkipReason::RateLimited { until } => {
                write!(f, "rate limited until {}", clock(*until))
            }
            SkipReason::StillRunning => f.write_str("previous round still running"),
            SkipReason::ShuttingDown => f.write_str("shutdown began before the fetch started"),
        }
    }
}

/// A source's circuit-breaker state after a round, as storage keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerState {
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// The breaker is open until then.
    pub paused_until: Option<DateTime<Utc>>,
    /// It answered 410 Gone then.
    pub gone_at: Option<DateTime<Utc>>,
}
