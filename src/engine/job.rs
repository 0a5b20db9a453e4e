//! One job: fetch one request and parse its answer into articles.
//!
//! This is the whole per-request pipeline (GET with retries, the body to
//! the kind's parser, drafts to cleaned [`Article`]s), written once and used
//! by both the worker pool (for every job of a round) and `herald fetch`
//! (for one source, with each hop traced). A round turns a [`FetchJob`] into
//! exactly one [`JobReply`], whatever happens: late, shut down, failed or
//! fine.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info};

use super::shutdown::Shutdown;
use crate::fetch::limits::host_key;
use crate::fetch::{Exchange, FetchError, HttpClient, HttpResponse, RetryPolicy, retry};
use crate::model::article::Article;
use crate::model::http::{FetchRequest, Payload, ServerHint, Validators};
use crate::model::outcome::{FetchOutcome, FetchStatus, SkipReason, SourceMemory};
use crate::model::secret::{carries_credential, redact, redact_url};
use crate::model::source::{ParseError, SourceSpec};

/// Bodies larger than this are parsed on the blocking pool: measured, a
/// 1 MiB RSS document takes several milliseconds to parse, long enough to
/// delay every other task on that runtime thread.
const INLINE_PARSE_MAX_BYTES: usize = 128 * 1024;

/// The HTTP client and how to retry with it: what every job shares.
#[derive(Debug)]
pub struct Fetcher {
    client: HttpClient,
    retry: RetryPolicy,
}

/// One request to make for one round: a source, or one of its follow-ups.
#[derive(Debug)]
pub struct FetchJob {
    /// The round it belongs to (for log spans).
    pub round_id: i64,
    /// The source it fetches for.
    pub source: Arc<SourceSpec>,
    /// `Some((index, request))` for the `index`th follow-up of `source`.
    pub follow_up: Option<(usize, FetchRequest)>,
    /// The round's deadline: the job is cut off here wherever it is.
    pub deadline: Instant,
    /// Where the answer goes: the round that queued it.
    pub reply: mpsc::UnboundedSender<JobReply>,
    /// Daemon shutdown: skip the job if it has begun, cut it off when aborted.
    pub shutdown: Shutdown,
    /// Validators and remembered moves from earlier fetches of this source.
    pub memory: SourceMemory,
    /// The host's concurrency slot, held until the job is answered.
    pub host_permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Not handed to a worker before this: the source's place in a spread
    /// round (`[daemon] spread`).
    pub not_before: Option<Instant>,
}

/// The answer to one follow-up request.
#[derive(Debug, Clone)]
pub struct ItemOutcome {
    /// The source it belongs to.
    pub source: String,
    /// Position in the source's list, to keep its order.
    pub index: usize,
    /// `Ok(None)`: the item is legitimately absent (deleted, dead, no link).
    pub result: Result<Option<Article>, String>,
}

/// What a worker sends back to the round that queued the job.
#[derive(Debug, Clone)]
pub enum JobReply {
    /// A source's own fetch (boxed: an outcome is large, an item reply small).
    Source(Box<FetchOutcome>),
    /// One follow-up item of a source (boxed too: an article is large).
    Item(Box<ItemOutcome>),
}

/// A fetch and parse that went through: what a source's answer held.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// 2xx, or 304 (then nothing was parsed).
    pub http_status: u16,
    /// The cleaned articles, at most `limit`, in the source's order.
    pub articles: Vec<Article>,
    /// Items the parser found (before cleaning and `limit`).
    pub listed: usize,
    /// Items dropped before `limit` was reached: no usable link.
    pub dropped: usize,
    /// Requests the parse asked for (Hacker News items).
    pub follow_ups: Vec<FetchRequest>,
    /// The validators to send next time.
    pub validators: Validators,
    /// Where a chain of permanent redirects ended.
    pub moved_to: Option<url::Url>,
    /// `Cache-Control: max-age` or `Expires`.
    pub freshness: Option<ServerHint>,
    /// The feed's own `<ttl>`.
    pub ttl: Option<Duration>,
    /// Size of the decompressed body.
    pub body_bytes: u64,
    /// What the parser had to repair.
    pub warnings: Vec<String>,
}

impl Fetched {
    /// When to check again: the later of the HTTP freshness and the `<ttl>`.
    pub fn hint(&self) -> Option<ServerHint> {
        let ttl = self.ttl.map(|wait| ServerHint {
            wait,
            reason: format!("ttl {} min", wait.as_secs() / 60),
        });
        ServerHint::later(self.freshness.clone(), ttl)
    }
}

/// What went wrong, in the words that end up in the `fetches` row.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The request got no usable answer.
    #[error(transparent)]
    Fetch(FetchError),
    /// The answer came but did not parse.
    #[error("{error} (HTTP {http_status})")]
    Parse {
        /// The answer's status.
        http_status: u16,
        /// Why it did not parse.
        error: ParseError,
    },
}

impl Failure {
    /// The HTTP status that came with the failure, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Failure::Fetch(e) => e.http_status(),
            Failure::Parse { http_status, .. } => Some(*http_status),
        }
    }

    /// Whether the network itself failed (connection, DNS, timeout): the
    /// kind of failure a whole offline machine produces.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Failure::Fetch(
                FetchError::Connect(_)
                    | FetchError::Proxy { .. }
                    | FetchError::Dns { .. }
                    | FetchError::Timeout(_)
            )
        )
    }

    /// The one-line reason, in the operator's terms and with every secret of
    /// the source masked.
    pub fn describe(&self, spec: &SourceSpec) -> String {
        let Failure::Fetch(FetchError::Status {
            status,
            retry_after,
            rate_limited,
            body,
            ..
        }) = self
        else {
            return redact(&self.to_string(), &spec.secrets());
        };
        let said = body
            .as_deref()
            .and_then(|body| spec.source.error_message(body))
            .map(|message| format!("API error: {message} (HTTP {status})"));
        let text = if *rate_limited {
            match retry_after {
                Some(wait) => format!(
                    "rate limited until {} (HTTP {status})",
                    (Utc::now() + chrono::Duration::from_std(*wait).unwrap_or_default())
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                None => format!("rate limited (HTTP {status})"),
            }
        } else if matches!(status, 401 | 403) {
            let check = match spec.source.credential() {
                Some(key) => format!("unauthorized (check {})", key.hint),
                None => format!("unauthorized ({self})"),
            };
            match said {
                Some(said) => format!("{check}: {said}"),
                None => check,
            }
        } else {
            said.unwrap_or_else(|| self.to_string())
        };
        redact(&text, &spec.secrets())
    }

    /// Whether the server said "slow down" (429, or a 403 rate limit).
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, Failure::Fetch(error) if error.is_rate_limit())
    }
}

impl Fetcher {
    /// A fetcher over `client`, retrying transient failures by `retry`.
    pub fn new(client: HttpClient, retry: RetryPolicy) -> Self {
        Fetcher { client, retry }
    }

    /// Builds, in the background, the HTTP clients `urls` need (see
    /// [`HttpClient::warm_up`]).
    pub fn warm_up(&self, urls: &[url::Url]) {
        self.client.warm_up(urls);
    }

    /// Fetches `request` for `spec` and parses the answer, as a round does.
    /// Transient failures are retried (never past `deadline`), unless
    /// `trace` is given: then one attempt is made and every hop's headers
    /// are recorded in it. Returns the result and the attempts made.
    pub async fn fetch_source(
        &self,
        spec: &Arc<SourceSpec>,
        request: &FetchRequest,
        validators: Option<&Validators>,
        deadline: Instant,
        trace: Option<&mut Vec<Exchange>>,
    ) -> (Result<Fetched, Failure>, u32) {
        let (response, attempts) = match trace {
            Some(trace) => (
                self.client
                    .get_traced(request, validators, Some(trace))
                    .await,
                1,
            ),
            None => self.get(request, validators, deadline).await,
        };
        let result = match response {
            Ok(response) => parse_source(spec, response).await,
            Err(error) => Err(Failure::Fetch(error)),
        };
        (result, attempts)
    }

    /// GETs with retries for transient failures, never past the deadline.
    async fn get(
        &self,
        request: &FetchRequest,
        validators: Option<&Validators>,
        deadline: Instant,
    ) -> (Result<HttpResponse, FetchError>, u32) {
        retry::with_retries(self.retry, deadline, || {
            self.client.get(request, validators)
        })
        .await
    }
}

impl FetchJob {
    /// Runs the job and produces its one reply.
    pub async fn run(&self, fetcher: &Fetcher) -> JobReply {
        match &self.follow_up {
            None => JobReply::Source(Box::new(self.run_source(fetcher).await)),
            Some((index, request)) => {
                JobReply::Item(Box::new(self.run_item(fetcher, *index, request).await))
            }
        }
    }

    /// The reply for a job that never ran (deadline or shutdown first).
    pub fn unanswered(&self, status: FetchStatus, reason: &str) -> JobReply {
        match &self.follow_up {
            None if status == FetchStatus::Skipped => JobReply::Source(Box::new(
                FetchOutcome::skipped(&self.source.name, SkipReason::ShuttingDown),
            )),
            None => JobReply::Source(Box::new(FetchOutcome::without_response(
                &self.source.name,
                status,
                Duration::ZERO,
                reason.to_owned(),
            ))),
            Some((index, _)) => JobReply::Item(Box::new(ItemOutcome {
                source: self.source.name.clone(),
                index: *index,
                result: Err(reason.to_owned()),
            })),
        }
    }

    /// Runs `work` unless the job is already late or shutting down, cutting
    /// it off at the round deadline or when shutdown aborts.
    async fn guarded<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T, Cut> {
        if Instant::now() >= self.deadline {
            return Err(Cut::LateToStart);
        }
        if self.shutdown.is_begun() {
            return Err(Cut::ShuttingDown);
        }
        tokio::select! {
            result = tokio::time::timeout_at(self.deadline, work) => {
                result.map_err(|_| Cut::Deadline)
            }
            () = self.shutdown.aborted() => Err(Cut::Cancelled),
        }
    }

    /// Fetches and parses one source.
    async fn run_source(&self, fetcher: &Fetcher) -> FetchOutcome {
        let spec = &self.source;
        let started = Instant::now();
        let mut request = spec.source.request();
        if let Some(moved) = &self.memory.moved_to {
            request.url = moved.clone();
        }
        let result = self
            .guarded(fetcher.fetch_source(
                spec,
                &request,
                self.memory.validators.as_ref(),
                self.deadline,
                None,
            ))
            .await;
        let elapsed = started.elapsed();
        let mut outcome = match result {
            Err(Cut::ShuttingDown) => FetchOutcome::skipped(&spec.name, SkipReason::ShuttingDown),
            Err(cut) => FetchOutcome {
                // Shutdown's doing, not the source's: neither success nor
                // failure for the breaker and alerts.
                cancelled: cut == Cut::Cancelled,
                ..FetchOutcome::without_response(
                    &spec.name,
                    FetchStatus::Timeout,
                    elapsed,
                    cut.to_string(),
                )
            },
            Ok((result, attempts)) => {
                let mut outcome = outcome_of(spec, &request.url, result, elapsed);
                outcome.attempts = attempts.max(1);
                outcome
            }
        };
        outcome.attempts = outcome.attempts.max(1);
        outcome.host = Some(host_key(&request.url));
        debug!(
            status = outcome.status.as_str(),
            http_status = outcome.http_status,
            elapsed_ms = outcome.elapsed.as_millis() as u64,
            articles = outcome.articles.len(),
            follow_ups = outcome.follow_ups.len(),
            "fetched"
        );
        outcome
    }

    /// Fetches and parses one follow-up item of a source.
    async fn run_item(
        &self,
        fetcher: &Fetcher,
        index: usize,
        request: &FetchRequest,
    ) -> ItemOutcome {
        let spec = &self.source;
        let result = self
            .guarded(async {
                let response = fetcher
                    .get(request, None, self.deadline)
                    .await
                    .0
                    .map_err(Failure::Fetch)?;
                let http_status = response.status;
                let payload = payload_of(response);
                let draft = contain_panic(|| spec.source.parse_follow_up(&payload))
                    .map_err(|error| Failure::Parse { http_status, error })?;
                Ok::<_, Failure>(
                    draft
                        .and_then(|d| Article::from_draft(&d, Some(&payload.url), Utc::now()).ok()),
                )
            })
            .await;
        let result = match result {
            Err(cut) => Err(cut.to_string()),
            Ok(Err(failure)) => Err(failure.describe(spec)),
            Ok(Ok(article)) => Ok(article),
        };
        ItemOutcome {
            source: spec.name.clone(),
            index,
            result,
        }
    }
}

/// Why a job was cut off, or never ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Cut {
    #[error("round deadline reached before the fetch started")]
    LateToStart,
    #[error("shutdown began before the fetch started")]
    ShuttingDown,
    #[error("round deadline reached while fetching")]
    Deadline,
    #[error("cancelled: the shutdown grace period ended")]
    Cancelled,
}

/// The outcome record of a fetch that ran to an answer (good or bad).
fn outcome_of(
    spec: &SourceSpec,
    requested: &url::Url,
    result: Result<Fetched, Failure>,
    elapsed: Duration,
) -> FetchOutcome {
    match result {
        Err(failure) => {
            let status = match failure {
                Failure::Fetch(FetchError::Timeout(_)) => FetchStatus::Timeout,
                _ => FetchStatus::Failed,
            };
            FetchOutcome {
                http_status: failure.http_status(),
                network_failure: failure.is_network(),
                rate_limited: failure.is_rate_limit(),
                next_check: match &failure {
                    Failure::Fetch(error) => error.retry_after().map(|wait| ServerHint {
                        wait,
                        reason: format!("Retry-After {} s", wait.as_secs()),
                    }),
                    Failure::Parse { .. } => None,
                },
                ..FetchOutcome::without_response(
                    &spec.name,
                    status,
                    elapsed,
                    failure.describe(spec),
                )
            }
        }
        Ok(fetched) => {
            let next_check = fetched.hint();
            FetchOutcome {
                source: spec.name.clone(),
                status: if fetched.http_status == 304 {
                    FetchStatus::NotModified
                } else {
                    FetchStatus::Ok
                },
                http_status: Some(fetched.http_status),
                elapsed,
                attempts: 1,
                articles: fetched.articles,
                dropped: fetched.dropped,
                filtered: 0,
                error: None,
                finished_at: Utc::now(),
                follow_ups: fetched.follow_ups,
                failed_items: 0,
                validators: Some(fetched.validators),
                moved_to: fetched
                    .moved_to
                    .filter(|moved| may_remember(spec, requested, moved)),
                network_failure: false,
                rate_limited: false,
                next_check,
                host: None,
                body_bytes: fetched.body_bytes,
                warnings: fetched.warnings,
                skip: None,
                cancelled: false,
            }
        }
    }
}

/// Whether a permanent move may be remembered: never when the source sends
/// a key or either URL carries a credential, because a remembered move is
/// stored in the database and shown by `herald sources`.
fn may_remember(spec: &SourceSpec, requested: &url::Url, moved: &url::Url) -> bool {
    let secret = spec.source.credential().is_some()
        || carries_credential(requested)
        || carries_credential(moved);
    if secret {
        info!(
            source = %spec.name,
            moved_to = %redact_url(moved, &spec.secrets()),
            "permanent redirect not remembered: the URL carries a credential, which herald never stores"
        );
    }
    !secret
}

fn payload_of(response: HttpResponse) -> Payload {
    Payload {
        body: response.body,
        content_type: response.content_type,
        url: response.final_url,
    }
}

/// Parses a 2xx (or passes a 304 through) into articles, applying `limit`.
async fn parse_source(spec: &Arc<SourceSpec>, response: HttpResponse) -> Result<Fetched, Failure> {
    let http_status = response.status;
    let validators = response.validators.clone();
    let moved_to = response.moved_to.clone();
    let freshness = response.freshness.clone();
    if response.not_modified() {
        // Nothing changed: no parsing, no article writes; hints still apply.
        return Ok(Fetched {
            http_status,
            articles: Vec::new(),
            listed: 0,
            dropped: 0,
            follow_ups: Vec::new(),
            validators,
            moved_to,
            freshness,
            ttl: None,
            body_bytes: 0,
            warnings: Vec::new(),
        });
    }
    let payload = payload_of(response);
    let body_bytes = payload.body.len() as u64;
    // Relative links resolve against where the body really came from.
    let base = payload.url.clone();
    let parsed = if payload.body.len() <= INLINE_PARSE_MAX_BYTES {
        contain_panic(|| spec.source.parse(&payload))
    } else {
        let source = Arc::clone(&spec.source);
        tokio::task::spawn_blocking(move || contain_panic(|| source.parse(&payload)))
            .await
            .unwrap_or_else(|e| Err(ParseError::Panicked(e.to_string())))
    }
    .map_err(|error| Failure::Parse { http_status, error })?;

    let now = Utc::now();
    let limit = spec.limit.unwrap_or(usize::MAX);
    let listed = parsed.items.len();
    let mut articles = Vec::with_capacity(listed.min(limit));
    let mut dropped = 0;
    for draft in parsed.items {
        if articles.len() == limit {
            break;
        }
        match Article::from_draft(&draft, Some(&base), now) {
            Ok(article) => articles.push(article),
            Err(_) => dropped += 1,
        }
    }
    Ok(Fetched {
        http_status,
        articles,
        listed,
        dropped,
        follow_ups: parsed.follow_ups,
        validators,
        moved_to,
        freshness,
        ttl: parsed.ttl,
        body_bytes,
        warnings: parsed.warnings,
    })
}

/// Turns a panic in `f` into [`ParseError::Panicked`], so that a panic
/// inside a parser (a dependency has panicked on odd UTF-16 before) fails
/// this one source instead of a worker.
///
/// # Errors
/// Whatever `f` returns, or [`ParseError::Panicked`] with the panic's message.
pub fn contain_panic<T, F>(f: F) -> Result<T, ParseError>
where
    F: FnOnce() -> Result<T, ParseError>,
{
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(ParseError::Panicked(panic_message(panic.as_ref()))))
}

/// What a panic said, as text.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_parser_becomes_an_error() {
        let result: Result<Vec<u8>, _> = contain_panic(|| panic!("boom at byte 7"));
        assert_eq!(result, Err(ParseError::Panicked("boom at byte 7".into())));
    }
}
