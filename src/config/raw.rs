//! The config file as written: serde types with every default written once
//! (a `default_*` function each). Validation turns them into [`super::Config`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fetch::ClientSettings;
use crate::telemetry::LogConfig;

/// `[daemon]`: how rounds run and where results go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DaemonConfig {
    /// SQLite file (relative to the config file's folder), or a PostgreSQL
    /// URL / `key=value` string shared by several instances.
    #[serde(default = "default_database")]
    pub database: String,
    /// Size of the worker pool: the global cap on fetches in flight.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Capacity of the fetch-job queue between rounds and workers.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Deadline for a whole round; unfinished fetches become `timeout`.
    #[serde(default = "default_round_timeout", with = "humantime_serde")]
    pub round_timeout: Duration,
    /// Cron expression (5 or 6 fields) for rounds of every source without its own.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// How long a graceful shutdown waits for fetches in flight.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// `herald run` fetches every source once at start-up, before the first tick.
    #[serde(default = "default_run_on_start")]
    pub run_on_start: bool,
    /// Failures in a row after which a source is paused (circuit breaker).
    #[serde(default = "default_max_consecutive_failures")]
    pub max_consecutive_failures: u32,
    /// How long articles are kept after a source last served them
    /// (`"90d"`, `"forever"`).
    #[serde(default = "default_keep")]
    pub keep: String,
    /// How long the `fetches` and `rounds` history is kept.
    #[serde(default = "default_keep_history")]
    pub keep_history: String,
    /// IANA zone the schedules' hours are read in; the system's when absent.
    pub timezone: Option<String>,
    /// Window over which a scheduled round's sources start, each at a stable
    /// offset from its name (`"2m"`); zero starts them all at the tick.
    #[serde(default, with = "humantime_serde")]
    pub spread: Duration,
    /// Same-titled items from different sources this close in time are one
    /// story in `latest`, exports and served feeds.
    #[serde(default = "default_same_story_window", with = "humantime_serde")]
    pub same_story_window: Duration,
    /// A file holding the PostgreSQL password (first line), kept out of
    /// the config.
    pub database_password_file: Option<PathBuf>,
    /// This instance's name on a shared database; hostname and PID when
    /// absent.
    pub instance: Option<String>,
    /// How long a claimed source stays this instance's before others may
    /// take it (a killed instance's sources wait this long).
    #[serde(default = "default_lease", with = "humantime_serde")]
    pub lease: Duration,
}

fn default_same_story_window() -> Duration {
    Duration::from_secs(48 * 3600)
}

fn default_database() -> String {
    "herald.db".to_owned()
}
fn default_lease() -> Duration {
    Duration::from_secs(300)
}
fn default_workers() -> usize {
    16
}
fn default_queue_capacity() -> usize {
    1024
}
fn default_round_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_schedule() -> String {
    "*/15 * * * *".to_owned()
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(20)
}
fn default_run_on_start() -> bool {
    true
}
fn default_max_consecutive_failures() -> u32 {
    5
}
fn default_keep() -> String {
    "90d".to_owned()
}
fn default_keep_history() -> String {
    "30d".to_owned()
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            database: default_database(),
            database_password_file: None,
            instance: None,
            lease: default_lease(),
            workers: default_workers(),
            queue_capacity: default_queue_capacity(),
            round_timeout: default_round_timeout(),
            schedule: default_schedule(),
            shutdown_grace: default_shutdown_grace(),
            run_on_start: default_run_on_start(),
            max_consecutive_failures: default_max_consecutive_failures(),
            keep: default_keep(),
            keep_history: default_keep_history(),
            timezone: None,
            spread: Duration::ZERO,
            same_story_window: default_same_story_window(),
        }
    }
}

/// `[server]` (formerly `[metrics]`): the optional listener for the
/// Prometheus metrics, the health check and the served feeds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to serve `/metrics` and `/healthz` on; off when absent.
    /// Bind to loopback unless a scraper elsewhere needs it.
    pub listen: Option<std::net::SocketAddr>,
}

/// `[alerts]`: tell someone when a source changes state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// URL that receives one JSON POST per source state change; off when absent.
    pub webhook: Option<String>,
}

/// `[filters]`: `include` / `exclude` patterns every source's items pass
/// through, before the source's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FiltersConfig {
    /// Only items matching one of these are stored (all when empty).
    #[serde(default)]
    pub include: Vec<String>,
    /// Items matching one of these are not stored.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// One `[[notify]]` rule as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    /// Unique name: what the webhook is told and what records announcements.
    pub name: String,
    /// Patterns, any of which matches (title or summary, case-insensitive).
    #[serde(rename = "match", default)]
    pub patterns: Vec<String>,
    /// Only stories these sources carried.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Only stories sources with these tags carried.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Where the batch is POSTed; secret-bearing, never logged.
    pub webhook: String,
    /// `json` (default) or `slack`.
    #[serde(default)]
    pub format: Option<String>,
}

/// One `[[sources]]` entry as written. Keys beyond the common ones are kept
/// in `options` and checked by the kind's own module, which knows them.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RawSource {
    /// Unique name.
    pub name: String,
    /// `feed`, `json`, … (checked in validation, so a typo is one problem among the others).
    pub kind: String,
    /// A disabled source is validated but never fetched.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// What to fetch (`feed`, `json`).
    pub url: Option<String>,
    /// Cron override; the source then runs in rounds of its own.
    pub schedule: Option<String>,
    /// At most this many items are kept per fetch.
    pub limit: Option<usize>,
    /// `"100/hour"`: requests allowed in a sliding window.
    pub rate_limit: Option<String>,
    /// Let Cache-Control, Expires, RSS `<ttl>` and Retry-After delay fetches.
    #[serde(default = "default_respect_server_hints")]
    pub respect_server_hints: bool,
    /// This source's articles are kept this long (else `[daemon] keep`).
    pub keep: Option<String>,
    /// IANA zone its `schedule` is read in (else `[daemon] timezone`).
    pub timezone: Option<String>,
    /// Labels to select it by (`--tag`, `?tag=`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only items matching one of these patterns are stored.
    #[serde(default)]
    pub include: Vec<String>,
    /// Items matching one of these patterns are not stored.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The kind's own keys.
    #[serde(flatten)]
    pub options: BTreeMap<String, serde_json::Value>,
}

fn default_enabled() -> bool {
    true
}
fn default_respect_server_hints() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) daemon: DaemonConfig,
    #[serde(default)]
    pub(super) http: ClientSettings,
    #[serde(default)]
    pub(super) log: LogConfig,
    #[serde(default)]
    pub(super) metrics: MetricsConfig,
    /// Only from the environment (`HERALD__SERVER__LISTEN`): the file's
    /// `[server]` is read as `[metrics]` before layering.
    #[serde(default)]
    pub(super) server: Option<MetricsConfig>,
    #[serde(default)]
    pub(super) alerts: AlertsConfig,
    #[serde(default)]
    pub(super) filters: FiltersConfig,
    #[serde(default)]
    pub(super) notify: Vec<RawNotify>,
    #[serde(default)]
    pub(super) sources: Vec<RawSource>,
}
