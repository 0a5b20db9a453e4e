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
//!
//! Each schedule is a chain of one-shot jobs, each arming the next at the
//! schedule's following firing, rather than one cron job: a cron job with a
//! time zone fixes that zone's UTC offset when it is created, so after a
//! daylight-saving change it would fire an hour off. [`Schedule::next_after`]
//! knows the zone's rules on every firing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{error, warn};

use crate::model::schedule::Schedule;

/// "The sources on this schedule are due": sent by a job's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoundTick {
    /// The schedule that fired.
    pub schedule: Schedule,
    /// The firing it stands for (the job itself runs up to half a second
    /// later): what spread offsets count from.
    pub at: DateTime<Utc>,
}

/// Owns one chain of jobs per distinct schedule.
pub(crate) struct Scheduler {
    inner: JobScheduler,
    /// Cleared on replace or shutdown: a chain whose flag is down neither
    /// sends its tick nor arms its next job.
    live: Arc<AtomicBool>,
    ticks: mpsc::Sender<RoundTick>,
}

impl Scheduler {
    /// Starts a scheduler with one chain per schedule.
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
            live: Arc::new(AtomicBool::new(true)),
            ticks,
        };
        scheduler.add_all(schedules).await?;
        scheduler.inner.start().await?;
        Ok(scheduler)
    }

    /// Replaces every chain (after a config reload). Rounds already running
    /// are not touched: they do not belong to the scheduler.
    ///
    /// # Errors
    /// A job cannot be added.
    pub(crate) async fn replace(
        &mut self,
        schedules: &[Schedule],
    ) -> Result<(), JobSchedulerError> {
        // The old chains' pending jobs fire once more, find their flag down,
        // and end there.
        self.live.store(false, Ordering::SeqCst);
        self.live = Arc::new(AtomicBool::new(true));
        self.add_all(schedules).await
    }

    async fn add_all(&mut self, schedules: &[Schedule]) -> Result<(), JobSchedulerError> {
        let now = Utc::now();
        for schedule in schedules {
            let link = Link {
                schedule: schedule.clone(),
                live: Arc::clone(&self.live),
                ticks: self.ticks.clone(),
            };
            if let Some(job) = link.job_after(now)? {
                self.inner.add(job).await?;
            }
        }
        Ok(())
    }

    /// Stops firing; jobs already fired are unaffected.
    ///
    /// # Errors
    /// The scheduler did not stop cleanly.
    pub(crate) async fn shutdown(&mut self) -> Result<(), JobSchedulerError> {
        self.live.store(false, Ordering::SeqCst);
        self.inner.shutdown().await
    }
}

/// What each job of a chain needs to fire and arm the next.
#[derive(Clone)]
struct Link {
    schedule: Schedule,
    live: Arc<AtomicBool>,
    ticks: mpsc::Sender<RoundTick>,
}

impl Link {
    /// The one-shot job for the schedule's first firing after `after`;
    /// `None` when it never fires again.
    fn job_after(&self, after: DateTime<Utc>) -> Result<Option<Job>, JobSchedulerError> {
        let Some(at) = self.schedule.next_after(after) else {
            return Ok(None);
        };
        let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let link = self.clone();
        Job::new_one_shot_at_instant_async(
            tokio::time::Instant::now().into_std() + wait,
            move |_, scheduler| {
                let link = link.clone();
                Box::pin(async move { link.fire(at, scheduler).await })
            },
        )
        .map(Some)
    }

    /// Sends the tick for `at` and arms the firing after it.
    async fn fire(self, at: DateTime<Utc>, scheduler: JobScheduler) {
        // tokio-cron-scheduler rounds a one-shot's time down to the second
        // and polls twice a second: the job may run up to a second early.
        if let Ok(early) = (at - Utc::now()).to_std() {
            tokio::time::sleep(early).await;
        }
        if !self.live.load(Ordering::SeqCst) {
            return;
        }
        let tick = RoundTick {
            schedule: self.schedule.clone(),
            at,
        };
        if self.ticks.try_send(tick).is_err() {
            warn!("cron tick dropped: the supervisor is not keeping up");
        }
        // From the planned firing, not from now: a job that ran a little
        // early or late neither repeats nor skips a firing.
        let armed = match self.job_after(at) {
            Ok(Some(job)) => scheduler.add(job).await.map(drop),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = armed {
            error!(schedule = %self.schedule.describe(), error = %e, "cannot arm the next tick");
        }
    }
}
