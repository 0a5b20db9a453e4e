//! The one writer thread: it owns the write connection, and async code
//! talks to it over a channel and awaits a oneshot reply, so the runtime
//! never blocks on disk. One writer means no `SQLITE_BUSY` between our own
//! tasks, and readers (other processes, the read commands) never wait
//! thanks to WAL.
//!
//! The writer drains whatever commands are queued and commits them in one
//! transaction (group commit): a round of a thousand small feeds costs a few
//! fsyncs instead of a thousand.
//!
//! The full-text index follows a little behind: a commit stores articles
//! only, and the writer indexes what is missing when it has been idle for
//! [`INDEX_WHEN_IDLE_FOR`] (between the waves of a round, after it), when
//! the backlog reaches [`INDEX_BACKLOG_MAX`], before every round and at
//! close. Search is never more than one round behind, and usually current
//! within milliseconds; the fetches of a round never wait for tokenising.
//!
//! Another process may hold the database's write lock (a backup, a
//! `sqlite3` shell). Every transaction takes the lock up front (`BEGIN
//! IMMEDIATE`), so a lock shorter than `busy_timeout` costs only waiting;
//! a longer one never throws away what was fetched: the writer keeps the
//! group and retries with backoff until it commits, and says so. Only when
//! told to give up (the end of a shutdown's grace period, the end of a
//! `once` round) does it answer the group with [`StorageError::Locked`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use std::sync::mpsc;
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

use super::prune::PruneJob;
use super::{lock, schema, writes};
use crate::model::outcome::FetchOutcome;
use crate::model::retention::RetentionPolicy;
use crate::storage::rows::{
    Memories, NotifyClaim, PruneReport, RoundId, RoundSummary, Stored, StoredArticle,
};
use crate::storage::{Role, StorageError};

/// How long SQLite itself waits for a lock before the writer's own retry
/// loop takes over.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest pause between two retries while the database stays locked.
const LOCKED_RETRY_MAX: Duration = Duration::from_secs(2);

/// How many queued commands one transaction may take.
const GROUP_COMMIT_MAX: usize = 512;

/// How long the writer waits with nothing to do before it indexes what the
/// full-text index lacks: long enough that a burst of commits is over,
/// short enough that search is current right after it.
const INDEX_WHEN_IDLE_FOR: Duration = Duration::from_millis(10);
/// At most this many articles are indexed in one transaction, so a command
/// arriving meanwhile waits at most a few tens of milliseconds.
const INDEX_CHUNK: usize = 5_000;
/// A writer never idle long enough still indexes once this many articles
/// wait.
const INDEX_BACKLOG_MAX: i64 = 20_000;

enum Command {
    BeginRound {
        trigger: String,
        instance: Arc<str>,
        started_at: DateTime<Utc>,
        planned: usize,
        reply: oneshot::Sender<Result<RoundId, StorageError>>,
    },
    Fetch {
        round_id: RoundId,
        instance: Arc<str>,
        outcome: Box<FetchOutcome>,
        /// When it was handed to the writer: a fetch queued behind a group
        /// that waited for a lock was stored late too.
        queued_at: Instant,
        reply: oneshot::Sender<Result<Stored, StorageError>>,
    },
    FinishRound {
        summary: RoundSummary,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    Memory {
        since: Option<DateTime<Utc>>,
        reply: oneshot::Sender<Result<Memories, StorageError>>,
    },
    /// Claims what a `[[notify]]` rule has not seen yet (see
    /// [`writes::claim_notifications`]).
    Notify {
        claim: NotifyClaim,
        reply: oneshot::Sender<Result<Vec<StoredArticle>, StorageError>>,
    },
    Close {
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    /// Work outside the group-commit transactions.
    Maintain(Maintenance),
}

/// Retention work: it runs in steps of its own transactions.
enum Maintenance {
    /// Prune now, to the end, and report (`herald prune`).
    Prune {
        policy: RetentionPolicy,
        dry_run: bool,
        vacuum: bool,
        reply: oneshot::Sender<Result<PruneReport, StorageError>>,
    },
    /// A round ended: prune in idle moments, at most once per
    /// [`PRUNE_EVERY`] (the daemon).
    PruneWhenIdle { policy: RetentionPolicy },
}

/// The daemon prunes at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A cheap, cloneable handle to the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    commands: mpsc::Sender<Command>,
    /// `[daemon] instance`, recorded with each round and fetch.
    instance: Arc<str>,
    /// Set to stop waiting for a lock held elsewhere.
    give_up: Arc<AtomicBool>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::BeginRound { .. } => "BeginRound",
            Command::Fetch { .. } => "Fetch",
            Command::FinishRound { .. } => "FinishRound",
            Command::Memory { .. } => "Memory",
            Command::Notify { .. } => "Notify",
            Command::Close { .. } => "Close",
            Command::Maintain(_) => "Maintain",
        })
    }
}

impl Writer {
    /// Takes the database's writer lock for `role`, opens (creating and
    /// migrating if needed) the database and starts its writer thread, which
    /// holds the lock until it stops.
    pub(crate) async fn open(
        path: &Path,
        role: Role,
        instance: &str,
    ) -> Result<Writer, StorageError> {
        Self::start(path, role, None, instance).await
    }

    /// A writer for a scratch database that shadows `live`: `live` is
    /// attached read-only, its small tables (source state, host backoffs,
    /// the last day of fetches) are copied in, and an article `live`
    /// already holds counts as seen without being copied. What `once
    /// --dry-run` runs against: it costs the same on a 1 GB database as on
    /// an empty one, and never writes to `live`.
    pub(crate) async fn open_shadow(
        scratch: &Path,
        live: &Path,
        instance: &str,
    ) -> Result<Writer, StorageError> {
        Self::start(scratch, Role::Once, Some(live.to_path_buf()), instance).await
    }

    async fn start(
        path: &Path,
        role: Role,
        live: Option<PathBuf>,
        instance: &str,
    ) -> Result<Writer, StorageError> {
        let (commands, receiver) = mpsc::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread_path = path.to_path_buf();
        let give_up = Arc::new(AtomicBool::new(false));
        let thread_give_up = Arc::clone(&give_up);
        std::thread::Builder::new()
            .name("herald-sqlite-writer".into())
            .spawn(move || {
                let lock = match lock::acquire(&thread_path, role) {
                    Ok(lock) => lock,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let opened = open_connection(&thread_path).and_then(|conn| match &live {
                    Some(live) => shadow(conn, live),
                    None => Ok(conn),
                });
                match opened {
                    Ok(conn) => {
                        let _ = ready_tx.send(Ok(()));
                        let mut writer = Loop {
                            conn,
                            path: thread_path,
                            give_up: thread_give_up,
                            lock_released: None,
                            index: IndexProgress::default(),
                            pruning: None,
                            last_prune: None,
                            shadow: live.is_some(),
                        };
                        writer.index.refresh(&writer.conn);
                        writer.run(&receiver);
                    }
                    Err(source) => {
                        let _ = ready_tx.send(Err(StorageError::Open {
                            path: thread_path,
                            source,
                        }));
                    }
                }
                drop(lock);
            })
            .map_err(|e| StorageError::Open {
                path: path.to_path_buf(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        ready_rx.await.map_err(|_| StorageError::WriterGone)??;
        Ok(Writer {
            commands,
            give_up,
            instance: Arc::from(instance),
        })
    }

    /// Stops waiting for a write lock held by another process: writes still
    /// waiting (and any that find the database locked later) are answered
    /// with [`StorageError::Locked`].
    pub(crate) fn give_up_waiting(&self) {
        self.give_up.store(true, Ordering::Relaxed);
    }

    /// Records the start of a round and returns its id.
    pub(crate) async fn begin_round(
        &self,
        trigger: &str,
        planned: usize,
    ) -> Result<RoundId, StorageError> {
        self.ask(|reply| Command::BeginRound {
            trigger: trigger.to_owned(),
            instance: Arc::clone(&self.instance),
            started_at: Utc::now(),
            planned,
            reply,
        })
        .await
    }

    /// Stores one fetch (its row, its articles, the source's state) atomically.
    /// Returns a future so a round can queue many commits and await them later.
    pub(crate) fn commit_fetch(
        &self,
        round_id: RoundId,
        outcome: FetchOutcome,
    ) -> impl std::future::Future<Output = Result<Stored, StorageError>> + Send + 'static + use<>
    {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(Command::Fetch {
            round_id,
            instance: Arc::clone(&self.instance),
            outcome: Box::new(outcome),
            queued_at: Instant::now(),
            reply,
        });
        async move {
            sent.map_err(|_| StorageError::WriterGone)?;
            answer.await.map_err(|_| StorageError::WriterGone)?
        }
    }

    /// Every source's persisted state (validators, moves, breaker), with the
    /// requests made since `since` for rate limits.
    pub(crate) async fn source_memory(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Memories, StorageError> {
        self.ask(|reply| Command::Memory { since, reply }).await
    }

    /// Claims a `[[notify]]` rule's new matches (recorded as announced).
    pub(crate) async fn claim_notifications(
        &self,
        claim: NotifyClaim,
    ) -> Result<Vec<StoredArticle>, StorageError> {
        self.ask(|reply| Command::Notify { claim, reply }).await
    }

    /// Records a round's totals.
    pub(crate) async fn finish_round(&self, summary: RoundSummary) -> Result<(), StorageError> {
        self.ask(|reply| Command::FinishRound { summary, reply })
            .await
    }

    /// Removes what `policy` no longer keeps (or, `dry_run`, counts it),
    /// in short steps, and reports what went and what it cost.
    pub(crate) async fn prune(
        &self,
        policy: RetentionPolicy,
        dry_run: bool,
        vacuum: bool,
    ) -> Result<PruneReport, StorageError> {
        self.ask(|reply| {
            Command::Maintain(Maintenance::Prune {
                policy,
                dry_run,
                vacuum,
                reply,
            })
        })
        .await
    }

    /// Lets the writer prune by `policy` in its idle moments, at most hourly.
    pub(crate) fn prune_when_idle(&self, policy: RetentionPolicy) {
        let _ = self
            .commands
            .send(Command::Maintain(Maintenance::PruneWhenIdle { policy }));
    }

    /// Waits for every queued write, checkpoints the WAL and stops the writer.
    /// Other clones of this handle get [`StorageError::WriterGone`] afterwards.
    pub(crate) async fn close(self) -> Result<(), StorageError> {
        self.ask(|reply| Command::Close { reply }).await
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, StorageError>>) -> Command,
    ) -> Result<T, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| StorageError::WriterGone)?;
        answer.await.map_err(|_| StorageError::WriterGone)?
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // A missing folder should be created, not reported as "unable to open".
        let _ = std::fs::create_dir_all(parent);
    }
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Space freed by pruning goes back to the file system in small steps
    // (`incremental_vacuum` after each prune batch). This takes effect on a
    // new file; an older one keeps reusing its free pages until `herald
    // prune --vacuum` rewrites it once.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    schema::migrate(&mut conn)?;
    if writes::has_open_rounds(&conn)? {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let closed = writes::close_interrupted_rounds(&tx)?;
        tx.commit()?;
        warn!(
            rounds = closed,
            "closed rounds an earlier herald left open (killed or crashed): marked interrupted"
        );
    }
    Ok(conn)
}

/// Attaches `live` read-only to the scratch `conn` and copies in what a
/// round reads: the sources' state, host backoffs and the last day of
/// fetches (rate limits look back at most a day), with their rounds.
fn shadow(conn: Connection, live: &Path) -> rusqlite::Result<Connection> {
    let mut uri = url::Url::from_file_path(live)
        .map_err(|()| rusqlite::Error::InvalidPath(live.to_path_buf()))?;
    uri.set_query(Some("mode=ro"));
    conn.execute("ATTACH DATABASE ?1 AS live", [uri.as_str()])?;
    let since = writes::timestamp(Utc::now() - chrono::Duration::days(1));
    conn.execute_batch("BEGIN")?;
    conn.execute_batch(
        "INSERT INTO main.sources SELECT * FROM live.sources;
         INSERT INTO main.hosts SELECT * FROM live.hosts;",
    )?;
    conn.execute(
        "INSERT INTO main.rounds SELECT * FROM live.rounds
         WHERE id IN (SELECT round_id FROM live.fetches WHERE finished_at >= ?1)",
        [&since],
    )?;
    conn.execute(
        "INSERT INTO main.fetches SELECT * FROM live.fetches WHERE finished_at >= ?1",
        [&since],
    )?;
    conn.execute_batch("COMMIT")?;
    Ok(conn)
}

/// Whether SQLite refused because another connection holds a lock.
fn is_locked(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// The writer thread's state.
struct Loop {
    conn: Connection,
    path: PathBuf,
    give_up: Arc<AtomicBool>,
    /// When a lock held elsewhere was last waited out.
    lock_released: Option<Instant>,
    index: IndexProgress,
    /// A prune the daemon asked for, done a step per idle moment.
    pruning: Option<PruneJob>,
    /// When the last idle-time prune began.
    last_prune: Option<Instant>,
    /// Whether this is a dry run's scratch database shadowing a live one.
    shadow: bool,
}

/// How far the full-text index has got behind the articles.
#[derive(Debug, Default)]
struct IndexProgress {
    /// The highest article id stored.
    stored: i64,
    /// The highest article id indexed.
    indexed: i64,
    /// When indexing last failed (a lock held elsewhere, a full disk): idle
    /// indexing pauses for [`INDEX_RETRY_AFTER`] instead of retrying at once.
    failed_at: Option<Instant>,
}

/// How long idle indexing pauses after a failure.
const INDEX_RETRY_AFTER: Duration = Duration::from_secs(60);

impl IndexProgress {
    /// Reads both ids back from the database (two indexed lookups).
    fn refresh(&mut self, conn: &Connection) {
        if let (Ok(stored), Ok(indexed)) =
            (writes::last_article_id(conn), writes::indexed_through(conn))
        {
            self.stored = stored;
            self.indexed = indexed;
        }
    }

    /// Articles stored but not yet searchable.
    fn backlog(&self) -> i64 {
        self.stored - self.indexed
    }

    /// Whether idle time should go to indexing.
    fn wants_idle_time(&self) -> bool {
        self.backlog() > 0
            && self
                .failed_at
                .is_none_or(|at| at.elapsed() >= INDEX_RETRY_AFTER)
    }
}

impl Loop {
    fn run(&mut self, receiver: &mpsc::Receiver<Command>) {
        let mut group = Vec::with_capacity(GROUP_COMMIT_MAX);
        loop {
            let next = if self.index.wants_idle_time() || self.pruning.is_some() {
                receiver.recv_timeout(INDEX_WHEN_IDLE_FOR)
            } else {
                receiver
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            };
            let first = match next {
                Ok(command) => command,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.index.wants_idle_time() {
                        self.index_chunk();
                    } else {
                        self.prune_step();
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            group.push(first);
            while group.len() < GROUP_COMMIT_MAX {
                match receiver.try_recv() {
                    Ok(command) => group.push(command),
                    Err(_) => break,
                }
            }
            let (maintenance, commands): (Vec<Command>, Vec<Command>) = group
                .drain(..)
                .partition(|command| matches!(command, Command::Maintain(_)));
            group = commands;
            // A round starts with everything before it searchable: search
            // is never more than one round behind.
            if group
                .iter()
                .any(|command| matches!(command, Command::BeginRound { .. }))
            {
                self.index_all();
            }
            let close = self.apply_group(&mut group);
            self.index.refresh(&self.conn);
            if let Some(reply) = close {
                if let Some(job) = self.pruning.take() {
                    info!(
                        articles = job.report().articles,
                        "pruning paused by the shutdown; it starts over after the next round"
                    );
                }
                self.index_all();
                let result = self
                    .conn
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .map_err(StorageError::from);
                let _ = reply.send(result);
                return;
            }
            if self.index.backlog() >= INDEX_BACKLOG_MAX {
                self.index_chunk();
            }
            for command in maintenance {
                if let Command::Maintain(work) = command {
                    self.maintain(work);
                }
            }
        }
        // Every handle dropped without `close`: still index what is
        // missing and leave a tidy WAL.
        self.index_all();
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// Indexes up to [`INDEX_CHUNK`] missing articles; false when it failed.
    fn index_chunk(&mut self) -> bool {
        match writes::index_pending(&mut self.conn, INDEX_CHUNK) {
            Ok(through) => {
                self.index.indexed = through;
                self.index.failed_at = None;
                true
            }
            Err(e) => {
                if self.index.failed_at.is_none() {
                    warn!(
                        database = %self.path.display(),
                        waiting = self.index.backlog(),
                        error = %e,
                        "could not update the search index; the articles are stored and will be indexed later"
                    );
                }
                self.index.failed_at = Some(Instant::now());
                false
            }
        }
    }

    fn maintain(&mut self, work: Maintenance) {
        match work {
            Maintenance::Prune {
                policy,
                dry_run,
                vacuum,
                reply,
            } => {
                // Searchable first: the delete trigger then keeps the index
                // exact for every row it removes.
                self.index_all();
                let _ = reply.send(self.prune_now(&policy, dry_run, vacuum));
            }
            Maintenance::PruneWhenIdle { policy } => {
                let due = self.last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
                if self.pruning.is_none() && due {
                    match PruneJob::start(&self.conn, &policy, Utc::now(), false) {
                        Ok(job) => {
                            self.pruning = Some(job);
                            self.last_prune = Some(Instant::now());
                        }
                        Err(e) => {
                            warn!(error = %e, "could not start pruning; trying again after the next round");
                        }
                    }
                }
            }
        }
    }

    /// A whole prune, step after step (other commands wait; `herald prune`
    /// holds the database alone anyway).
    fn prune_now(
        &mut self,
        policy: &RetentionPolicy,
        dry_run: bool,
        vacuum: bool,
    ) -> Result<PruneReport, StorageError> {
        let mut job = PruneJob::start(&self.conn, policy, Utc::now(), dry_run)?;
        while !job.done() {
            job.step(&mut self.conn)?;
        }
        let mut report = job.report().clone();
        if !dry_run {
            if vacuum {
                // One full rewrite: compacts the file and switches an older
                // file to incremental auto-vacuum for every prune after it.
                let started = Instant::now();
                self.conn.execute_batch("VACUUM")?;
                report.longest_step = report.longest_step.max(started.elapsed());
                report.vacuumed = true;
            }
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            report.bytes_after = super::prune::database_bytes(&self.conn)?;
        }
        self.index.refresh(&self.conn);
        Ok(report)
    }

    /// One step of the idle-time prune; logs its totals when it is done.
    fn prune_step(&mut self) {
        let Some(job) = self.pruning.as_mut() else {
            return;
        };
        if let Err(e) = job.step(&mut self.conn) {
            warn!(error = %e, "pruning stopped; it resumes after the next round, at most hourly");
            self.pruning = None;
            return;
        }
        if job.done() {
            let report = job.report();
            // An hourly "pruned 0" is noise: say it only when rows went.
            if report.articles + report.fetches + report.rounds == 0 {
                debug!(
                    longest_step_ms = report.longest_step.as_millis() as u64,
                    "pruning found nothing past its keep"
                );
            } else {
                info!(
                    articles = report.articles,
                    fetches = report.fetches,
                    rounds = report.rounds,
                    bytes_before = report.bytes_before,
                    bytes_after = report.bytes_after,
                    longest_step_ms = report.longest_step.as_millis() as u64,
                    "pruned {} article(s) no source served within its keep, {} fetch and {} round row(s) of history; {} → {}",
                    report.articles,
                    report.fetches,
                    report.rounds,
                    crate::model::retention::human_bytes(report.bytes_before),
                    crate::model::retention::human_bytes(report.bytes_after),
                );
            }
            self.pruning = None;
            self.index.refresh(&self.conn);
        }
    }

    /// Indexes every missing article (stops early only on a failure).
    fn index_all(&mut self) {
        while self.index.backlog() > 0 && self.index_chunk() {}
    }

    /// Commits `group`, waiting out a lock held by another process for as
    /// long as it lasts (or until told to give up), and answers each command.
    fn apply_group(
        &mut self,
        group: &mut Vec<Command>,
    ) -> Option<oneshot::Sender<Result<(), StorageError>>> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        let mut locked = false;
        let answers = loop {
            match run_transaction(&mut self.conn, group, self.shadow) {
                Err(e) if is_locked(&e) => {
                    if !locked {
                        warn!(
                            database = %self.path.display(),
                            writes = group.len(),
                            "the database is locked by another process: keeping what was fetched and retrying until it is free"
                        );
                        locked = true;
                    }
                    if self.give_up.load(Ordering::Relaxed) {
                        let waited = started.elapsed();
                        error!(
                            database = %self.path.display(),
                            writes = group.len(),
                            waited = %humantime::format_duration(round_to_ms(waited)),
                            "gave up waiting for the database lock: these writes are not stored"
                        );
                        break group
                            .iter()
                            .map(|_| {
                                Err(StorageError::Locked {
                                    path: self.path.clone(),
                                    waited: round_to_ms(waited),
                                })
                            })
                            .collect();
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(LOCKED_RETRY_MAX);
                }
                result => break answers_of(&mut self.conn, group, result, self.shadow),
            }
        };
        if locked && answers.iter().any(Result::is_ok) {
            self.lock_released = Some(Instant::now());
            info!(
                database = %self.path.display(),
                waited = %humantime::format_duration(round_to_ms(started.elapsed())),
                "the database lock was released: stored late, nothing lost"
            );
        }
        reply_all(group, answers, self.lock_released)
    }
}

fn round_to_ms(duration: Duration) -> Duration {
    Duration::from_millis(duration.as_millis() as u64)
}

/// What a command produced, before its reply is sent.
enum Answer {
    RoundId(RoundId),
    Stored(Stored),
    Memory(Memories),
    Claimed(Vec<StoredArticle>),
    Done,
}

fn execute(conn: &Connection, command: &Command, shadow: bool) -> rusqlite::Result<Answer> {
    match command {
        Command::BeginRound {
            trigger,
            instance,
            started_at,
            planned,
            ..
        } => {
            writes::begin_round(conn, trigger, *started_at, *planned, instance).map(Answer::RoundId)
        }
        Command::Fetch {
            round_id,
            instance,
            outcome,
            ..
        } => writes::record_fetch(conn, *round_id, outcome, shadow, instance).map(Answer::Stored),
        Command::FinishRound { summary, .. } => {
            writes::finish_round(conn, summary).map(|()| Answer::Done)
        }
        Command::Memory { since, .. } => Ok(Answer::Memory(Memories {
            sources: writes::source_memory(conn, *since)?,
            hosts: writes::host_backoffs(conn)?,
        })),
        Command::Notify { claim, .. } => {
            writes::claim_notifications(conn, claim).map(Answer::Claimed)
        }
        Command::Close { .. } | Command::Maintain(_) => Ok(Answer::Done),
    }
}

/// Runs `commands` in one transaction; all or nothing. The write lock is
/// taken up front (`IMMEDIATE`): a read-then-write transaction that finds the
/// lock taken cannot wait for it (SQLite refuses the upgrade without calling
/// the busy handler), one that starts with the lock simply waits. The
/// full-text index is brought up to date separately (see the module docs).
fn run_transaction(
    conn: &mut Connection,
    commands: &[Command],
    shadow: bool,
) -> rusqlite::Result<Vec<Answer>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let answers = commands
        .iter()
        .map(|command| execute(&tx, command, shadow))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    Ok(answers)
}

/// Each command's answer after the group's transaction ended as `result`.
///
/// Savepoints per command would isolate failures too, but they make SQLite
/// write a statement journal for every page touched, which measured at half
/// the writer's CPU. Failures are rare (a full disk, a corrupt page), so on
/// an error the group is rolled back and replayed one command per
/// transaction instead: each batch is still all-or-nothing, and one bad
/// batch fails only itself.
fn answers_of(
    conn: &mut Connection,
    group: &[Command],
    result: rusqlite::Result<Vec<Answer>>,
    shadow: bool,
) -> Vec<Result<Answer, StorageError>> {
    match result {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(_) if group.len() > 1 => group
            .iter()
            .map(|command| {
                run_transaction(conn, std::slice::from_ref(command), shadow)
                    .map(|mut one| one.pop().unwrap_or(Answer::Done))
                    .map_err(StorageError::from)
            })
            .collect(),
        Err(e) => vec![Err(StorageError::from(e))],
    }
}

/// Sends each command its answer; returns the reply channel of a `Close`
/// found in the group (handled after the commit).
/// A fetch queued before the last lock was waited out was stored late by
/// as long as it waited.
fn reply_all(
    group: &mut Vec<Command>,
    answers: Vec<Result<Answer, StorageError>>,
    lock_released: Option<Instant>,
) -> Option<oneshot::Sender<Result<(), StorageError>>> {
    let mut close = None;
    for (command, answer) in group.drain(..).zip(answers) {
        match command {
            Command::BeginRound { reply, .. } => {
                let _ = reply.send(answer.and_then(|a| match a {
                    Answer::RoundId(id) => Ok(id),
                    _ => Err(StorageError::WriterGone),
                }));
            }
            Command::Fetch {
                reply, queued_at, ..
            } => {
                let lock_wait = lock_released
                    .filter(|released| *released >= queued_at)
                    .map(|_| round_to_ms(queued_at.elapsed()));
                let _ = reply.send(answer.and_then(|a| match a {
                    Answer::Stored(stored) => Ok(Stored {
                        lock_wait,
                        ..stored
                    }),
                    _ => Err(StorageError::WriterGone),
                }));
            }
            Command::FinishRound { reply, .. } => {
                let _ = reply.send(answer.map(|_| ()));
            }
            Command::Memory { reply, .. } => {
                let _ = reply.send(answer.and_then(|a| match a {
                    Answer::Memory(memory) => Ok(memory),
                    _ => Err(StorageError::WriterGone),
                }));
            }
            Command::Notify { reply, .. } => {
                let _ = reply.send(answer.and_then(|a| match a {
                    Answer::Claimed(articles) => Ok(articles),
                    _ => Err(StorageError::WriterGone),
                }));
            }
            Command::Close { reply } => close = Some(reply),
            Command::Maintain(_) => {}
        }
    }
    close
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::article::{Article, fingerprint};
    use crate::model::outcome::FetchStatus;

    fn outcome(source: &str, urls: &[&str]) -> FetchOutcome {
        FetchOutcome {
            http_status: Some(200),
            articles: urls
                .iter()
                .map(|url| Article {
                    title: format!("Story at {url}"),
                    fingerprint: fingerprint(url),
                    url: (*url).to_owned(),
                    published_at: None,
                    summary: Some("replayed summary".to_owned()),
                    author: None,
                    origin: None,
                    categories: Vec::new(),
                    enclosure: None,
                })
                .collect(),
            error: None,
            ..FetchOutcome::without_response(
                source,
                FetchStatus::Ok,
                Duration::from_millis(1),
                String::new(),
            )
        }
    }

    fn fetch(
        round_id: RoundId,
        outcome: FetchOutcome,
    ) -> (Command, oneshot::Receiver<Result<Stored, StorageError>>) {
        let (reply, answer) = oneshot::channel();
        (
            Command::Fetch {
                round_id,
                instance: Arc::from("test"),
                outcome: Box::new(outcome),
                queued_at: Instant::now(),
                reply,
            },
            answer,
        )
    }

    #[test]
    fn a_failing_batch_is_replayed_alone_and_the_rest_of_its_group_commits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("replay.db");
        let conn = open_connection(&path).expect("open");
        let round =
            writes::begin_round(&conn, "test", chrono::Utc::now(), 3, "test").expect("round");
        let mut writer = Loop {
            conn,
            path,
            give_up: Arc::default(),
            lock_released: None,
            index: IndexProgress::default(),
            pruning: None,
            last_prune: None,
            shadow: false,
        };
        let (first, first_answer) = fetch(
            round,
            outcome("a", &["https://a.example/1", "https://a.example/2"]),
        );
        // No round 999: the fetch row's foreign key fails this batch, and with
        // it the group's one transaction.
        let (bad, bad_answer) = fetch(999, outcome("b", &["https://b.example/1"]));
        let (last, last_answer) = fetch(round, outcome("c", &["https://c.example/1"]));
        let mut group = vec![first, bad, last];
        assert!(writer.apply_group(&mut group).is_none(), "no close");
        writer.index.refresh(&writer.conn);
        assert_eq!(writer.index.backlog(), 3, "stored, not yet indexed");
        writer.index_all();
        assert_eq!(writer.index.backlog(), 0);
        let conn = writer.conn;
        assert!(group.is_empty(), "every command answered");

        let stored = |answer: oneshot::Receiver<Result<Stored, StorageError>>| {
            answer.blocking_recv().expect("an answer")
        };
        let first = stored(first_answer).expect("first commits");
        assert_eq!((first.new, first.lock_wait), (2, None));
        assert_eq!(stored(last_answer).expect("last commits").new, 1);
        let error = stored(bad_answer).expect_err("the bad batch fails");
        assert!(
            error.to_string().contains("FOREIGN KEY"),
            "its own reason: {error}"
        );
        let count =
            |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).expect("count") };
        assert_eq!(count("SELECT count(*) FROM articles"), 3);
        assert_eq!(
            count("SELECT count(*) FROM articles WHERE source = 'b'"),
            0,
            "nothing of the failed batch"
        );
        assert_eq!(count("SELECT count(*) FROM fetches"), 2);
        assert_eq!(
            count("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'replayed'"),
            3,
            "the replayed commits are indexed too"
        );
    }

    /// Rows the index does not hold yet may be deleted or edited (retention,
    /// a fix): the triggers leave the index alone for them, and it stays
    /// consistent; once indexed, edits and deletes reach it.
    #[test]
    fn deleting_or_editing_unindexed_articles_keeps_the_index_consistent() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = open_connection(&dir.path().join("triggers.db")).expect("open");
        let round =
            writes::begin_round(&conn, "test", chrono::Utc::now(), 1, "test").expect("round");
        let urls = [
            "https://t.example/1",
            "https://t.example/2",
            "https://t.example/3",
        ];
        writes::record_fetch(&conn, round, &outcome("t", &urls), false, "test").expect("stored");
        let integrity = |conn: &Connection| {
            conn.execute(
                "INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)",
                [],
            )
        };
        conn.execute("DELETE FROM articles WHERE url = ?1", [urls[0]])
            .expect("delete unindexed");
        conn.execute(
            "UPDATE articles SET title = 'edited zeppelin' WHERE url = ?1",
            [urls[1]],
        )
        .expect("edit unindexed");
        let through = writes::index_pending(&mut conn, 100).expect("indexed");
        assert_eq!(through, writes::last_article_id(&conn).expect("max id"));
        integrity(&conn).expect("index consistent after unindexed edits");
        let count = |conn: &Connection, query: &str| -> i64 {
            conn.query_row(
                "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?1",
                [query],
                |row| row.get(0),
            )
            .expect("search")
        };
        assert_eq!(count(&conn, "replayed"), 2);
        assert_eq!(count(&conn, "zeppelin"), 1, "the edit is what got indexed");
        conn.execute("DELETE FROM articles WHERE url = ?1", [urls[2]])
            .expect("delete indexed");
        integrity(&conn).expect("index consistent after an indexed delete");
        assert_eq!(count(&conn, "replayed"), 1);
    }
}
