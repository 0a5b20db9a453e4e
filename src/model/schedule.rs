//! Cron schedules, parsed once.
//!
//! tokio-cron-scheduler parses with croner, seconds required. Operators write
//! the familiar 5-field form as often as the 6-field one, so both are
//! accepted here and normalised to 6 fields; a [`Schedule`] is validated with
//! exactly the parser settings the scheduler uses, so a schedule that passes
//! `herald check` cannot fail at start-up. The interval between firings is
//! computed once, at parse time: thousands of sources share a handful of
//! schedules, and cron parsing showed up in profiles when it was repeated.
//!
//! A schedule runs in a time zone (`[daemon] timezone`, a source's own
//! `timezone`, else the system's, as cron does): `0 7 * * *` is 7 am where
//! the operator lives. Daylight saving follows Vixie cron, as croner
//! implements it: a fixed time that falls in the spring-forward gap fires
//! once right after the gap; in the fall-back hour a fixed time fires once
//! (its first instance), while an interval (`*` or `*/N` in the second,
//! minute or hour field) fires at every wall-clock match, both hours. So no
//! daily round is skipped or doubled, and no 15-minute round is lost.
//! croner gets the fixed-time cases right but, for intervals, skips the
//! repeated hour; intervals are therefore computed here on the UTC offset in
//! force, switching offsets at the transition.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use chrono::{DateTime, Offset as _, Timelike as _, Utc};
use chrono_tz::Tz;
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
    /// Where its hours are read: part of the schedule's identity.
    zone: Tz,
    /// `*` or `/` in the second, minute or hour field: fires by the clock's
    /// pace, so in both instances of a repeated hour.
    interval_like: bool,
    cron: Cron,
    /// Gap between two firings, measured once at parse time.
    interval: Duration,
}

impl Schedule {
    /// Parses a 5-field (minute-first) or 6-field (seconds-first) expression
    /// read in UTC.
    ///
    /// # Errors
    /// A message saying what is wrong, quoting the expression.
    pub fn parse(expression: &str) -> Result<Schedule, String> {
        Schedule::parse_in(expression, Tz::UTC)
    }

    /// As [`Schedule::parse`], with its hours read in `zone`.
    ///
    /// # Errors
    /// As [`Schedule::parse`].
    pub fn parse_in(expression: &str, zone: Tz) -> Result<Schedule, String> {
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
        let now = Utc::now().with_timezone(&zone);
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
        let interval_like = normalized
            .split_whitespace()
            .take(3)
            .any(|field| field.contains(['*', '/']));
        Ok(Schedule(std::sync::Arc::new(Parsed {
            interval_like,
            normalized,
            written: expression.trim().to_owned(),
            zone,
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

    /// The time zone its hours are read in.
    pub fn zone(&self) -> Tz {
        self.0.zone
    }

    /// The first firing after `after`, on a whole second (croner keeps
    /// `after`'s fraction of a second; instances sharing a database must
    /// agree on the instant a slot stands for, whenever each started).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = self.next_after_exact(after)?;
        let whole = next.with_nanosecond(0).unwrap_or(next);
        if whole > after {
            Some(whole)
        } else {
            self.next_after_exact(whole + chrono::Duration::seconds(1))
                .map(|n| n.with_nanosecond(0).unwrap_or(n))
        }
    }

    fn next_after_exact(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let zone = self.0.zone;
        if !self.0.interval_like {
            return self
                .0
                .cron
                .find_next_occurrence(&after.with_timezone(&zone), false)
                .ok()
                .map(|at| at.with_timezone(&Utc));
        }
        let offset_at = |t: DateTime<Utc>| t.with_timezone(&zone).offset().fix();
        let before = offset_at(after);
        let candidate = self
            .0
            .cron
            .find_next_occurrence(&after.with_timezone(&before), false)
            .ok()?
            .with_timezone(&Utc);
        if offset_at(candidate) == before {
            return Some(candidate);
        }
        // The offset changed on the way: find the transition (to the
        // second) and carry on from it on the new offset's clock.
        let (mut unchanged, mut changed) = (after, candidate);
        while changed - unchanged > chrono::Duration::seconds(1) {
            let middle = unchanged + (changed - unchanged) / 2;
            if offset_at(middle) == before {
                unchanged = middle;
            } else {
                changed = middle;
            }
        }
        self.0
            .cron
            .find_next_occurrence(&changed.with_timezone(&offset_at(changed)), true)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }

    /// The expression and its zone, as logs, `check` and `sources` name it
    /// (`0 7 * * * (Europe/Paris)`): an hour means nothing without one.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.0.written, self.0.zone.name())
    }
}

/// Where in a `window` a source's scheduled start falls (`[daemon] spread`):
/// a hash of its name, so the same source starts at the same offset on
/// every tick and on every machine (FNV-1a: stable across Rust releases,
/// unlike the standard hasher).
pub fn spread_offset(name: &str, window: Duration) -> Duration {
    let window_ms = window.as_millis() as u64;
    if window_ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(crate::model::hash::fnv1a(name.as_bytes()) % window_ms)
}

/// A time zone by its IANA name (`Europe/Paris`, `UTC`).
///
/// # Errors
/// A message naming the zone and saying what a valid one looks like.
pub fn zone_named(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!(
            "unknown time zone {name:?}: use an IANA name such as \"Europe/Paris\", \"America/New_York\" or \"UTC\""
        )
    })
}

/// The machine's own zone, as cron uses it: `TZ` when set (a name, or a
/// path under a `zoneinfo` folder), else the system setting
/// (`/etc/localtime`), else UTC. Returns where it came from, for `check`.
pub fn system_zone() -> (Tz, &'static str) {
    if let Ok(tz) = std::env::var("TZ") {
        let name = tz.trim_start_matches(':');
        let name = name.rsplit_once("zoneinfo/").map_or(name, |(_, n)| n);
        if let Ok(zone) = name.parse::<Tz>() {
            return (zone, "the TZ environment variable");
        }
    }
    match iana_time_zone::get_timezone().map(|name| name.parse::<Tz>()) {
        Ok(Ok(zone)) => (zone, "the system's time zone"),
        _ => (Tz::UTC, "no system time zone found"),
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.0.normalized == other.0.normalized && self.0.zone == other.0.zone
    }
}

impl Eq for Schedule {}

impl Hash for Schedule {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.normalized.hash(state);
        self.0.zone.name().hash(state);
    }
}

impl PartialOrd for Schedule {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Schedule {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.0.normalized, self.0.zone.name()).cmp(&(&other.0.normalized, other.0.zone.name()))
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
    fn firings_are_whole_seconds_whatever_the_fraction_of_after() {
        let every_20 = Schedule::parse_in("*/20 * * * * *", chrono_tz::UTC).expect("valid");
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .expect("time")
                .with_timezone(&Utc)
        };
        for after in [
            "2026-11-30T13:09:00.079901Z",
            "2026-11-30T13:09:00.999Z",
            "2026-11-30T13:09:19.5Z",
        ] {
            assert_eq!(
                every_20.next_after(at(after)),
                Some(at("2026-11-30T13:09:20Z")),
                "after {after}"
            );
        }
        assert_eq!(
            every_20.next_after(at("2026-11-30T13:09:20Z")),
            Some(at("2026-11-30T13:09:40Z"))
        );
        let every_second = Schedule::parse_in("* * * * * *", chrono_tz::UTC).expect("valid");
        assert_eq!(
            every_second.next_after(at("2026-11-30T13:09:20.3Z")),
            Some(at("2026-11-30T13:09:21Z"))
        );
    }

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

    /// Every firing in `[from, to)`, as UTC RFC 3339 strings.
    fn firings(schedule: &Schedule, from: &str, to: &str) -> Vec<String> {
        let parse = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .expect("rfc3339")
                .with_timezone(&Utc)
        };
        let (mut at, to) = (parse(from) - chrono::Duration::seconds(1), parse(to));
        let mut seen = Vec::new();
        while let Some(next) = schedule.next_after(at).filter(|next| *next < to) {
            seen.push(next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            at = next;
        }
        seen
    }

    fn berlin(expression: &str) -> Schedule {
        Schedule::parse_in(expression, zone_named("Europe/Berlin").expect("known")).expect("valid")
    }

    #[test]
    fn hours_are_read_in_the_schedules_zone() {
        let paris = Schedule::parse_in("0 7 * * *", zone_named("Europe/Paris").expect("known"))
            .expect("valid");
        // 7 am in Paris: 06:00 UTC in winter, 05:00 UTC in summer.
        assert_eq!(
            firings(&paris, "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"),
            ["2026-12-01T06:00:00Z"]
        );
        assert_eq!(
            firings(&paris, "2026-07-01T00:00:00Z", "2026-07-02T00:00:00Z"),
            ["2026-07-01T05:00:00Z"]
        );
        assert_ne!(
            paris,
            Schedule::parse("0 7 * * *").expect("valid"),
            "zone is identity"
        );
        assert_eq!(paris.describe(), "0 7 * * * (Europe/Paris)");
        assert_eq!(
            Schedule::parse("0 7 * * *").expect("valid").describe(),
            "0 7 * * * (UTC)"
        );
        assert!(zone_named("Europe/Pariss").is_err());
    }

    #[test]
    fn spring_forward_neither_skips_nor_doubles() {
        // 29 March 2026: Berlin jumps from 02:00 to 03:00; 02:30 never happens.
        let daily = berlin("30 2 * * *");
        assert_eq!(
            firings(&daily, "2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z"),
            [
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // the gap: 03:00 CEST, right after it
                "2026-03-30T00:30:00Z", // 02:30 CEST
            ]
        );
        // An interval keeps its pace in real time: 6 half-hours in 3 hours.
        let half_hourly = berlin("*/30 * * * *");
        assert_eq!(
            firings(&half_hourly, "2026-03-29T00:00:00Z", "2026-03-29T03:00:00Z").len(),
            6
        );
    }

    #[test]
    fn fall_back_neither_skips_nor_doubles() {
        // 25 October 2026: Berlin goes back from 03:00 to 02:00; 02:30 happens twice.
        let daily = berlin("30 2 * * *");
        assert_eq!(
            firings(&daily, "2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z"),
            [
                "2026-10-24T00:30:00Z", // 02:30 CEST
                "2026-10-25T00:30:00Z", // the first 02:30 only
                "2026-10-26T01:30:00Z", // 02:30 CET
            ]
        );
        // An interval fires in both hours: 8 half-hours in 4 real hours.
        let half_hourly = berlin("*/30 * * * *");
        assert_eq!(
            firings(&half_hourly, "2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z").len(),
            8
        );
    }

    #[test]
    fn spread_offsets_are_stable_and_fill_the_window() {
        let window = Duration::from_secs(120);
        let offsets: Vec<Duration> = (0..1000)
            .map(|i| spread_offset(&format!("source-{i}"), window))
            .collect();
        assert!(offsets.iter().all(|o| *o < window));
        assert_eq!(spread_offset("source-7", window), offsets[7], "stable");
        // Spread, not bunched: every 10-second slice of the window holds
        // some of 1,000 sources (about 83 each if uniform).
        for slice in 0..12 {
            let count = offsets.iter().filter(|o| o.as_secs() / 10 == slice).count();
            assert!((40..=140).contains(&count), "slice {slice}: {count}");
        }
        assert_eq!(spread_offset("x", Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn nonsense_is_explained() {
        let err = Schedule::parse("every tuesday").expect_err("must fail");
        assert!(err.contains("2 field(s)"), "{err}");
        let err = Schedule::parse("61 * * * *").expect_err("must fail");
        assert!(err.contains("not valid"), "{err}");
    }
}
