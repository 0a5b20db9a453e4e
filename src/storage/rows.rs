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
    /// Articles stored for the first time.
    pub new: usize,
    /// Articles already stored (by canonical URL).
    pub seen: usize,
    /// How long the commit waited for a write lock another process held,
    /// when it had to wait past SQLite's own `busy_timeout`: stored late.
    pub lock_wait: Option<std::time::Duration>,
}

/// What a prune removed (or, dry, would remove), and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Only counted, nothing removed.
    pub dry_run: bool,
    /// Articles no source served within its `keep`.
    pub articles: u64,
    /// `fetches` rows older than `keep_history`.
    pub fetches: u64,
    /// `rounds` rows older than `keep_history` (with no fetch row left).
    pub rounds: u64,
    /// The database's size before (pages in use and free).
    pub bytes_before: u64,
    /// And after (free pages handed back when the file allows it).
    pub bytes_after: u64,
    /// Transactions it took.
    pub steps: u64,
    /// Whether the file was rewritten (`--vacuum`).
    pub vacuumed: bool,
    /// The longest of them: the longest the writer was busy with it at once.
    #[serde(rename = "longest_step_ms", with = "duration_ms")]
    pub longest_step: std::time::Duration,
}

/// A duration as whole milliseconds in JSON.
mod duration_ms {
    pub(super) fn serialize<S: serde::Serializer>(
        value: &std::time::Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A finished round's totals, for the `rounds` row.
#[derive(Debug, Clone)]
pub struct RoundSummary {
    /// The round's row id.
    pub round_id: i64,
    /// When its last outcome was in.
    pub finished_at: DateTime<Utc>,
    /// Sources that answered (304s included).
    pub ok: usize,
    /// Sources that failed or timed out.
    pub failed: usize,
    /// Sources not fetched this round.
    pub skipped: usize,
    /// New articles.
    pub new: usize,
    /// Articles already stored.
    pub seen: usize,
    /// Wall time of the round.
    pub wall_ms: u64,
    /// What perfect concurrency would have cost.
    pub ideal_ms: u64,
    /// Sources whose breaker state changed this round.
    pub breaker: Vec<(String, BreakerState)>,
}

/// One stored article, as readers want it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredArticle {
    /// Row id (grows with insertion order).
    pub id: i64,
    /// The source that brought it first.
    pub source: String,
    /// Plain-text title.
    pub title: String,
    /// Canonical URL: the article's identity.
    pub url: String,
    /// Publication time (ISO-8601 UTC), when the source gave one.
    pub published_at: Option<String>,
    /// When herald stored it (ISO-8601 UTC).
    pub fetched_at: String,
    /// Plain-text summary.
    pub summary: Option<String>,
    /// Author, as the source names them.
    pub author: Option<String>,
    /// The outlet behind an aggregator API.
    pub origin: Option<String>,
    /// Its categories, as the source gave them.
    pub categories: Vec<String>,
    /// Its first enclosure (a podcast episode, an image).
    pub enclosure: Option<crate::model::article::Enclosure>,
    /// Every source that carried the story (by URL, or by title from
    /// another source within the same-story window), first committer first.
    pub sources: Vec<String>,
}

/// What one `[[notify]]` rule asks of the writer after a round: its
/// matches among the articles it has not looked at yet, recorded as
/// announced in the same transaction (so each is announced at most once,
/// across restarts).
#[derive(Debug, Clone)]
pub struct NotifyClaim {
    /// The rule's name.
    pub rule: String,
    /// Only stories one of these sources carried (all when empty).
    pub sources: Vec<String>,
    /// Its `match` patterns.
    pub matcher: std::sync::Arc<crate::model::filter::ItemFilter>,
    /// When the round started: a rule seen for the first time announces
    /// what was stored from then on, not the whole database.
    pub since: String,
    /// At most this many per claim; the rest come with the next one.
    pub limit: usize,
}

/// Which articles `latest`, `export` and the served feeds list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleFilter {
    /// At most this many stories.
    pub limit: usize,
    /// Only stories one of these sources carried (all when empty).
    pub sources: Vec<String>,
    /// Not older than this (ISO-8601).
    pub since: Option<String>,
    /// Same-titled items from *different* sources this close in time are
    /// one story; items of one source never merge.
    pub same_story_window: std::time::Duration,
}

impl ArticleFilter {
    /// The newest `limit` stories of every source, with the default
    /// 48-hour same-story window.
    pub fn newest(limit: usize) -> ArticleFilter {
        ArticleFilter {
            limit,
            sources: Vec::new(),
            since: None,
            same_story_window: std::time::Duration::from_secs(48 * 3600),
        }
    }
}

/// What the database knows about one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceRow {
    /// When it last answered (200 or 304).
    pub last_success_at: Option<String>,
    /// When it was last fetched.
    pub last_attempt_at: Option<String>,
    /// How its last fetch ended.
    pub last_status: Option<String>,
    /// Its last failure's reason.
    pub last_error: Option<String>,
    /// Failures in a row (the circuit breaker's count).
    pub consecutive_failures: i64,
    /// The breaker is open until then.
    pub paused_until: Option<String>,
    /// When it answered 410 Gone.
    pub gone_at: Option<String>,
    /// Where a permanent redirect sent it.
    pub moved_to: Option<String>,
    /// The server asked not to be checked before then.
    pub next_check_at: Option<String>,
    /// Why the server asked for that wait (`Cache-Control max-age`, `ttl`).
    pub next_check_reason: Option<String>,
    /// Articles it brought that are stored.
    pub articles: i64,
    /// `new` of its most recent fetch.
    pub last_new: Option<i64>,
    /// Items its filters kept out in its most recent fetch.
    #[serde(default)]
    pub last_filtered: Option<i64>,
    /// The instance that made its most recent fetch (`[daemon] instance`).
    #[serde(default)]
    pub last_instance: Option<String>,
    /// What the parser had to repair in its last answered fetch.
    pub warnings: Vec<String>,
}

/// One round, for `stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundRow {
    /// The round's row id.
    pub id: i64,
    /// Why it ran: `once`, `start`, or the cron expression.
    pub trigger: String,
    /// When it started (ISO-8601 UTC).
    pub started_at: String,
    /// Sources it planned to fetch.
    pub sources: i64,
    /// Sources that answered.
    pub ok: Option<i64>,
    /// Sources that failed.
    pub failed: Option<i64>,
    /// Sources skipped.
    pub skipped: Option<i64>,
    /// New articles.
    pub new: Option<i64>,
    /// Wall time.
    pub wall_ms: Option<i64>,
    /// Ideal wall time.
    pub ideal_ms: Option<i64>,
    /// A crash cut it off; its totals were rebuilt from what it committed.
    pub interrupted: bool,
}

/// Per-source figures over recent fetches, for `stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStats {
    /// The source's name.
    pub source: String,
    /// Fetches counted (skips excluded).
    pub fetches: i64,
    /// Mean fetch time.
    pub avg_elapsed_ms: f64,
    /// Share of fetches that failed or timed out (skips not counted).
    pub failure_rate: f64,
}

/// The `SET` clause that closes a round a crash left open, in both
/// stores: its totals rebuilt from the fetch rows it did commit, marked
/// `interrupted`.
pub(crate) const CLOSE_ROUND: &str = "
             finished_at = coalesce(
                 (SELECT max(f.finished_at) FROM fetches f WHERE f.round_id = rounds.id),
                 started_at),
             ok = (SELECT count(*) FROM fetches f
                   WHERE f.round_id = rounds.id AND f.status IN ('ok', 'not_modified')),
             failed = (SELECT count(*) FROM fetches f
                       WHERE f.round_id = rounds.id AND f.status IN ('failed', 'timeout')),
             skipped = (SELECT count(*) FROM fetches f
                        WHERE f.round_id = rounds.id AND f.status = 'skipped'),
             new = (SELECT coalesce(sum(f.new), 0) FROM fetches f WHERE f.round_id = rounds.id),
             seen = (SELECT coalesce(sum(f.seen), 0) FROM fetches f WHERE f.round_id = rounds.id),
             interrupted = 1";

/// What a fetch says about its host's load, as both stores record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostUpdate {
    /// A rate limit (429, or a 403 that says so) or a 503: back off, for
    /// the seconds the server asked (at most a day) or, when it did not
    /// say, double the last backoff (from one minute, at most a day).
    Backoff {
        asked_s: Option<i64>,
        reason: String,
    },
    /// A success: the host is fine again.
    Clear,
    /// Anything else (a 404 or 410 says nothing about load).
    Nothing,
}

impl HostUpdate {
    /// What `outcome` (from `host`) says.
    pub(crate) fn of(host: &str, outcome: &crate::model::outcome::FetchOutcome) -> HostUpdate {
        let limited = outcome
            .rate_limited
            .then_some(outcome.http_status)
            .flatten();
        match limited.or(outcome.http_status) {
            Some(status) if limited.is_some() || matches!(status, 429 | 503) => {
                HostUpdate::Backoff {
                    asked_s: outcome.next_check.as_ref().map(|hint| {
                        i64::try_from(hint.wait.as_secs().min(86_400)).unwrap_or(86_400)
                    }),
                    reason: format!("HTTP {status} from {host}"),
                }
            }
            Some(status) if status < 400 => HostUpdate::Clear,
            _ => HostUpdate::Nothing,
        }
    }
}

/// ISO-8601 UTC with second precision: sorts as text, reads as a date
/// (both stores keep times this way).
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A stored time back; `None` for none or one that does not parse.
pub(crate) fn parse_time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A list as a JSON array, or NULL when it is empty.
pub(crate) fn json_list(list: &[String]) -> Option<String> {
    (!list.is_empty())
        .then(|| serde_json::to_string(list).ok())
        .flatten()
}

/// The columns of a `sources` row a round needs, as both stores read them.
pub(crate) struct MemoryColumns {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub moved_to: Option<String>,
    pub consecutive_failures: u32,
    pub paused_until: Option<String>,
    pub gone_at: Option<String>,
    pub next_check_at: Option<String>,
    pub next_check_reason: Option<String>,
}

impl MemoryColumns {
    /// What a round knows of the source (recent requests and host backoff
    /// are filled in by the caller).
    pub(crate) fn into_memory(self) -> crate::model::outcome::SourceMemory {
        let validators = (self.etag.is_some() || self.last_modified.is_some()).then_some(
            crate::model::http::Validators {
                etag: self.etag,
                last_modified: self.last_modified,
            },
        );
        crate::model::outcome::SourceMemory {
            validators,
            moved_to: self.moved_to.and_then(|u| url::Url::parse(&u).ok()),
            consecutive_failures: self.consecutive_failures,
            paused_until: parse_time(self.paused_until),
            gone_at: parse_time(self.gone_at),
            recent_requests: Vec::new(),
            next_check: parse_time(self.next_check_at).zip(self.next_check_reason),
            host_backoff: None,
        }
    }
}

/// The stored JSON list of categories and the enclosure columns, as an
/// article carries them.
pub(crate) fn decode_extras(
    categories: Option<String>,
    enclosure_url: Option<String>,
    enclosure_type: Option<String>,
    enclosure_length: Option<i64>,
) -> (Vec<String>, Option<crate::model::article::Enclosure>) {
    (
        categories
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default(),
        enclosure_url.map(|url| crate::model::article::Enclosure {
            url,
            mime_type: enclosure_type,
            length: enclosure_length.and_then(|l| u64::try_from(l).ok()),
        }),
    )
}

/// Per kept story (its index), the other sources merged into it by title.
pub(crate) type MergedSources = HashMap<usize, Vec<String>>;

/// Stories for `latest`, from rows newest first (each with its title
/// fingerprint): same-titled items from *different* sources within the
/// filter's window are one story. Returns the kept stories and, per kept
/// index, the other sources merged into it.
pub(crate) fn merge_stories<E>(
    rows: impl IntoIterator<Item = Result<(StoredArticle, String), E>>,
    filter: &ArticleFilter,
) -> Result<(Vec<StoredArticle>, MergedSources), E> {
    let window = chrono::Duration::from_std(filter.same_story_window).unwrap_or_default();
    let when = |a: &StoredArticle| {
        DateTime::parse_from_rfc3339(a.published_at.as_deref().unwrap_or(&a.fetched_at)).ok()
    };
    // Per fingerprint, the stories kept so far (index into `out`).
    let mut by_title: HashMap<String, Vec<usize>> = HashMap::new();
    let mut merged: HashMap<usize, Vec<String>> = HashMap::new();
    let mut out: Vec<StoredArticle> = Vec::with_capacity(filter.limit);
    for row in rows {
        let (article, fingerprint) = row?;
        let kept = by_title.entry(fingerprint).or_default();
        // The same title from another source, close in time: one story.
        let same_story = kept.iter().copied().find(|&index| {
            let other = &out[index];
            other.source != article.source
                && matches!((when(other), when(&article)), (Some(a), Some(b)) if (a - b).abs() <= window)
        });
        if let Some(index) = same_story {
            merged.entry(index).or_default().push(article.source);
            continue;
        }
        if out.len() == filter.limit {
            break;
        }
        kept.push(out.len());
        out.push(article);
    }
    Ok((out, merged))
}

/// Sets each story's sources: every carrier (`carriers`, first committer
/// first; its own source when none are known) and then the sources merged
/// into it by title.
pub(crate) fn attach_sources(
    articles: &mut [StoredArticle],
    carriers: &HashMap<i64, Vec<String>>,
    mut merged: MergedSources,
) {
    for (index, article) in articles.iter_mut().enumerate() {
        article.sources = carriers
            .get(&article.id)
            .cloned()
            .unwrap_or_else(|| vec![article.source.clone()]);
        for source in merged.remove(&index).unwrap_or_default() {
            if !article.sources.contains(&source) {
                article.sources.push(source);
            }
        }
    }
}

/// What a round asks before fetching: which of `candidates` are this
/// instance's to fetch now. With one SQLite writer that is all of them;
/// with a shared PostgreSQL database, those due by `slot` that no other
/// instance holds, at most `limit`, each leased until the fetch commits.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Source names, with the time each is next due once fetched.
    pub candidates: Vec<(String, Option<DateTime<Utc>>)>,
    /// Each candidate's schedule (`Schedule::describe`), recorded with its
    /// row on a round's first claim.
    pub schedules: Vec<String>,
    /// Every candidate is on this schedule and the round stands for a
    /// slot: claims find due rows by index instead of by name, so their
    /// cost does not grow with the sources on the schedule.
    pub schedule: Option<String>,
    /// The round's first claim: rows are created and schedules recorded.
    pub first: bool,
    /// The schedule firing this round stands for; `None` fetches, due or
    /// not, whatever no instance holds or has claimed since `started`
    /// (`once`, SIGUSR1: several at once still fetch each source once).
    pub slot: Option<DateTime<Utc>>,
    /// When the round started.
    pub started: DateTime<Utc>,
    /// At most this many (a batch).
    pub limit: usize,
    /// Requests since then are counted for rate limits.
    pub since: Option<DateTime<Utc>>,
}

/// The sources a claim gave this instance, with what a round needs of each.
#[derive(Debug, Clone, Default)]
pub struct Claimed {
    /// The claimed names.
    pub names: Vec<String>,
    /// Their state and the hosts in backoff.
    pub memories: Memories,
    /// Nothing was claimed only because another instance's claim had the
    /// due rows locked at that moment: ask again shortly.
    pub contended: bool,
}
