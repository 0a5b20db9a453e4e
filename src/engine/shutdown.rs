//! The two-stage shutdown signal seen by every task.
//!
//! `begin` means "start no new work": the scheduler stops, rounds stop
//! queueing, and a worker answers a job it has not started yet as skipped.
//! Fetches already in flight continue. `abort` comes when the grace period
//! is over: in-flight fetches are cancelled and recorded as `timeout`. Both
//! stages still end with every outcome committed, so nothing fetched is lost.
//! (The "done" signal is the supervisor's `JoinSet` of rounds running dry.)

use tokio_util::sync::CancellationToken;

/// Cloneable handle on both stages; cloning shares the same state.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    begin: CancellationToken,
    abort: CancellationToken,
}

impl Shutdown {
    /// A handle on which nothing has happened yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stage one: no new work.
    pub fn begin(&self) {
        self.begin.cancel();
    }

    /// Stage two: cancel work in flight (implies stage one).
    pub fn abort(&self) {
        self.begin.cancel();
        self.abort.cancel();
    }

    /// Whether stage one has started: no new work may start.
    pub fn is_begun(&self) -> bool {
        self.begin.is_cancelled()
    }

    /// Resolves when stage one starts.
    pub async fn begun(&self) {
        self.begin.cancelled().await;
    }

    /// Resolves when stage two starts.
    pub async fn aborted(&self) {
        self.abort.cancelled().await;
    }
}
