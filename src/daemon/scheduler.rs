//! The cron scheduler that fires rounds.
//!
//! The scheduler (tokio-cron-scheduler) decides nothing: each cron job's
//! callback only `try_send`s a [`RoundTick`] to the supervisor, which decides
//! whether to start a round or skip sources still busy from the last one. A
//! full tick channel means the supervisor is far behind; dropping the tick
//! (with a warning) is then better than piling rounds up.
//!
//! What a valid schedule is lives in [`Schedule`], which parses with exactly
//! the settings tokio-cron-scheduler uses, so a schedule that passes
//! `herald check` cannot fail here.

use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::warn;
use uuid::Uuid;

use crate::model::schedule::Schedule;

/// "The sources on this schedule are due": sent by a cron job's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoundTick {
    /// The schedule that fired.
    pub schedule: Schedule,
}

/// Owns the cron jobs, one per distinct schedule.
pub(crate) struct Scheduler {
    inner: JobScheduler,
    jobs: Vec<Uuid>,
    ticks: mpsc::Sender<RoundTick>,
}

impl Scheduler {
    /// Starts a scheduler with one job per (normalised) expression.
    ///
    /// # Errors
    /// The scheduler cannot start or take a job.
    pub(crate) async fn start(
        schedules: &[Schedule],
        ticks: mpsc::Sender<RoundTick>,
    ) -> Result<Scheduler, JobSchedulerError> {
        let inner = JobScheduler::new().await?;
        let mut scheduler = Scheduler {
            inner,
            jobs: Vec::new(),
            ticks,
        };
        scheduler.add_all(schedules).await?;
        scheduler.inner.start().await?;
        Ok(scheduler)
    }

    /// Replaces every job (after a config reload). Rounds already running
    /// are not touched: they do not belong to the scheduler.
    ///
    /// # Errors
    /// A job cannot be removed or added.
    pub(crate) async fn replace(
        &mut self,
        schedules: &[Schedule],
    ) -> Result<(), JobSchedulerError> {
        for id in self.jobs.drain(..) {
            self.inner.remove(&id).await?;
        }
        self.add_all(schedules).await
    }

    async fn add_all(&mut self, schedules: &[Schedule]) -> Result<(), JobSchedulerError> {
        for schedule in schedules {
            let ticks = self.ticks.clone();
            let expression = schedule.clone();
            let job = Job::new_async(schedule.as_str(), move |_, _| {
                let tick = RoundTick {
                    schedule: expression.clone(),
                };
                let ticks = ticks.clone();
                Box::pin(async move {
                    if ticks.try_send(tick).is_err() {
                        warn!("cron tick dropped: the supervisor is not keeping up");
                    }
                })
            })?;
            self.jobs.push(self.inner.add(job).await?);
        }
        Ok(())
    }

    /// Stops firing; jobs already fired are unaffected.
    ///
    /// # Errors
    /// The scheduler did not stop cleanly.
    pub(crate) async fn shutdown(&mut self) -> Result<(), JobSchedulerError> {
        self.inner.shutdown().await
    }
}
