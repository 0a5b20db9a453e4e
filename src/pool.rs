//! The worker pool: `workers` tasks draining one bounded queue of fetch jobs.
//!
//! Shape: N long-lived tasks share the queue's single `Receiver` behind a
//! `tokio::sync::Mutex` (miniflux's "N workers on one channel"). Only the
//! worker holding the lock waits in `recv`; the rest queue fairly on the
//! mutex, so a job goes to the next idle worker. The pool size is therefore
//! exactly the cap on fetches in flight, with no semaphore to keep in sync.
//! A dispatcher spawning into a `JoinSet` would work too, but would allocate
//! a task per job and need a semaphore for the same guarantee.
//!
//! Workers never touch the database: each job carries a reply channel and the
//! worker sends the [`FetchOutcome`] back to the round that queued it, so one
//! pool serves any number of concurrent rounds (the daemon runs several
//! schedules at once).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument, debug};

use crate::article::Article;
use crate::fetch::{
    FetchError, HttpClient, HttpResponse, RetryPolicy, ServerHint, Validators, retry,
};
use crate::outcome::{FetchOutcome, FetchStatus, ItemOutcome, JobReply, SourceMemory};
use crate::redact::redact;
use crate::shutdown::Shutdown;
use crate::sources::{self, FetchRequest, ParseError, Payload, SourceSpec};

/// Bodies larger than this are parsed on the blocking pool: measured, a
/// 1 MiB RSS document takes several milliseconds to parse, long enough to
/// delay every other task on that runtime thread.
const INLINE_PARSE_MAX_BYTES: usize = 128 * 1024;

/// The reason recorded for jobs that shutdown kept from starting.
pub const SHUTDOWN_BEFORE_START: &str = "shutdown began before the fetch started";

/// One request to make for one round: a source, or one of its follow-ups.
#[derive(Debug)]
pub struct FetchJob {
    pub round_id: i64,
    pub source: Arc<SourceSpec>,
    /// `Some((index, request))` for the `index`th follow-up of `source`.
    pub follow_up: Option<(usize, FetchRequest)>,
    /// The round's deadline: the job is cut off here wherever it is.
    pub deadline: Instant,
    pub reply: mpsc::UnboundedSender<JobReply>,
    /// Daemon shutdown: skip the job if it has begun, cut it off when aborted.
    pub shutdown: Shutdown,
    /// Validators and remembered moves from earlier fetches of this source.
    pub memory: SourceMemory,
    /// The host's concurrency slot, held until the job is answered.
    pub host_permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl FetchJob {
    /// The reply for a job that never ran (deadline or shutdown first).
    pub fn unanswered(&self, status: FetchStatus, reason: &str) -> JobReply {
        match &self.follow_up {
            None => JobReply::Source(FetchOutcome::without_response(
                &self.source.name,
                status,
                Duration::ZERO,
                reason.to_owned(),
            )),
            Some((index, _)) => JobReply::Item(ItemOutcome {
                source: self.source.name.clone(),
                index: *index,
                result: Err(reason.to_owned()),
            }),
        }
    }
}

/// A running pool. Dropping every queue sender lets the workers finish.
#[derive(Debug)]
pub struct WorkerPool {
    queue: mpsc::Sender<FetchJob>,
    workers: Vec<JoinHandle<()>>,
    /// Jobs being worked on right now, for the metrics gauge.
    in_flight: Arc<AtomicUsize>,
}

impl WorkerPool {
    /// Starts `workers` tasks on a queue holding up to `capacity` jobs.
    pub fn start(
        workers: usize,
        capacity: usize,
        client: HttpClient,
        retry: RetryPolicy,
    ) -> WorkerPool {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let fetcher = Arc::new(Fetcher { client, retry });
        let in_flight = Arc::new(AtomicUsize::new(0));
        let workers = (0..workers.max(1))
            .map(|id| {
                let receiver = Arc::clone(&receiver);
                let fetcher = Arc::clone(&fetcher);
                tokio::spawn(worker(id, receiver, fetcher, Arc::clone(&in_flight)))
            })
            .collect();
        WorkerPool {
            queue,
            workers,
            in_flight,
        }
    }

    /// A handle for enqueuing jobs.
    pub fn queue(&self) -> mpsc::Sender<FetchJob> {
        self.queue.clone()
    }

    /// What the metrics gauges watch: the queue (weakly, so watching never
    /// keeps a retired pool alive) and the in-flight counter.
    pub fn gauges(&self) -> (mpsc::WeakSender<FetchJob>, Arc<AtomicUsize>) {
        (self.queue.downgrade(), Arc::clone(&self.in_flight))
    }

    /// Closes the queue and waits for the workers to finish the jobs already in it.
    pub async fn stop(self) {
        drop(self.queue);
        for handle in self.workers {
            let _ = handle.await;
        }
    }
}

/// The HTTP client and how to retry with it: what every worker shares.
#[derive(Debug)]
struct Fetcher {
    client: HttpClient,
    retry: RetryPolicy,
}

impl Fetcher {
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

async fn worker(
    id: usize,
    receiver: Arc<Mutex<mpsc::Receiver<FetchJob>>>,
    client: Arc<Fetcher>,
    in_flight: Arc<AtomicUsize>,
) {
    loop {
        // The lock is held only while waiting for the next job.
        let next = receiver.lock().await.recv().await;
        let Some(job) = next else { break };
        let busy = InFlight::enter(&in_flight);
        let span = tracing::debug_span!("fetch", round_id = job.round_id, source = %job.source.name, worker = id);
        let reply = match &job.follow_up {
            None => JobReply::Source(run_source(&client, &job).instrument(span).await),
            Some((index, request)) => JobReply::Item(
                run_item(&client, &job, *index, request)
                    .instrument(span)
                    .await,
            ),
        };
        // A worker never blocks here (the channel is unbounded) and never
        // enqueues: follow-ups are queued by the round, so a full queue can
        // never leave every worker waiting on itself.
        drop(busy);
        let _ = job.reply.send(reply);
    }
}

/// Counts a job as in flight for as long as it lives, even if the fetch panics.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `work` unless the job is already late or shutting down, cutting it
/// off at the round deadline or when shutdown aborts. The error is the
/// status and reason to record.
async fn guarded<T>(
    job: &FetchJob,
    work: impl std::future::Future<Output = T>,
) -> Result<T, (FetchStatus, &'static str)> {
    if Instant::now() >= job.deadline {
        return Err((
            FetchStatus::Timeout,
            "round deadline reached before the fetch started",
        ));
    }
    if job.shutdown.is_begun() {
        return Err((FetchStatus::Skipped, SHUTDOWN_BEFORE_START));
    }
    tokio::select! {
        result = tokio::time::timeout_at(job.deadline, work) => {
            result.map_err(|_| (FetchStatus::Timeout, "round deadline reached while fetching"))
        }
        () = job.shutdown.aborted() => Err((FetchStatus::Timeout, "cancelled: the shutdown grace period ended")),
    }
}

/// Fetches and parses one source.
async fn run_source(client: &Fetcher, job: &FetchJob) -> FetchOutcome {
    let spec = &job.source;
    let started = Instant::now();
    let mut request = spec.source.request();
    if let Some(moved) = &job.memory.moved_to {
        request.url = moved.clone();
    }
    let mut attempts = 1;
    let result = guarded(job, async {
        let (response, tries) = client
            .get(&request, job.memory.validators.as_ref(), job.deadline)
            .await;
        attempts = tries;
        parse_source(spec, response.map_err(Failure::Fetch)?).await
    })
    .await;
    let elapsed = started.elapsed();
    let mut outcome = match result {
        Err((status, reason)) => {
            FetchOutcome::without_response(&spec.name, status, elapsed, reason.into())
        }
        Ok(Err(failure)) => {
            let status = match failure {
                Failure::Fetch(FetchError::Timeout(_)) => FetchStatus::Timeout,
                _ => FetchStatus::Failed,
            };
            FetchOutcome {
                http_status: failure.http_status(),
                network_failure: matches!(
                    failure,
                    Failure::Fetch(
                        FetchError::Connect(_) | FetchError::Dns { .. } | FetchError::Timeout(_)
                    )
                ),
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
                    describe(spec, &failure),
                )
            }
        }
        Ok(Ok(fetched)) => FetchOutcome {
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
            error: None,
            finished_at: Utc::now(),
            follow_ups: fetched.follow_ups,
            failed_items: 0,
            validators: Some(fetched.validators),
            // A URL carrying a credential is never remembered (it would be stored).
            moved_to: fetched
                .moved_to
                .filter(|_| spec.source.credential().is_none()),
            network_failure: false,
            next_check: fetched.hint,
            host: None,
            body_bytes: fetched.body_bytes,
        },
    };
    outcome.attempts = attempts.max(1);
    outcome.host = Some(crate::fetch::limits::host_key(&request.url));
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
    client: &Fetcher,
    job: &FetchJob,
    index: usize,
    request: &FetchRequest,
) -> ItemOutcome {
    let spec = &job.source;
    let result = guarded(job, async {
        let response = client
            .get(request, None, job.deadline)
            .await
            .0
            .map_err(Failure::Fetch)?;
        let http_status = response.status;
        let payload = payload_of(response);
        let draft = sources::contain_panic(|| spec.source.parse_follow_up(&payload))
            .map_err(|error| Failure::Parse { http_status, error })?;
        Ok(draft.and_then(|d| Article::from_draft(d, Some(&payload.url), Utc::now()).ok()))
    })
    .await;
    let result = match result {
        Err((_, reason)) => Err(reason.to_owned()),
        Ok(Err(failure)) => Err(describe(spec, &failure)),
        Ok(Ok(article)) => Ok(article),
    };
    ItemOutcome {
        source: spec.name.clone(),
        index,
        result,
    }
}

/// What went wrong, in the words that end up in the `fetches` row.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Fetch(FetchError),
    #[error("{error} (HTTP {http_status})")]
    Parse { http_status: u16, error: ParseError },
}

impl Failure {
    fn http_status(&self) -> Option<u16> {
        match self {
            Failure::Fetch(e) => e.http_status(),
            Failure::Parse { http_status, .. } => Some(*http_status),
        }
    }
}

/// The one-line reason for a failure, in the operator's terms and with
/// every secret of the source masked.
fn describe(spec: &SourceSpec, failure: &Failure) -> String {
    let text = match failure.http_status() {
        Some(401 | 403) if matches!(failure, Failure::Fetch(_)) => match spec.source.credential() {
            Some(key) => format!("unauthorized (check {})", key.hint),
            None => format!("unauthorized ({failure})"),
        },
        Some(429) if matches!(failure, Failure::Fetch(_)) => "rate limited (HTTP 429)".to_owned(),
        _ => failure.to_string(),
    };
    redact(&text, &sources::secrets_of(spec.source.as_ref()))
}

struct Fetched {
    http_status: u16,
    articles: Vec<Article>,
    dropped: usize,
    follow_ups: Vec<FetchRequest>,
    validators: Validators,
    moved_to: Option<url::Url>,
    /// The later of the HTTP freshness and the feed's `<ttl>`.
    hint: Option<ServerHint>,
    body_bytes: u64,
}

fn payload_of(response: HttpResponse) -> Payload {
    Payload {
        body: response.body,
        content_type: response.content_type,
        url: response.final_url,
    }
}

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
            dropped: 0,
            follow_ups: Vec::new(),
            validators,
            moved_to,
            hint: freshness,
            body_bytes: 0,
        });
    }
    let payload = payload_of(response);
    let body_bytes = payload.body.len() as u64;
    // Relative links resolve against where the body really came from.
    let base = payload.url.clone();
    let parsed = if payload.body.len() <= INLINE_PARSE_MAX_BYTES {
        sources::contain_panic(|| spec.source.parse(&payload))
    } else {
        let source = Arc::clone(&spec.source);
        tokio::task::spawn_blocking(move || sources::contain_panic(|| source.parse(&payload)))
            .await
            .unwrap_or_else(|e| Err(ParseError::Panicked(e.to_string())))
    }
    .map_err(|error| Failure::Parse { http_status, error })?;

    let now = Utc::now();
    let limit = spec.limit.unwrap_or(usize::MAX);
    let mut articles = Vec::with_capacity(parsed.items.len().min(limit));
    let mut dropped = 0;
    for draft in parsed.items {
        if articles.len() == limit {
            break;
        }
        match Article::from_draft(draft, Some(&base), now) {
            Ok(article) => articles.push(article),
            Err(_) => dropped += 1,
        }
    }
    let ttl = parsed.ttl.map(|wait| ServerHint {
        wait,
        reason: format!("ttl {} min", wait.as_secs() / 60),
    });
    let hint = match (freshness, ttl) {
        (Some(a), Some(b)) => Some(if a.wait >= b.wait { a } else { b }),
        (a, b) => a.or(b),
    };
    Ok(Fetched {
        http_status,
        articles,
        dropped,
        follow_ups: parsed.follow_ups,
        validators,
        moved_to,
        hint,
        body_bytes,
    })
}
