//! `herald run`: the long-running supervisor.
//!
//! One task owns everything that changes: the config, the worker pool, the
//! scheduler, and the set of sources whose round is still running. It waits
//! in one `select!` on three inputs — a [`Control`] message (signals are one
//! producer of them; tests are another), a [`RoundTick`] from cron, a round
//! finishing — so no state is shared between tasks and no lock is needed.
//! Rounds run as tasks in a `JoinSet`; each holds its own `Arc`s of the
//! sources and its own queue handle, which is why a reload can swap the
//! config, the schedules and even the pool without disturbing a round in
//! progress.
//!
//! Shutdown (mini-redis and vector's shape): stop the scheduler, `begin` the
//! [`Shutdown`] so nothing new starts, give fetches in flight
//! `shutdown_grace`, then `abort` the rest; every round still commits what it
//! has, and the `JoinSet` running dry is the "done" signal. The database is
//! closed last, with a WAL checkpoint. A second `Shutdown` quits at once:
//! every commit is a transaction, so that loses at most the batch in flight.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, warn};

use super::alerts::{self, Alert, SourceState, StateTracker};
use super::feeds::FeedServer;
use super::keywords::KeywordAlerts;
use super::metrics::{self, Metrics};
use super::notify;
use super::reload::{ConfigDiff, ReloadOutcome};
use super::scheduler::{RoundTick, Scheduler};
use crate::app::{runner_for, start_pool};
use crate::config::{self, Config};
use crate::engine::pool::WorkerPool;
use crate::engine::report::RoundReport;
use crate::engine::round::{RoundRunner, Spread};
use crate::engine::shutdown::Shutdown;
use crate::error::{Error, Result};
use crate::fetch::HostLimits;
use crate::fetch::webhook::WebhookClient;
use crate::model::source::SourceSpec;
use crate::storage::{Role, Storage, StorageError};

/// What the operator (or a test) asks the running daemon to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop gracefully; a second one during the drain stops at once.
    Shutdown,
    /// Re-read the config file.
    Reload,
    /// Fetch every enabled source now (sources still busy are skipped):
    /// what `herald once` would do, without a second writer.
    RunNow,
}

/// How the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Drained and closed the database cleanly.
    Clean,
    /// A second shutdown request cut the drain short.
    Forced,
}

/// Capacity of the tick channel: ticks beyond it are dropped with a warning.
const TICK_BACKLOG: usize = 64;

struct RoundDone {
    sources: Vec<String>,
    result: std::result::Result<RoundReport, StorageError>,
}

struct Supervisor {
    config: Arc<Config>,
    /// The config the served feeds read.
    served_config: tokio::sync::watch::Sender<Arc<Config>>,
    metrics: Arc<Metrics>,
    /// Finished rounds, for the observer (metrics per source, alerts).
    observer: mpsc::UnboundedSender<RoundReport>,
    storage: Storage,
    pool: WorkerPool,
    runner: RoundRunner,
    scheduler: Scheduler,
    /// Sources whose round has not finished: a new tick skips them.
    busy: HashSet<String>,
    rounds: JoinSet<RoundDone>,
    /// Pools replaced by a reload, finishing the rounds that still use them.
    retired: JoinSet<()>,
    shutdown: Shutdown,
}

/// Runs the daemon on `config` until `controls` asks it to stop (or closes).
///
/// # Errors
/// The database, the scheduler, the HTTP client or the metrics listener
/// could not start, or the database writer stopped while running.
pub async fn run(config: Config, controls: mpsc::Receiver<Control>) -> Result<Exit> {
    // On a shared database every log line names the instance that wrote it.
    let span = if config.daemon.database.is_shared() {
        tracing::info_span!("herald", instance = %config.daemon.instance)
    } else {
        tracing::Span::none()
    };
    run_daemon(config, controls).instrument(span).await
}

async fn run_daemon(config: Config, mut controls: mpsc::Receiver<Control>) -> Result<Exit> {
    let storage =
        Storage::open_as(&config.daemon.database, Role::Daemon, config.identity()).await?;
    let (ticks_tx, mut ticks) = mpsc::channel(TICK_BACKLOG);
    let scheduler = Scheduler::start(&config.schedules(), ticks_tx).await?;
    let shutdown = Shutdown::new();
    let pool = start_pool(&config)?;
    let hosts = HostLimits::new(config.http.per_host_concurrency);
    let runner = runner_for(&config, &pool, &storage, &shutdown, hosts);
    let metrics = Arc::new(Metrics::new());
    metrics.watch_pool(&pool);
    metrics.set_expected_interval(shortest_interval(&config));
    let listener_stop = CancellationToken::new();
    let config = Arc::new(config);
    // The served feeds read the config in effect: a reload sends the new one.
    let (served_config, served) = tokio::sync::watch::channel(Arc::clone(&config));
    let listener = match config.metrics.listen {
        Some(addr) => Some(
            metrics::serve(
                addr,
                Arc::clone(&metrics),
                FeedServer {
                    database: config.daemon.database.clone(),
                    config: served,
                },
                listener_stop.clone(),
            )
            .await
            .map_err(|source| Error::MetricsListen { addr, source })?,
        ),
        None => None,
    };
    let webhook = match &config.alerts.webhook {
        Some(url) => Some(start_webhook(url, &config)?),
        None => None,
    };
    let seed = storage.source_memory(None).await?.sources;
    let (observer, observed) = mpsc::unbounded_channel();
    let keywords = KeywordAlerts::new(config.http.clone(), config.http.retry_policy());
    let observer_task = tokio::spawn(
        observe_rounds(
            observed,
            storage.clone(),
            Arc::clone(&metrics),
            StateTracker::seeded(&seed, chrono::Utc::now()),
            webhook.as_ref().map(|(sender, _)| sender.clone()),
            (keywords, served_config.subscribe()),
        )
        .in_current_span(),
    );
    let mut sup = Supervisor {
        metrics,
        observer,
        config,
        served_config,
        storage,
        pool,
        runner,
        scheduler,
        busy: HashSet::new(),
        rounds: JoinSet::new(),
        retired: JoinSet::new(),
        shutdown,
    };
    let schedules: Vec<String> = sup
        .config
        .schedules()
        .iter()
        .map(crate::model::schedule::Schedule::describe)
        .collect();
    info!(
        sources = sup.config.enabled_sources().len(),
        schedules = ?schedules,
        database = %sup.storage.location(),
        instance = %sup.config.daemon.instance,
        workers = sup.config.daemon.workers,
        "herald started"
    );
    if sup.config.enabled_sources().is_empty() {
        warn!(
            config = %sup.config.path.display(),
            "no enabled sources: herald runs but fetches nothing until [[sources]] are added and the config is reloaded (systemctl reload herald)"
        );
    }
    notify::ready("started, waiting for the first round");
    if sup.config.daemon.run_on_start {
        let all = sup.config.enabled_sources();
        // On a shared database the start round fetches what is due now:
        // instances starting together do not each fetch everything.
        sup.start_round(
            all,
            "start".to_owned(),
            Spread::default(),
            Some(chrono::Utc::now()),
        );
    }

    let mut watchdog = notify::watchdog_interval().map(tokio::time::interval);
    loop {
        tokio::select! {
            control = controls.recv() => match control {
                Some(Control::Shutdown) | None => break,
                Some(Control::Reload) => {
                    sup.reload().await;
                }
                Some(Control::RunNow) => {
                    info!("running every source now, as asked (SIGUSR1)");
                    let all = sup.config.enabled_sources();
                    sup.start_round(all, "now".to_owned(), Spread::default(), None);
                }
            },
            Some(tick) = ticks.recv() => sup.tick(&tick),
            Some(done) = sup.rounds.join_next(), if !sup.rounds.is_empty() => {
                if let Err(fatal) = sup.round_done(done) {
                    error!("{fatal}; shutting down");
                    break;
                }
            }
            Some(_) = sup.retired.join_next(), if !sup.retired.is_empty() => {}
            () = watchdog_tick(&mut watchdog) => notify::watchdog(),
        }
    }
    let exit = sup.drain(&mut controls, observer_task).await;
    listener_stop.cancel();
    if let Some(listener) = listener {
        let _ = listener.await;
    }
    if let Some((sender, task)) = webhook {
        // Alerts still queued get a few seconds, no more.
        drop(sender);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    exit
}

/// The shortest interval between rounds any schedule promises.
fn shortest_interval(config: &Config) -> Option<std::time::Duration> {
    config
        .schedules()
        .iter()
        .map(crate::model::schedule::Schedule::interval)
        .min()
}

/// Builds the webhook's own client: the operator chose this URL, so it may be
/// on a private network, unlike a source's.
fn start_webhook(
    url: &str,
    config: &Config,
) -> Result<(mpsc::UnboundedSender<Alert>, tokio::task::JoinHandle<()>)> {
    let url = url::Url::parse(url).map_err(Error::AlertsUrl)?;
    let client = WebhookClient::new(&config.http)?;
    Ok(alerts::start_webhook(
        url,
        client,
        config.http.retry_policy(),
    ))
}

/// After each round: reads back every source's persisted state, updates the
/// per-source metrics, and announces state changes (log line and webhook).
/// Runs beside the rounds, so a slow database read or webhook never delays one.
async fn observe_rounds(
    mut reports: mpsc::UnboundedReceiver<RoundReport>,
    storage: Storage,
    metrics: Arc<Metrics>,
    mut tracker: StateTracker,
    webhook: Option<mpsc::UnboundedSender<Alert>>,
    (mut keywords, config): (KeywordAlerts, tokio::sync::watch::Receiver<Arc<Config>>),
) {
    while let Some(report) = reports.recv().await {
        // Keyword alerts read the config in effect (a reload sends it).
        let current = Arc::clone(&config.borrow());
        if !current.notify.is_empty() {
            keywords
                .after_round(&current, &storage, &report.started_at)
                .await;
        }
        let memory = match storage.source_memory(None).await {
            Ok(memory) => memory.sources,
            Err(e) => {
                warn!(error = %e, "cannot read source states after the round");
                continue;
            }
        };
        let now = chrono::Utc::now();
        for source in &report.sources {
            let Some(state) = memory.get(&source.name) else {
                continue;
            };
            metrics.record_source_state(&source.name, state);
            let reason = || match &source.error {
                Some(error) => error.clone(),
                None => format!(
                    "{} (HTTP {})",
                    source.status.as_str(),
                    source
                        .http_status
                        .map_or_else(|| "-".to_owned(), |s| s.to_string())
                ),
            };
            if let Some(alert) =
                tracker.observe(&source.name, SourceState::of(state, now), reason, now)
            {
                info!(source = %alert.source, from = alert.old_state.as_str(), to = alert.new_state.as_str(), reason = %alert.reason, "source state changed");
                if let Some(webhook) = &webhook {
                    let _ = webhook.send(alert);
                }
            }
        }
    }
}

async fn watchdog_tick(watchdog: &mut Option<tokio::time::Interval>) {
    match watchdog {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Supervisor {
    /// A cron tick: the sources on that schedule are due.
    fn tick(&mut self, tick: &RoundTick) {
        let due = self.config.sources_on(&tick.schedule);
        let spread = Spread(self.config.daemon.spread);
        self.start_round(due, tick.schedule.describe(), spread, Some(tick.at));
    }

    /// Starts a round for `sources`, skipping (and recording) those still
    /// busy; a scheduled round spreads its starts over `spread`, and on a
    /// shared database fetches only what is due by `slot`.
    fn start_round(
        &mut self,
        sources: Vec<Arc<SourceSpec>>,
        trigger: String,
        spread: Spread,
        slot: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        if sources.is_empty() || self.shutdown.is_begun() {
            return;
        }
        let (due, busy): (Vec<_>, Vec<_>) = sources
            .into_iter()
            .partition(|s| !self.busy.contains(&s.name));
        let busy: Vec<String> = busy.into_iter().map(|s| s.name.clone()).collect();
        let names: Vec<String> = due.iter().map(|s| s.name.clone()).collect();
        self.busy.extend(names.iter().cloned());
        let runner = self.runner.clone();
        self.rounds.spawn(
            async move {
                let result = runner.run_slot(&due, &busy, &trigger, spread, slot).await;
                RoundDone {
                    sources: names,
                    result,
                }
            }
            .in_current_span(),
        );
    }

    /// Frees the round's sources; a lost database writer is fatal.
    fn round_done(
        &mut self,
        done: std::result::Result<RoundDone, tokio::task::JoinError>,
    ) -> Result<()> {
        // A panicking round loses track of its sources; better to stop and
        // let systemd restart us than to skip them forever.
        let done = done.map_err(Error::RoundPanicked)?;
        for name in &done.sources {
            self.busy.remove(name);
        }
        match done.result {
            Ok(report) => {
                notify::status(&format!("last {}", report.summary_line()));
                // Retention runs in the writer's idle moments after a round,
                // at most hourly (the writer decides).
                self.storage.prune_when_idle(self.config.retention());
                self.metrics.record_round(&report);
                let _ = self.observer.send(report);
                Ok(())
            }
            Err(StorageError::WriterGone) => Err(StorageError::WriterGone.into()),
            Err(e) => {
                error!(error = %e, "round could not be recorded");
                Ok(())
            }
        }
    }

    /// A reload: a valid config replaces the running one; an invalid one is
    /// logged line by line and changes nothing.
    async fn reload(&mut self) -> ReloadOutcome {
        notify::reloading();
        let path = self.config.path.clone();
        let outcome = match config::load(&path) {
            Err(e) => {
                for line in e.to_string().lines() {
                    error!("reload refused: {}", line.trim());
                }
                error!(
                    "keeping the running config ({} sources)",
                    self.config.sources.len()
                );
                ReloadOutcome::Refused(e)
            }
            Ok(new) => self.apply(new).await,
        };
        notify::reloaded();
        outcome
    }

    async fn apply(&mut self, mut new: Config) -> ReloadOutcome {
        let old = Arc::clone(&self.config);
        let diff = ConfigDiff::between(&old, &new);
        if new.daemon.database != old.daemon.database {
            warn!(
                running = %old.daemon.database,
                configured = %new.daemon.database,
                "daemon.database cannot change while running; restart herald to switch"
            );
            new.daemon.database = old.daemon.database.clone();
        }
        for section in diff
            .need_restart
            .iter()
            .filter(|s| **s != "daemon.database")
        {
            warn!("{section} changes take effect after a restart");
        }
        if diff.pool {
            match start_pool(&new) {
                Ok(pool) => {
                    self.metrics.watch_pool(&pool);
                    let retired = std::mem::replace(&mut self.pool, pool);
                    // The old pool's workers finish the rounds already queued
                    // on it, then stop when those rounds drop their handles.
                    self.retired.spawn(retired.stop());
                }
                Err(e) => {
                    error!(error = %e, "reload refused: cannot build the new HTTP client; keeping the running config");
                    return ReloadOutcome::Failed(e.to_string());
                }
            }
        }
        if new.schedules() != old.schedules()
            && let Err(e) = self.scheduler.replace(&new.schedules()).await
        {
            error!(error = %e, "cannot update the schedules; keeping the old ones");
        }
        // Rounds still running keep the old registry; the cap applies to new ones.
        let hosts = if diff.per_host {
            HostLimits::new(new.http.per_host_concurrency)
        } else {
            self.runner.hosts().clone()
        };
        self.runner = runner_for(&new, &self.pool, &self.storage, &self.shutdown, hosts);
        for warning in &new.warnings {
            warn!("{warning}");
        }
        self.metrics.set_expected_interval(shortest_interval(&new));
        self.metrics
            .retain_sources(&new.sources.iter().map(|s| s.name.as_str()).collect());
        self.config = Arc::new(new);
        self.served_config.send_replace(Arc::clone(&self.config));
        let mut summary = diff.to_string();
        if diff.pool {
            summary.push_str(&format!(
                ", worker pool {} → {}",
                old.daemon.workers, self.config.daemon.workers
            ));
        }
        info!("config reloaded: {summary}");
        // A source just added (or just enabled) is fetched now, not at its
        // next tick, which may be hours away.
        let arrived: Vec<Arc<SourceSpec>> = self
            .config
            .sources
            .iter()
            .filter(|s| s.enabled)
            .filter(|s| {
                diff.added.contains(&s.name)
                    || old.sources.iter().any(|o| o.name == s.name && !o.enabled)
            })
            .cloned()
            .collect();
        self.start_round(arrived, "reload".to_owned(), Spread::default(), None);
        ReloadOutcome::Applied(diff)
    }

    /// Graceful shutdown; see the module doc.
    async fn drain(
        mut self,
        controls: &mut mpsc::Receiver<Control>,
        observer: tokio::task::JoinHandle<()>,
    ) -> Result<Exit> {
        let grace = self.config.daemon.shutdown_grace;
        info!(
            rounds = self.rounds.len(),
            grace = %humantime::format_duration(grace),
            "shutting down: no new rounds; waiting for fetches in flight"
        );
        notify::stopping();
        if let Err(e) = self.scheduler.shutdown().await {
            warn!(error = %e, "scheduler did not stop cleanly");
        }
        self.shutdown.begin();
        let grace_over = tokio::time::sleep(grace);
        tokio::pin!(grace_over);
        let mut aborted = false;
        loop {
            tokio::select! {
                done = self.rounds.join_next() => match done {
                    None => break,
                    Some(done) => { let _ = self.round_done(done); }
                },
                () = &mut grace_over, if !aborted => {
                    warn!(sources = ?self.busy, "grace period over: cancelling fetches still in flight");
                    self.shutdown.abort();
                    // A database locked elsewhere is no longer waited out.
                    self.storage.give_up_waiting();
                    aborted = true;
                }
                Some(control) = controls.recv() => {
                    if control == Control::Shutdown {
                        warn!("second signal: exiting now without waiting");
                        return Ok(Exit::Forced);
                    }
                }
            }
        }
        drop(self.runner);
        self.pool.stop().await;
        while self.retired.join_next().await.is_some() {}
        // The observer reads the database: let it finish before closing.
        drop(self.observer);
        let _ = observer.await;
        self.storage.close().await?;
        info!("stopped cleanly");
        Ok(Exit::Clean)
    }
}
