//! Wiring: builds the parts (storage, HTTP client, worker pool, round runner)
//! from a [`Config`] and tears them down in order. The only module that
//! knows every other one.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::fetch::{HostLimits, HttpClient};
use crate::pool::WorkerPool;
use crate::round::{RoundReport, RoundRunner};
use crate::scheduler;
use crate::shutdown::Shutdown;
use crate::storage;
use crate::storage::Storage;

/// The worker pool `config` asks for, with its HTTP client and retry policy.
pub fn start_pool(config: &Config) -> Result<WorkerPool> {
    let client = HttpClient::new(&config.http)?;
    Ok(WorkerPool::start(
        config.daemon.workers,
        config.daemon.queue_capacity,
        client,
        config.http.retry_policy(),
    ))
}

/// `herald once`: one round over every enabled source, then a clean close
/// (queue drained, WAL checkpointed) so the database file is self-contained.
pub async fn once(config: &Config) -> Result<RoundReport> {
    once_with_progress(config, None).await
}

/// As [`once`], telling `progress` about each source as it finishes.
pub async fn once_with_progress(
    config: &Config,
    progress: Option<tokio::sync::mpsc::UnboundedSender<(String, crate::outcome::FetchStatus)>>,
) -> Result<RoundReport> {
    let storage = Storage::open(&config.daemon.database).await?;
    let pool = start_pool(config)?;
    let runner = RoundRunner {
        queue: pool.queue(),
        storage: storage.clone(),
        round_timeout: config.daemon.round_timeout,
        workers: config.daemon.workers,
        shutdown: Shutdown::new(),
        hosts: HostLimits::new(config.http.per_host_concurrency),
        max_consecutive_failures: config.daemon.max_consecutive_failures,
        progress,
    };
    let report = runner.run(&config.enabled_sources(), &[], "once").await;
    drop(runner);
    pool.stop().await;
    storage.close().await?;
    let mut report = report?;
    report.peak_rss_kb = crate::telemetry::peak_rss_kb();
    Ok(report)
}

/// What `once --dry-run` says about one source: when it would next be
/// fetched, and what decides that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextDue {
    pub source: String,
    /// RFC 3339; `None` when it will not be fetched again.
    pub at: Option<String>,
    pub reason: String,
}

/// The round that would have run, and what would follow it.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// The database that was left untouched.
    pub database: std::path::PathBuf,
    pub report: RoundReport,
    pub next_due: Vec<NextDue>,
}

/// `herald once --dry-run`: a real round (same requests, validators, breaker
/// and dedup decisions) against a scratch copy of the database, thrown away
/// afterwards. The real file is only read, in one `VACUUM INTO`.
pub async fn dry_run(config: &Config) -> Result<DryRun> {
    let scratch = tempfile::tempdir().map_err(Error::Scratch)?;
    let copy = scratch.path().join("dry-run.db");
    let real = config.daemon.database.clone();
    if real.exists() {
        let (from, to) = (real.clone(), copy.clone());
        tokio::task::spawn_blocking(move || storage::snapshot(&from, &to))
            .await
            .map_err(|e| Error::Scratch(std::io::Error::other(e)))??;
    }
    let mut scratch_config = config.clone();
    scratch_config.daemon.database = copy.clone();
    let report = once(&scratch_config).await?;
    let rows = tokio::task::spawn_blocking(move || -> Result<_> {
        let conn = storage::open_read_only(&copy)?;
        Ok(storage::reads::sources(&conn).map_err(storage::StorageError::from)?)
    })
    .await
    .map_err(|e| Error::Scratch(std::io::Error::other(e)))??;
    let now = Utc::now();
    let next_due = config
        .enabled_sources()
        .iter()
        .map(|spec| {
            let row = rows.get(&spec.name).cloned().unwrap_or_default();
            next_due(&spec.name, &config.schedule_of(spec), &row, now)
        })
        .collect();
    Ok(DryRun {
        database: real,
        report,
        next_due,
    })
}

/// When a source is next fetched: its schedule's next tick, pushed back by
/// an open circuit breaker or a server's requested wait; never once gone.
pub fn next_due(
    source: &str,
    schedule: &str,
    row: &storage::reads::SourceRow,
    now: DateTime<Utc>,
) -> NextDue {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let format = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if row.gone_at.is_some() {
        return NextDue {
            source: source.to_owned(),
            at: None,
            reason: "never: it answered 410 Gone (fix its URL or remove it)".to_owned(),
        };
    }
    let mut at = scheduler::next_after(schedule, now);
    let mut reason = format!("next tick of \"{schedule}\"");
    // Each hold pushes the source to the first tick at or after it.
    let holds = [
        parse(&row.paused_until).map(|until| {
            let why = format!(
                "circuit breaker open until {} after {} failures in a row",
                format(until),
                row.consecutive_failures
            );
            (until, why)
        }),
        parse(&row.next_check_at).map(|wait| {
            let why = format!(
                "the server asked not to be checked before {} ({})",
                format(wait),
                row.next_check_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            );
            (wait, why)
        }),
    ];
    for (until, why) in holds.into_iter().flatten() {
        if at.is_some_and(|tick| until > tick) {
            at = scheduler::next_after(schedule, until - chrono::Duration::seconds(1));
            reason = why;
        }
    }
    NextDue {
        source: source.to_owned(),
        at: at.map(format),
        reason,
    }
}
