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
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument, debug};

use crate::article::Article;
use crate::fetch::{FetchError, HttpClient};
use crate::outcome::{FetchOutcome, FetchStatus};
use crate::shutdown::Shutdown;
use crate::sources::{self, ParseError, Payload, SourceSpec};

/// Bodies larger than this are parsed on the blocking pool: measured, a
/// 1 MiB RSS document takes several milliseconds to parse, long enough to
/// delay every other task on that runtime thread.
const INLINE_PARSE_MAX_BYTES: usize = 128 * 1024;

/// The reason recorded for jobs that shutdown kept from starting.
pub const SHUTDOWN_BEFORE_START: &str = "shutdown began before the fetch started";

/// One source to fetch for one round.
#[derive(Debug)]
pub struct FetchJob {
    pub round_id: i64,
    pub source: Arc<SourceSpec>,
    /// The round's deadline: the job is cut off here wherever it is.
    pub deadline: Instant,
    pub reply: mpsc::UnboundedSender<FetchOutcome>,
    /// Daemon shutdown: skip the job if it has begun, cut it off when aborted.
    pub shutdown: Shutdown,
}

/// A running pool. Dropping every queue sender lets the workers finish.
#[derive(Debug)]
pub struct WorkerPool {
    queue: mpsc::Sender<FetchJob>,
    workers: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `workers` tasks on a queue holding up to `capacity` jobs.
    pub fn start(workers: usize, capacity: usize, client: HttpClient) -> WorkerPool {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let client = Arc::new(client);
        let workers = (0..workers.max(1))
            .map(|id| {
                let receiver = Arc::clone(&receiver);
                let client = Arc::clone(&client);
                tokio::spawn(worker(id, receiver, client))
            })
            .collect();
        WorkerPool { queue, workers }
    }

    /// A handle for enqueuing jobs.
    pub fn queue(&self) -> mpsc::Sender<FetchJob> {
        self.queue.clone()
    }

    /// Closes the queue and waits for the workers to finish the jobs already in it.
    pub async fn stop(self) {
        drop(self.queue);
        for handle in self.workers {
            let _ = handle.await;
        }
    }
}

async fn worker(
    id: usize,
    receiver: Arc<Mutex<mpsc::Receiver<FetchJob>>>,
    client: Arc<HttpClient>,
) {
    loop {
        // The lock is held only while waiting for the next job.
        let next = receiver.lock().await.recv().await;
        let Some(job) = next else { break };
        let span = tracing::debug_span!("fetch", round_id = job.round_id, source = %job.source.name, worker = id);
        let outcome = run_job(&client, &job).instrument(span).await;
        // The round may have given up on us (its receiver dropped): nothing to do.
        let _ = job.reply.send(outcome);
    }
}

/// Fetches and parses one source, never longer than the job's deadline.
pub async fn run_job(client: &HttpClient, job: &FetchJob) -> FetchOutcome {
    let name = job.source.name.as_str();
    let started = Instant::now();
    if started >= job.deadline {
        return FetchOutcome::without_response(
            name,
            FetchStatus::Timeout,
            Duration::ZERO,
            "round deadline reached before the fetch started".into(),
        );
    }
    if job.shutdown.is_begun() {
        return FetchOutcome::without_response(
            name,
            FetchStatus::Skipped,
            Duration::ZERO,
            SHUTDOWN_BEFORE_START.into(),
        );
    }
    let result = tokio::select! {
        result = tokio::time::timeout_at(job.deadline, fetch_and_parse(client, &job.source)) => Some(result),
        () = job.shutdown.aborted() => None,
    };
    let elapsed = started.elapsed();
    let mut outcome = match result {
        None => FetchOutcome::without_response(
            name,
            FetchStatus::Timeout,
            elapsed,
            "cancelled: the shutdown grace period ended".into(),
        ),
        Some(Err(_)) => FetchOutcome::without_response(
            name,
            FetchStatus::Timeout,
            elapsed,
            "round deadline reached while fetching".into(),
        ),
        Some(Ok(Err(failure))) => {
            let status = match failure {
                Failure::Fetch(FetchError::Timeout(_)) => FetchStatus::Timeout,
                _ => FetchStatus::Failed,
            };
            FetchOutcome {
                http_status: failure.http_status(),
                ..FetchOutcome::without_response(name, status, elapsed, failure.to_string())
            }
        }
        Some(Ok(Ok(fetched))) => FetchOutcome {
            source: name.to_owned(),
            status: FetchStatus::Ok,
            http_status: Some(fetched.http_status),
            elapsed,
            attempts: 1,
            articles: fetched.articles,
            dropped: fetched.dropped,
            error: None,
            finished_at: Utc::now(),
        },
    };
    outcome.attempts = outcome.attempts.max(1);
    debug!(
        status = outcome.status.as_str(),
        http_status = outcome.http_status,
        elapsed_ms = outcome.elapsed.as_millis() as u64,
        articles = outcome.articles.len(),
        "fetched"
    );
    outcome
}

/// What went wrong, in the words that end up in the `fetches` row.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Fetch(#[from] FetchError),
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

struct Fetched {
    http_status: u16,
    articles: Vec<Article>,
    dropped: usize,
}

async fn fetch_and_parse(client: &HttpClient, spec: &Arc<SourceSpec>) -> Result<Fetched, Failure> {
    let response = client.get(&spec.source.request()).await?;
    let http_status = response.status;
    let payload = Payload {
        body: response.body,
        content_type: response.content_type,
        url: response.final_url,
    };
    // Relative links resolve against where the body really came from.
    let base = payload.url.clone();
    let drafts = if payload.body.len() <= INLINE_PARSE_MAX_BYTES {
        sources::parse_contained(spec.source.as_ref(), &payload)
    } else {
        let source = Arc::clone(&spec.source);
        tokio::task::spawn_blocking(move || sources::parse_contained(source.as_ref(), &payload))
            .await
            .unwrap_or_else(|e| Err(ParseError::Panicked(e.to_string())))
    }
    .map_err(|error| Failure::Parse { http_status, error })?;

    let now = Utc::now();
    let limit = spec.limit.unwrap_or(usize::MAX);
    let mut articles = Vec::with_capacity(drafts.len().min(limit));
    let mut dropped = 0;
    for draft in drafts {
        if articles.len() == limit {
            break;
        }
        match Article::from_draft(draft, Some(&base), now) {
            Ok(article) => articles.push(article),
            Err(_) => dropped += 1,
        }
    }
    Ok(Fetched {
        http_status,
        articles,
        dropped,
    })
}
