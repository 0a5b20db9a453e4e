//! Wiring: builds the parts (storage, HTTP client, worker pool, round runner)
//! from a [`Config`] and tears them down in order. The only module that
//! knows every other one.

use crate::config::Config;
use crate::error::Result;
use crate::fetch::HttpClient;
use crate::pool::WorkerPool;
use crate::round::{RoundReport, RoundRunner};
use crate::shutdown::Shutdown;
use crate::storage::Storage;

/// `herald once`: one round over every enabled source, then a clean close
/// (queue drained, WAL checkpointed) so the database file is self-contained.
pub async fn once(config: &Config) -> Result<RoundReport> {
    let storage = Storage::open(&config.daemon.database).await?;
    let client = HttpClient::new(&config.http)?;
    let pool = WorkerPool::start(config.daemon.workers, config.daemon.queue_capacity, client);
    let runner = RoundRunner {
        queue: pool.queue(),
        storage: storage.clone(),
        round_timeout: config.daemon.round_timeout,
        workers: config.daemon.workers,
        shutdown: Shutdown::new(),
    };
    let report = runner.run(&config.enabled_sources(), &[], "once").await;
    drop(runner);
    pool.stop().await;
    storage.close().await?;
    Ok(report?)
}
