//! Cron: what a valid schedule is, and the scheduler that fires rounds.
//!
//! The scheduler (tokio-cron-scheduler) decides nothing: each cron job's
//! callback only `try_send`s a [`RoundTick`] to the supervisor, which decides
//! whether to start a round or skip sources still busy from the last one. A
//! full tick channel means the supervisor is far behind; dropping the tick
//! (with a warning) is then better than piling rounds up.
//!
//! tokio-cron-scheduler parses with croner, seconds required. Operators write
//! the familiar 5-field form as often as the 6-field one, so both are accepted
//! here and normalised to 6 fields; `herald check` validates with exactly the
//! parser settings the scheduler uses, so a schedule that passes the check
//! cannot fail at start-up.

use croner::parser::{CronParser, Seconds};
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::warn;
use uuid::Uuid;

/// "The sources on this schedule are due": sent by a cron job's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTick {
    /// The normalised (6-field) expression that fired.
    pub schedule: String,
}

/// Owns the cron jobs, one per distinct schedule.
pub struct Scheduler {
    inner: JobScheduler,
    jobs: Vec<Uuid>,
    ticks: mpsc::Sender<RoundTick>,
}

impl Scheduler {
    /// Starts a scheduler with one job per (normalised) expression.
    pub async fn start(
        schedules: &[String],
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
    pub async fn replace(&mut self, schedules: &[String]) -> Result<(), JobSchedulerError> {
        for id in self.jobs.drain(..) {
            self.inner.remove(&id).await?;
        }
        self.add_all(schedules).await
    }

    async fn add_all(&mut self, schedules: &[String]) -> Result<(), JobSchedulerError> {
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
    pub async fn shutdown(&mut self) -> Result<(), JobSchedulerError> {
        self.inner.shutdown().await
    }
}

/// Turns a 5-field (minute-first) or 6-field (seconds-first) expression into
/// the 6-field form the scheduler takes, or explains what is wrong with it.
pub fn normalize_cron(expression: &str) -> Result<String, String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let six = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 => fields.join(" "),
        n => {
            return Err(format!(
                "cron {expression:?} has {n} field(s); expected 5 (minute hour day month weekday) \
                 or 6 (second minute hour day month weekday)"
            ));
        }
    };
    parser()
        .parse(&six)
        .map(|_| six)
        .map_err(|e| format!("cron {expression:?} is not valid: {e}"))
}

/// The gap between the next two firings of a (valid) expression: one
/// "round" of that schedule, the unit of the circuit breaker's cooldown.
pub fn interval_of(expression: &str) -> Option<std::time::Duration> {
    let cron = parser().parse(&normalize_cron(expression).ok()?).ok()?;
    let now = chrono::Utc::now();
    let first = cron.find_next_occurrence(&now, false).ok()?;
    let second = cron.find_next_occurrence(&first, false).ok()?;
    (second - first).to_std().ok()
}

/// The first time `expression` fires after `after`.
pub fn next_after(
    expression: &str,
    after: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let cron = parser().parse(&normalize_cron(expression).ok()?).ok()?;
    cron.find_next_occurrence(&after, false).ok()
}

/// The same settings tokio-cron-scheduler's `Job::new_async` uses.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_fields_are_accepted() {
        assert_eq!(
            normalize_cron("*/15 * * * *").as_deref(),
            Ok("0 */15 * * * *")
        );
        assert_eq!(
            normalize_cron("*/5  * * * * *").as_deref(),
            Ok("*/5 * * * * *")
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(
            interval_of("*/15 * * * *"),
            Some(std::time::Duration::from_secs(900))
        );
        assert_eq!(
            interval_of("* * * * * *"),
            Some(std::time::Duration::from_secs(1))
        );
        assert_eq!(interval_of("nonsense"), None);
    }

    #[test]
    fn nonsense_is_explained() {
        let err = normalize_cron("every tuesday").expect_err("must fail");
        assert!(err.contains("2 field(s)"), "{err}");
        let err = normalize_cron("61 * * * *").expect_err("must fail");
        assert!(err.contains("not valid"), "{err}");
    }
}
