//! One aggregation round: sources in, a report out.
//!
//! A round turns each source into a [`FetchJob`] on the pool's bounded queue,
//! collects every outcome, hands each to storage as soon as it arrives (the
//! writer commits while other fetches are still in flight), and reports.
//!
//! Every job produces exactly one outcome, whatever happens: the worker
//! bounds its fetch by the round deadline, a job still queued at the deadline
//! is answered by the worker that pops it, and a job that could not even be
//! queued before the deadline is answered by the enqueuer. So the round simply
//! waits for all outcomes, and nothing already fetched is ever thrown away.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tracing::{Instrument, debug, info, warn};

use super::breaker::{self, Verdict};
use super::job::{FetchJob, ItemOutcome, JobReply};
use super::report::{RoundReport, SourceReport, build_report};
use super::shutdown::Shutdown;
use crate::fetch::HostLimits;
use crate::fetch::limits::host_key;
use crate::model::article::Article;
use crate::model::http::FetchRequest;
use crate::model::outcome::{BreakerState, FetchOutcome, FetchStatus, SkipReason, SourceMemory};
use crate::model::schedule::spread_offset;
use crate::model::source::SourceSpec;
use crate::storage::{ClaimRequest, Claimed, RoundSummary, Storage, StorageError, Stored};

/// How rounds run: the `[daemon]` values a round needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundSettings {
    /// Deadline of a whole round.
    pub round_timeout: Duration,
    /// The pool size, for the "ideal" wall time.
    pub workers: usize,
    /// The circuit breaker's threshold.
    pub max_consecutive_failures: u32,
}

/// How long after its deadline a round waits for answers that should
/// already be in (see the net in `run_inner`).
const ANSWER_GRACE: Duration = Duration::from_secs(30);

/// A commit handed to the writer, awaited once every source has answered.
type PendingCommit =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Stored, StorageError>> + Send>>;

/// Where a finished source is announced (`once`'s progress bar).
pub type Progress = mpsc::UnboundedSender<(String, FetchStatus)>;

/// Runs rounds against one pool and one database.
#[derive(Debug, Clone)]
pub struct RoundRunner {
    queue: mpsc::Sender<FetchJob>,
    storage: Storage,
    settings: RoundSettings,
    shutdown: Shutdown,
    /// Shared by every round, so the per-host cap holds across them.
    hosts: HostLimits,
    progress: Option<Progress>,
    /// `once --force`: fetch what the breaker paused or a server's hint
    /// would have skipped.
    forced: bool,
}

/// How a round's sources start: all at once, or spread over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spread(pub Duration);

impl RoundRunner {
    /// A runner feeding `queue` (a pool's) and committing to `storage`.
    pub fn new(
        settings: RoundSettings,
        queue: mpsc::Sender<FetchJob>,
        storage: Storage,
        shutdown: Shutdown,
        hosts: HostLimits,
    ) -> RoundRunner {
        RoundRunner {
            queue,
            storage,
            settings,
            shutdown,
            hosts,
            progress: None,
            forced: false,
        }
    }

    /// Fetches sources the circuit breaker paused and sources a server asked
    /// not to check yet (`once --force`); host backoffs, rate limits and the
    /// per-host cap still hold.
    #[must_use]
    pub fn forced(mut self, forced: bool) -> RoundRunner {
        self.forced = forced;
        self
    }

    /// Tells `progress` each source's name and status as it finishes.
    #[must_use]
    pub fn with_progress(mut self, progress: Option<Progress>) -> RoundRunner {
        self.progress = progress;
        self
    }

    /// The per-host registry its rounds share.
    pub fn hosts(&self) -> &HostLimits {
        &self.hosts
    }

    /// Logs a failure, queues the outcome for storage, and returns its report
    /// line with the future that fills in `new` and `seen`.
    fn commit(&self, round_id: i64, outcome: FetchOutcome) -> (SourceReport, PendingCommit) {
        if let Some(error) = outcome
            .error
            .as_deref()
            .filter(|_| outcome.status.is_failure())
        {
            warn!(source = %outcome.source, status = outcome.status.as_str(), http_status = outcome.http_status, error, "source failed");
        }
        let line = SourceReport {
            name: outcome.source.clone(),
            status: outcome.status,
            http_status: outcome.http_status,
            elapsed_ms: outcome.elapsed.as_millis() as u64,
            attempts: outcome.attempts,
            new: 0,
            seen: 0,
            failed_items: outcome.failed_items,
            error: outcome.error.clone(),
            body_bytes: outcome.body_bytes,
            skip: outcome.skip.clone(),
            warnings: outcome.warnings.clone(),
            filtered: outcome.filtered,
            stored_late_ms: None,
        };
        (line, Box::pin(self.storage.commit_fetch(round_id, outcome)))
    }

    /// A source is done: announce it, note its verdict, queue its commit.
    fn settle(
        &self,
        round_id: i64,
        outcome: FetchOutcome,
        pending: &mut Vec<(SourceReport, PendingCommit)>,
        verdicts: &mut Vec<(String, Verdict)>,
    ) {
        if let Some(progress) = &self.progress {
            let _ = progress.send((outcome.source.clone(), outcome.status));
        }
        // A fetch cut off by shutdown says nothing about the source.
        if !outcome.cancelled {
            verdicts.push((
                outcome.source.clone(),
                Verdict {
                    status: outcome.status,
                    http_status: outcome.http_status,
                    network_failure: outcome.network_failure,
                    rate_limited: outcome.rate_limited,
                },
            ));
        }
        pending.push(self.commit(round_id, outcome));
    }

    /// The breaker states this round changes, with a warning for each source
    /// that is paused or gone. Runs once all outcomes are in, so an offline
    /// round (most sources failing at the network level) counts nothing.
    fn breaker_updates(
        &self,
        specs: &HashMap<&str, &Arc<SourceSpec>>,
        before: &HashMap<String, SourceMemory>,
        verdicts: &[(String, Verdict)],
    ) -> Vec<(String, BreakerState)> {
        let just: Vec<Verdict> = verdicts.iter().map(|(_, v)| *v).collect();
        let offline = breaker::looks_offline(&just);
        if offline {
            warn!(
                "most sources failed at the network level: is this machine offline? Not counting these failures"
            );
        }
        let now = Utc::now();
        let mut updates = Vec::new();
        for (name, verdict) in verdicts {
            let Some(spec) = specs.get(name.as_str()) else {
                continue;
            };
            let memory = before.get(name).cloned().unwrap_or_default();
            let Some(state) = breaker::next_state(
                &memory,
                *verdict,
                offline,
                self.settings.max_consecutive_failures,
                spec.interval(),
                now,
            ) else {
                continue;
            };
            // RFC 3339 to the second, like the log's own timestamps.
            let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            if let (Some(gone), None) = (state.gone_at, memory.gone_at) {
                warn!(source = %name, gone_at = %stamp(gone), "source answered 410 Gone: disabled; remove it from the config");
            } else if let Some(until) = state.paused_until {
                warn!(source = %name, failures = state.consecutive_failures, until = %stamp(until), "source paused by the circuit breaker");
            }
            updates.push((name.clone(), state));
        }
        updates
    }

    /// Claims the next batch of `claims` (everything, on SQLite): the
    /// names this instance fetches, with their state.
    async fn claim_next(
        &self,
        claims: &mut Claims,
        by_name: &HashMap<&str, &Arc<SourceSpec>>,
    ) -> Result<Claimed, StorageError> {
        if claims.waiting.is_empty() {
            claims.exhausted = true;
            return Ok(Claimed::default());
        }
        // Once fetched, a source is next due at its schedule's next firing
        // after this slot (after now, for an unscheduled round).
        let base = claims.slot.unwrap_or_else(Utc::now);
        // A keyed claim after the first needs no names: one stands for the
        // schedule's next firing.
        let named = if claims.first || claims.schedule.is_none() {
            claims.waiting.len()
        } else {
            1
        };
        let chosen = &claims.waiting[..named];
        let request = ClaimRequest {
            candidates: chosen
                .iter()
                .map(|spec| (spec.name.clone(), spec.schedule.next_after(base)))
                .collect(),
            schedules: chosen.iter().map(|spec| spec.schedule.describe()).collect(),
            schedule: claims.schedule.clone(),
            first: claims.first,
            slot: claims.slot,
            started: claims.started,
            limit: claims.batch,
            since: claims.since,
        };
        claims.first = false;
        let mut claimed = self.storage.claim(&request).await?;
        // A keyed claim may bring sources this config does not have (removed
        // here, or another instance's): give them back for the next slot.
        let (known, unknown): (Vec<String>, Vec<String>) = std::mem::take(&mut claimed.names)
            .into_iter()
            .partition(|name| by_name.contains_key(name.as_str()));
        if !unknown.is_empty() {
            debug!(
                sources = unknown.len(),
                "claimed sources not in this config: released"
            );
            self.storage.release(&unknown).await?;
        }
        let brought_any = !known.is_empty() || !unknown.is_empty();
        claimed.names = known;
        debug!(
            claimed = claimed.names.len(),
            contended = claimed.contended,
            waiting = claims.waiting.len(),
            "claim"
        );
        let taken: HashSet<&str> = claimed.names.iter().map(String::as_str).collect();
        claims
            .waiting
            .retain(|spec| !taken.contains(spec.name.as_str()));
        if claimed.contended {
            // Another instance's claim held the rows for a moment.
            tokio::time::sleep(Duration::from_millis(20)).await;
        } else if !brought_any || claims.waiting.is_empty() {
            claims.exhausted = true;
        }
        Ok(claimed)
    }

    /// Turns a claimed batch into jobs: what earlier rounds taught us
    /// (breaker, rate limit, server hints, host backoff) decides who is
    /// fetched at all; the others are answered as skipped at once.
    fn plan_batch(
        &self,
        plan: &Plan,
        by_name: &HashMap<&str, &Arc<SourceSpec>>,
        claimed: &Claimed,
        reply: &mpsc::UnboundedSender<JobReply>,
        (now, started, spread): (DateTime<Utc>, Instant, Duration),
    ) {
        let mut jobs = Vec::with_capacity(claimed.names.len());
        for name in &claimed.names {
            let Some(source) = by_name.get(name.as_str()) else {
                continue;
            };
            let mut memory = claimed
                .memories
                .sources
                .get(name)
                .cloned()
                .unwrap_or_default();
            let host = memory
                .moved_to
                .as_ref()
                .map_or_else(|| host_key(&source.source.request().url), host_key);
            memory.host_backoff = claimed.memories.hosts.get(&host).cloned();
            let skip = breaker::skip_reason(
                &memory,
                source.rate_limit,
                source.respect_server_hints,
                now,
                self.forced,
            );
            if let Some(reason) = skip {
                debug!(source = %source.name, %reason, "skipped");
                let _ = reply.send(JobReply::Source(Box::new(FetchOutcome::skipped(
                    &source.name,
                    reason,
                ))));
                continue;
            }
            let mut job = plan.job(Arc::clone(source), None, memory);
            if !spread.is_zero() {
                job.not_before = Some(started + spread_offset(&source.name, spread));
            }
            jobs.push(job);
        }
        // A host's jobs wait in order: earliest start first.
        jobs.sort_by_key(|job| job.not_before);
        enqueue(plan, jobs);
    }

    /// Fetches `sources` concurrently and stores what they return. Sources
    /// named in `busy` are recorded as skipped (their previous round is still
    /// running). `trigger` says why the round ran (`once`, `start`, a cron
    /// expression).
    ///
    /// # Errors
    /// The database could not record the round (a writer that stopped is
    /// [`StorageError::WriterGone`], which the daemon treats as fatal).
    pub async fn run(
        &self,
        sources: &[Arc<SourceSpec>],
        busy: &[String],
        trigger: &str,
    ) -> Result<RoundReport, StorageError> {
        self.run_spread(sources, busy, trigger, Spread::default())
            .await
    }

    /// As [`RoundRunner::run`], each source starting at its stable offset
    /// within `spread` (a scheduled round under `[daemon] spread`); the
    /// round's deadline moves back by the window, so the last source to
    /// start still has the whole `round_timeout`.
    ///
    /// # Errors
    /// As [`RoundRunner::run`].
    pub async fn run_spread(
        &self,
        sources: &[Arc<SourceSpec>],
        busy: &[String],
        trigger: &str,
        spread: Spread,
    ) -> Result<RoundReport, StorageError> {
        self.run_slot(sources, busy, trigger, spread, None).await
    }

    /// As [`RoundRunner::run_spread`], for the schedule firing at `slot`.
    /// On a shared database the round fetches only what it claims: sources
    /// due by `slot` (any not leased elsewhere when `slot` is `None`), in
    /// batches of about twice the pool, claiming the next batch when half
    /// of the last is done, so instances ticking together divide the work.
    ///
    /// # Errors
    /// As [`RoundRunner::run`].
    pub async fn run_slot(
        &self,
        sources: &[Arc<SourceSpec>],
        busy: &[String],
        trigger: &str,
        spread: Spread,
        slot: Option<DateTime<Utc>>,
    ) -> Result<RoundReport, StorageError> {
        let started = Instant::now();
        let started_at = Utc::now();
        let round_id = self
            .storage
            .begin_round(trigger, sources.len() + busy.len())
            .await?;
        let span = tracing::info_span!("round", round_id);
        self.run_inner(
            round_id,
            (started, started_at, spread.0, slot),
            sources,
            busy,
            trigger,
        )
        .instrument(span)
        .await
    }

    async fn run_inner(
        &self,
        round_id: i64,
        (started, started_at, spread, slot): (
            Instant,
            DateTime<Utc>,
            Duration,
            Option<DateTime<Utc>>,
        ),
        sources: &[Arc<SourceSpec>],
        busy: &[String],
        trigger: &str,
    ) -> Result<RoundReport, StorageError> {
        // One INFO line per round, its summary at the end; per-source detail
        // is DEBUG, and WARN is kept for what needs a person.
        debug!(sources = sources.len(), trigger, "round started");
        let deadline = started + spread + self.settings.round_timeout;
        let (reply, mut replies) = mpsc::unbounded_channel();
        if !busy.is_empty() {
            let shown: Vec<&str> = busy.iter().take(5).map(String::as_str).collect();
            warn!(
                sources = busy.len(),
                "{} source(s) skipped: their previous round is still running ({}{})",
                busy.len(),
                shown.join(", "),
                if busy.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            );
        }
        for name in busy {
            let _ = reply.send(JobReply::Source(Box::new(FetchOutcome::skipped(
                name,
                SkipReason::StillRunning,
            ))));
        }
        let plan = Plan {
            queue: self.queue.clone(),
            round_id,
            deadline,
            shutdown: self.shutdown.clone(),
            reply: reply.clone(),
            hosts: self.hosts.clone(),
        };
        // What earlier rounds taught us decides who is fetched at all.
        let now = Utc::now();
        let since = sources
            .iter()
            .filter_map(|s| s.rate_limit)
            .map(|limit| limit.window)
            .max()
            .and_then(|window| chrono::Duration::from_std(window).ok())
            .map(|window| now - window);
        let by_name: HashMap<&str, &Arc<SourceSpec>> =
            sources.iter().map(|s| (s.name.as_str(), s)).collect();
        // What is not claimed yet, in config order (SQLite: claimed at once).
        let mut claims = Claims {
            waiting: sources.to_vec(),
            batch: if self.storage.is_shared() {
                (self.settings.workers * 2).max(16)
            } else {
                sources.len().max(1)
            },
            slot,
            schedule: slot
                .and(sources.first())
                .map(|first| first.schedule.describe())
                .filter(|key| sources.iter().all(|s| s.schedule.describe() == *key)),
            first: true,
            started: started_at,
            since,
            exhausted: false,
        };
        let mut before: HashMap<String, SourceMemory> = HashMap::new();
        let mut unanswered: HashSet<String> = busy.iter().cloned().collect();
        let timing = (now, started, spread);
        let claimed = self.claim_next(&mut claims, &by_name).await?;
        self.plan_batch(&plan, &by_name, &claimed, &reply, timing);
        unanswered.extend(claimed.names.iter().cloned());
        before.extend(claimed.memories.sources);
        // Every job answers exactly once, so counting the sources still open
        // tells when the round is complete (the channel itself never closes:
        // this task keeps a sender to hand to follow-up enqueuers).
        let mut gathering: HashMap<String, Gathering> = HashMap::new();
        let mut pending = Vec::with_capacity(unanswered.len());
        let mut verdicts = Vec::with_capacity(unanswered.len());
        // Workers bound every job by the deadline, so every answer is in soon
        // after it. This timer is the net under that promise: should a job
        // ever be lost (a panic outside a worker), the round still ends, and
        // says which sources went unanswered, instead of waiting forever.
        let net = tokio::time::sleep_until(deadline + ANSWER_GRACE);
        tokio::pin!(net);
        loop {
            // A shared database: claim the next batch when half of the
            // last one is done.
            if !claims.exhausted && unanswered.len() <= claims.batch / 2 {
                let claimed = self.claim_next(&mut claims, &by_name).await?;
                self.plan_batch(&plan, &by_name, &claimed, &reply, timing);
                unanswered.extend(claimed.names.iter().cloned());
                before.extend(claimed.memories.sources);
            }
            if unanswered.is_empty() {
                if claims.exhausted || Instant::now() >= deadline {
                    break;
                }
                // Due sources remain, held for a moment by another claim.
                continue;
            }
            let message = tokio::select! {
                message = replies.recv() => message,
                () = &mut net => None,
            };
            let Some(message) = message else {
                for name in std::mem::take(&mut unanswered) {
                    let outcome = match gathering.remove(&name) {
                        Some(partial) => partial.finish(),
                        None => FetchOutcome::without_response(
                            &name,
                            FetchStatus::Failed,
                            Duration::ZERO,
                            "internal error: no answer by the round deadline".to_owned(),
                        ),
                    };
                    warn!(source = %name, "no answer by the round deadline");
                    self.settle(round_id, outcome, &mut pending, &mut verdicts);
                }
                break;
            };
            let finished = match message {
                JobReply::Source(mut outcome)
                    if outcome.status == FetchStatus::Ok && !outcome.follow_ups.is_empty() =>
                {
                    let Some(spec) = by_name.get(outcome.source.as_str()) else {
                        continue;
                    };
                    let requests = std::mem::take(&mut outcome.follow_ups);
                    let jobs: Vec<FetchJob> = requests
                        .into_iter()
                        .enumerate()
                        .map(|(index, request)| {
                            plan.job(
                                Arc::clone(spec),
                                Some((index, request)),
                                SourceMemory::default(),
                            )
                        })
                        .collect();
                    gathering.insert(outcome.source.clone(), Gathering::new(*outcome, jobs.len()));
                    enqueue(&plan, jobs);
                    None
                }
                JobReply::Source(outcome) => Some(*outcome),
                JobReply::Item(item) => {
                    let name = item.source.clone();
                    let complete = gathering.get_mut(&name).is_some_and(|g| g.add(*item));
                    if complete {
                        gathering.remove(&name).map(Gathering::finish)
                    } else {
                        None
                    }
                }
            };
            if let Some(outcome) = finished {
                unanswered.remove(&outcome.source);
                let outcome = filtered(by_name.get(outcome.source.as_str()), outcome);
                self.settle(round_id, outcome, &mut pending, &mut verdicts);
            }
        }
        drop(plan);

        let mut lines = Vec::with_capacity(pending.len());
        for (mut line, stored) in pending {
            match stored.await {
                Ok(stored) => {
                    line.new = stored.new;
                    line.seen = stored.seen;
                    line.stored_late_ms = stored.lock_wait.map(|w| w.as_millis() as u64);
                }
                Err(StorageError::WriterGone) => return Err(StorageError::WriterGone),
                Err(e) => {
                    warn!(source = %line.name, error = %e, "fetch not stored");
                    line.status = FetchStatus::Failed;
                    line.error = Some(format!("not stored: {e}"));
                }
            }
            lines.push(line);
        }
        // Report in config order, whatever order the fetches finished in.
        let order: HashMap<&str, usize> = sources
            .iter()
            .map(|s| s.name.as_str())
            .chain(busy.iter().map(String::as_str))
            .enumerate()
            .map(|(i, name)| (name, i))
            .collect();
        lines.sort_by_key(|line| order.get(line.name.as_str()).copied());

        let host_of: HashMap<&str, String> = sources
            .iter()
            .map(|s| (s.name.as_str(), host_key(&s.source.request().url)))
            .collect();
        let report = build_report(
            round_id,
            started_at,
            started.elapsed(),
            (self.settings.workers, self.hosts.per_host()),
            &host_of,
            lines,
        );
        let breaker = self.breaker_updates(&by_name, &before, &verdicts);
        self.storage
            .finish_round(RoundSummary {
                round_id,
                finished_at: Utc::now(),
                ok: report.totals.ok,
                failed: report.totals.failed,
                skipped: report.totals.skipped,
                new: report.totals.new,
                seen: report.totals.seen,
                wall_ms: report.wall_ms,
                ideal_ms: report.ideal_ms,
                breaker,
            })
            .await?;
        info!(
            ok = report.totals.ok,
            failed = report.totals.failed,
            new = report.totals.new,
            wall_ms = report.wall_ms,
            ideal_ms = report.ideal_ms,
            "{}",
            report.summary_line()
        );
        Ok(report)
    }
}

/// A round's sources not claimed yet (see [`RoundRunner::run_slot`]).
struct Claims {
    waiting: Vec<Arc<SourceSpec>>,
    batch: usize,
    slot: Option<DateTime<Utc>>,
    /// The one schedule every source of a slot's round is on.
    schedule: Option<String>,
    /// No claim made yet.
    first: bool,
    started: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
    /// The store has nothing more for this round.
    exhausted: bool,
}

/// What turns sources into jobs for one round.
#[derive(Clone)]
struct Plan {
    queue: mpsc::Sender<FetchJob>,
    round_id: i64,
    deadline: Instant,
    shutdown: Shutdown,
    reply: mpsc::UnboundedSender<JobReply>,
    hosts: HostLimits,
}

impl Plan {
    fn job(
        &self,
        source: Arc<SourceSpec>,
        follow_up: Option<(usize, FetchRequest)>,
        memory: SourceMemory,
    ) -> FetchJob {
        FetchJob {
            round_id: self.round_id,
            source,
            follow_up,
            deadline: self.deadline,
            reply: self.reply.clone(),
            shutdown: self.shutdown.clone(),
            memory,
            host_permit: None,
            not_before: None,
        }
    }
}

/// Drops the items the source's filters keep out, counting them (a
/// Hacker News source's items are filtered once they are all gathered).
fn filtered(spec: Option<&&Arc<SourceSpec>>, mut outcome: FetchOutcome) -> FetchOutcome {
    if let Some(spec) = spec.filter(|s| !s.filters.is_empty()) {
        let before = outcome.articles.len();
        outcome
            .articles
            .retain(|a| spec.keeps(&a.title, a.summary.as_deref()));
        outcome.filtered = before - outcome.articles.len();
    }
    outcome
}

/// The host a job will talk to first.
fn host_of(job: &FetchJob) -> String {
    let url = match (&job.follow_up, &job.memory.moved_to) {
        (Some((_, request)), _) => request.url.clone(),
        (None, Some(moved)) => moved.clone(),
        (None, None) => job.source.source.request().url,
    };
    host_key(&url)
}

/// Queues `jobs`: one task per host, each taking the host's permit and then a
/// queue slot, so a busy host delays only its own jobs. Hosts keep the order
/// in which their first job came.
fn enqueue(plan: &Plan, jobs: Vec<FetchJob>) {
    let mut by_host: Vec<(String, Vec<FetchJob>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for job in jobs {
        let host = host_of(&job);
        if let Some(&at) = index.get(&host) {
            by_host[at].1.push(job);
        } else {
            index.insert(host.clone(), by_host.len());
            by_host.push((host, vec![job]));
        }
    }
    for (host, jobs) in by_host {
        let semaphore = plan.hosts.of(&host);
        tokio::spawn(enqueue_host(plan.clone(), semaphore, jobs).in_current_span());
    }
}

/// Queues one host's `jobs` in order. A full queue applies back-pressure
/// here, never to the workers. The host permit and a queue slot are secured
/// before a job is handed over, so when the deadline or a shutdown comes
/// first the job is still here to be answered: every job gets exactly one
/// reply, queued or not.
async fn enqueue_host(plan: Plan, host: Arc<Semaphore>, jobs: Vec<FetchJob>) {
    let mut jobs = jobs.into_iter();
    let mut leftover = None;
    // One timer for the whole loop: registering a new one per job measured
    // as a visible share of a 10,000-source round.
    let deadline = tokio::time::sleep_until(plan.deadline);
    tokio::pin!(deadline);
    for mut job in jobs.by_ref() {
        let not_before = job.not_before;
        let slot = tokio::select! {
            biased;
            permit = async {
                if let Some(at) = not_before {
                    tokio::time::sleep_until(at).await;
                }
                let host_permit = Arc::clone(&host).acquire_owned().await.ok();
                (host_permit, plan.queue.reserve().await)
            } => Ok(permit),
            () = &mut deadline => {
                Err((FetchStatus::Timeout, "round deadline reached while waiting for a worker"))
            }
            () = plan.shutdown.begun() => Err((FetchStatus::Skipped, "shutdown began before the fetch started")),
        };
        match slot {
            Ok((host_permit, Ok(permit))) => {
                job.host_permit = host_permit;
                permit.send(job);
            }
            Ok((_, Err(_))) => {
                let _ = plan
                    .reply
                    .send(job.unanswered(FetchStatus::Failed, "worker pool is stopped"));
            }
            Err((status, reason)) => {
                let _ = plan.reply.send(job.unanswered(status, reason));
                leftover = Some((status, reason));
                break;
            }
        }
    }
    if let Some((status, reason)) = leftover {
        for job in jobs {
            let _ = plan.reply.send(job.unanswered(status, reason));
        }
    }
}

/// A source whose follow-up items are still arriving.
struct Gathering {
    outcome: FetchOutcome,
    /// Since the source's own response came back.
    since: Instant,
    items: Vec<Option<Result<Option<Article>, String>>>,
    remaining: usize,
}

impl Gathering {
    fn new(outcome: FetchOutcome, expected: usize) -> Self {
        Gathering {
            outcome,
            since: Instant::now(),
            items: vec![None; expected],
            remaining: expected,
        }
    }

    /// Records one item; true when it was the last one.
    fn add(&mut self, item: ItemOutcome) -> bool {
        if let Some(slot) = self.items.get_mut(item.index).filter(|slot| slot.is_none()) {
            *slot = Some(item.result);
            self.remaining -= 1;
        }
        self.remaining == 0
    }

    /// Merges the items, in the source's order, into its outcome. Failed
    /// items are counted; only if every item failed does the source fail.
    fn finish(self) -> FetchOutcome {
        let mut outcome = self.outcome;
        let total = self.items.len();
        let mut first_error = None;
        for item in self.items {
            // An item never answered (the round's net closed it) failed too.
            let item = item.unwrap_or_else(|| Err("no answer by the round deadline".to_owned()));
            match item {
                Ok(Some(article)) => outcome.articles.push(article),
                Ok(None) => {}
                Err(error) => {
                    outcome.failed_items += 1;
                    first_error.get_or_insert(error);
                }
            }
        }
        outcome.elapsed += self.since.elapsed();
        outcome.finished_at = Utc::now();
        if let Some(first) = first_error {
            let failed = outcome.failed_items;
            if failed == total {
                outcome.status = FetchStatus::Failed;
                outcome.error = Some(format!("all {total} items failed (first: {first})"));
            } else {
                outcome.error = Some(format!("{failed} of {total} items failed (first: {first})"));
            }
        }
        outcome
    }
}
