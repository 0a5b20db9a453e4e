//! Wiring: builds the parts (storage, HTTP client, worker pool, round runner)
//! from a [`Config`] and tears them down in order. The only module that
//! knows every other one.

use crate::config::Config;
use crate::error::Result;
use crate::fetch::{HostLimits, HttpClient};
use crate::pool::WorkerPool;
use crate::round::{RoundReport, RoundRunner};
use crate::shutdown::Shutdown;
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
    };
    let report = runner.run(&config.enabled_sources(), &[], "once").await;
    drop(runner);
    pool.stop().await;
    storage.close().await?;
    let mut report = report?;
    report.peak_rss_kb = crate::telemetry::peak_rss_kb();
    Ok(report)
}
