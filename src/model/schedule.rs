//! Cron schedules, parsed once.
//!
//! tokio-cron-scheduler parses with croner, seconds required. Operators write
//! the familiar 5-field form as often as the 6-field one, so both are
//! accepted here and normalised to 6 fields; a [`Schedule`] is validated with
//! exactly the parser settings the scheduler uses, so a schedule that passes
//! `herald check` cannot fail at start-up. The interval between firings is
//! computed once, at parse time: thousands of sources share a handful of
//! schedules, and cron parsing showed up in profiles when it was repeated.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A valid cron expression, normalised to 6 fields (second first).
///
/// Cheap to clone: every source on the global schedule shares one (a parsed
/// `Cron` is a few kilobytes of tables; copying it per source cost 15% of
/// loading a 1,000-source config).
#[derive(Debug, Clone)]
pub struct Schedule(std::sync::Arc<Parsed>);

/// What [`Schedule`] shares.
#[derive(Debug)]
struct Parsed {
    /// The 6-field form: what the scheduler runs and what identifies it.
    normalized: String,
    /// As the operator wrote it, for messages.
    written: String,
    cron: Cron,
    /// Gap between two firings, measured once at parse time.
    interval: Duration,
}

impl Schedule {
    /// Parses a 5-field (minute-first) or 6-field (seconds-first) expression.
    ///
    /// # Errors
    /// A message saying what is wrong, quoting the expression.
    pub fn parse(expression: &str) -> Result<Schedule, String> {
        let fields: Vec<&str> = expression.split_whitespace().collect();
        let normalized = match fields.len() {
            5 => format!("0 {}", fields.join(" ")),
            6 => fields.join(" "),
            n => {
                return Err(format!(
                    "cron {expression:?} has {n} field(s); expected 5 (minute hour day month weekday) \
                     or 6 (second minute hour day month weekday)"
                ));
            }
        };
        let cron = parser()
            .parse(&normalized)
            .map_err(|e| format!("cron {expression:?} is not valid: {e}"))?;
        let now = Utc::now();
        let interval = cron
            .find_next_occurrence(&now, false)
            .ok()
            .and_then(|first| {
                let second = cron.find_next_occurrence(&first, false).ok()?;
                (second - first).to_std().ok()
            })
            // A valid expression with no two future firings (a date that has
            // passed): treat it as rare.
            .unwrap_or(Duration::from_secs(365 * 86_400));
        Ok(Schedule(std::sync::Arc::new(Parsed {
            normalized,
            written: expression.trim().to_owned(),
            cron,
            interval,
        })))
    }

    /// The 6-field expression the scheduler runs.
    pub fn as_str(&self) -> &str {
        &self.0.normalized
    }

    /// The expression as the operator wrote it.
    pub fn written(&self) -> &str {
        &self.0.written
    }

    /// The gap between two firings: one "round" of this schedule, the unit
    /// of the circuit breaker's cooldown and of `/healthz`.
    pub fn interval(&self) -> Duration {
        self.0.interval
    }

    /// The first firing after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.cron.find_next_occurrence(&after, false).ok()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.0.normalized == other.0.normalized
    }
}

impl Eq for Schedule {}

impl Hash for Schedule {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.normalized.hash(state);
    }
}

impl PartialOrd for Schedule {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Schedule {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.normalized.cmp(&other.0.normalized)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.written)
    }
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
        let five = Schedule::parse("*/15 * * * *").expect("valid");
        assert_eq!(five.as_str(), "0 */15 * * * *");
        assert_eq!(five.written(), "*/15 * * * *");
        assert_eq!(
            Schedule::parse("*/5  * * * * *").map(|s| s.as_str().to_owned()),
            Ok("*/5 * * * * *".to_owned())
        );
        assert_eq!(
            five,
            Schedule::parse("0 */15 * * * *").expect("valid"),
            "one schedule however written"
        );
    }

    #[test]
    fn intervals() {
        let every = |e: &str| Schedule::parse(e).expect("valid").interval();
        assert_eq!(every("*/15 * * * *"), Duration::from_secs(900));
        assert_eq!(every("* * * * * *"), Duration::from_secs(1));
    }

    #[test]
    fn nonsense_is_explained() {
        let err = Schedule::parse("every tuesday").expect_err("must fail");
        assert!(err.contains("2 field(s)"), "{err}");
        let err = Schedule::parse("61 * * * *").expect_err("must fail");
        assert!(err.contains("not valid"), "{err}");
    }
}
