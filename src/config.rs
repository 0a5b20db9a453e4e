//! Configuration: one TOML file, overridable by `HERALD__SECTION__KEY`
//! environment variables, validated all at once.
//!
//! Loading runs in three steps so that every mistake is reported precisely:
//! 1. the file alone is parsed strictly with `toml` (syntax errors, unknown
//!    keys and wrong types come back with their line and column);
//! 2. the `config` crate layers the environment over the file;
//! 3. `validate` checks meaning (cron, URLs, duplicate names, kind options)
//!    and collects *every* problem, each naming the file, line, source and key.
//!
//! Each default is written once, in a `default_*` function. Relative paths are
//! resolved against the config file's folder, never the working directory,
//! so `systemctl` and a shell in another folder read the same database.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::scheduler;
use crate::sources::{self, SourceSpec};

/// Environment variable prefix and separator for overrides: `HERALD__DAEMON__WORKERS=64`.
pub const ENV_PREFIX: &str = "HERALD";
const ENV_SEPARATOR: &str = "__";

/// Why a configuration could not be used. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no config file found (looked in: {})", list_paths(.searched))]
    NotFound { searched: Vec<PathBuf> },
    #[error("{}: cannot read config file: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", .path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}: environment override ({ENV_PREFIX}{ENV_SEPARATOR}*): {message}", .path.display())]
    Environment { path: PathBuf, message: String },
    #[error("{} problem(s) in {}:\n{}", .problems.len(), .path.display(), list_problems(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<ConfigProblem>,
    },
}

fn list_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

fn list_problems(problems: &[ConfigProblem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    lines.join("\n")
}

/// One thing wrong with a config file, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// The `[[sources]]` entry at fault, by name (or index when it has none).
    pub source: Option<String>,
    /// Dotted key, e.g. `daemon.workers` or `url`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": source {source:?}")?;
        }
        write!(f, ": key `{}`: {}", self.key, self.message)
    }
}

/// A validated configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (absolute), for messages and reloads.
    pub path: PathBuf,
    pub daemon: DaemonConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub alerts: AlertsConfig,
    pub sources: Vec<Arc<SourceSpec>>,
    /// Things worth telling the operator that do not stop herald.
    pub warnings: Vec<String>,
}

impl Config {
    /// The sources a round will fetch.
    pub fn enabled_sources(&self) -> Vec<Arc<SourceSpec>> {
        self.sources.iter().filter(|s| s.enabled).cloned().collect()
    }

    /// A source's schedule in 6-field form: its own, or the global one.
    /// Validation guarantees it normalises; the fallback is never used.
    pub fn schedule_of(&self, source: &SourceSpec) -> String {
        let expression = source.schedule.as_deref().unwrap_or(&self.daemon.schedule);
        scheduler::normalize_cron(expression).unwrap_or_else(|_| expression.to_owned())
    }

    /// The distinct schedules of enabled sources: one cron job each.
    pub fn schedules(&self) -> Vec<String> {
        let mut schedules: Vec<String> = self
            .sources
            .iter()
            .filter(|s| s.enabled)
            .map(|s| self.schedule_of(s))
            .collect();
        schedules.sort();
        schedules.dedup();
        schedules
    }

    /// The enabled sources a tick of `schedule` makes due.
    pub fn sources_on(&self, schedule: &str) -> Vec<Arc<SourceSpec>> {
        self.sources
            .iter()
            .filter(|s| s.enabled && self.schedule_of(s) == schedule)
            .cloned()
            .collect()
    }
}

/// `[daemon]`: how rounds run and where results go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// SQLite file; relative to the config file's folder.
    #[serde(default = "default_database")]
    pub database: PathBuf,
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
}

fn default_database() -> PathBuf {
    PathBuf::from("herald.db")
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

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            database: default_database(),
            workers: default_workers(),
            queue_capacity: default_queue_capacity(),
            round_timeout: default_round_timeout(),
            schedule: default_schedule(),
            shutdown_grace: default_shutdown_grace(),
            run_on_start: default_run_on_start(),
            max_consecutive_failures: default_max_consecutive_failures(),
        }
    }
}

/// `[http]`: how herald talks to other people's servers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Whole-request timeout, body included: stops slow-drip servers.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Largest body accepted, counted after decompression.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Extra attempts for transient failures (timeouts, connection errors,
    /// 408, 429, 502, 503, 504).
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_backoff_initial", with = "humantime_serde")]
    pub backoff_initial: Duration,
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Requests in flight to one host (host and port) at once, across all sources.
    #[serde(default = "default_per_host_concurrency")]
    pub per_host_concurrency: usize,
    /// Let sources configured with a public URL reach private addresses
    /// (through DNS or redirects). Off: a public feed cannot point herald
    /// at its own network.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// Host pins, like curl's `--resolve`: `{ "news.example" = "203.0.113.7" }`.
    #[serde(default)]
    pub resolve: BTreeMap<String, std::net::IpAddr>,
}

impl HttpConfig {
    /// The retry settings as the fetcher takes them.
    pub fn retry_policy(&self) -> crate::fetch::RetryPolicy {
        crate::fetch::RetryPolicy {
            retries: self.retries,
            initial: self.backoff_initial,
            max: self.backoff_max,
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_retries() -> u32 {
    2
}
fn default_backoff_initial() -> Duration {
    Duration::from_millis(500)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_per_host_concurrency() -> usize {
    4
}
fn default_user_agent() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match env!("CARGO_PKG_REPOSITORY") {
        "" => format!("herald/{version}"),
        repository => format!("herald/{version} (+{repository})"),
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
            max_body_bytes: default_max_body_bytes(),
            user_agent: default_user_agent(),
            retries: default_retries(),
            backoff_initial: default_backoff_initial(),
            backoff_max: default_backoff_max(),
            per_host_concurrency: default_per_host_concurrency(),
            allow_private_networks: false,
            resolve: BTreeMap::new(),
        }
    }
}

/// `[metrics]`: the optional Prometheus and health-check listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to serve `/metrics` and `/healthz` on; off when absent.
    /// Bind to loopback unless a scraper elsewhere needs it.
    pub listen: Option<std::net::SocketAddr>,
}

/// `[alerts]`: tell someone when a source changes state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// URL that receives one JSON POST per source state change; off when absent.
    pub webhook: Option<String>,
}

/// `[log]`: where the daemon's log lines go besides stderr.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Folder for rolling log files; none means stderr only.
    pub dir: Option<PathBuf>,
    /// File name (a date or hour suffix is added when rotating).
    #[serde(default = "default_log_file")]
    pub file: String,
    #[serde(default)]
    pub rotation: Rotation,
    /// How many rotated files to keep (older ones are deleted).
    #[serde(default = "default_log_keep")]
    pub keep: usize,
    /// Filter in `tracing` syntax; `HERALD_LOG` / `RUST_LOG` override it.
    #[serde(default = "default_log_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

/// When the log file starts anew.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    #[default]
    Daily,
    Hourly,
    Never,
}

/// Log line format in the file: `text` for people, `json` for log shippers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

fn default_log_file() -> String {
    "herald.log".to_owned()
}
fn default_log_keep() -> usize {
    7
}
fn default_log_level() -> String {
    "info".to_owned()
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            dir: None,
            file: default_log_file(),
            rotation: Rotation::default(),
            keep: default_log_keep(),
            level: default_log_level(),
            format: LogFormat::default(),
        }
    }
}

/// One `[[sources]]` entry as written. Keys beyond the common ones are kept
/// in `options` and checked by the kind's own module, which knows them.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSource {
    pub name: String,
    pub kind: String,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
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
struct RawConfig {
    #[serde(default)]
    daemon: DaemonConfig,
    #[serde(default)]
    http: HttpConfig,
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default)]
    alerts: AlertsConfig,
    #[serde(default)]
    sources: Vec<RawSource>,
}

/// Finds the config file: the explicit path (`--config` or `HERALD_CONFIG`),
/// else `./herald.toml`, `$XDG_CONFIG_HOME/herald/herald.toml` (default
/// `~/.config`), `/etc/herald/herald.toml`.
pub fn discover(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let mut candidates = vec![PathBuf::from("herald.toml")];
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")));
    if let Some(dir) = xdg {
        candidates.push(dir.join("herald").join("herald.toml"));
    }
    candidates.push(PathBuf::from("/etc/herald/herald.toml"));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(ConfigError::NotFound {
            searched: candidates,
        })
}

/// Reads, layers and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    load_from_str(&path, &text)
}

/// As [`load`], for text already read (reloads and tests).
pub fn load_from_str(path: &Path, text: &str) -> Result<Config, ConfigError> {
    // Step 1: the file alone, strictly, for errors with a line number.
    toml::from_str::<RawConfig>(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    // Step 2: the file with the environment on top.
    let environment = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .try_parsing(true);
    let raw: RawConfig = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(environment)
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| ConfigError::Environment {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    // Step 3: meaning.
    validate(path, text, raw)
}

/// Finds the line of a key in the original text, for messages. The text is
/// parsed for spans only when a problem needs locating: a valid config with
/// thousands of sources should not pay for it.
struct Locator<'a> {
    doc: std::cell::OnceCell<Option<toml_edit::Document<String>>>,
    text: &'a str,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Self {
        Locator {
            doc: std::cell::OnceCell::new(),
            text,
        }
    }

    fn doc(&self) -> Option<&toml_edit::Document<String>> {
        self.doc
            .get_or_init(|| toml_edit::Document::parse(self.text.to_owned()).ok())
            .as_ref()
    }

    fn line_of(&self, span: Option<std::ops::Range<usize>>) -> Option<usize> {
        let start = span?.start;
        Some(self.text.get(..start)?.matches('\n').count() + 1)
    }

    /// Line of `section.key` (or of the section when the key is absent).
    fn table_key(&self, section: &str, key: &str) -> Option<usize> {
        let table = self.doc()?.get(section)?.as_table()?;
        match table.key(key) {
            Some(k) => self.line_of(k.span()),
            None => self.line_of(table.span()),
        }
    }

    /// Line of `key` in the `index`th `[[sources]]` (or of its header).
    fn source_key(&self, index: usize, key: &str) -> Option<usize> {
        let sources = self.doc()?.get("sources")?.as_array_of_tables()?;
        let table = sources.get(index)?;
        match table.key(key) {
            Some(k) => self.line_of(k.span()),
            None => self.line_of(table.span()),
        }
    }
}

/// Whether a file's mode lets anyone but its owner read it (unix only).
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

fn validate(path: &Path, text: &str, raw: RawConfig) -> Result<Config, ConfigError> {
    let locator = Locator::new(text);
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut global = |key: &str, message: String| {
        let (section, field) = key.split_once('.').unwrap_or((key, ""));
        problems.push(ConfigProblem {
            file: path.to_path_buf(),
            line: locator.table_key(section, field),
            source: None,
            key: key.to_owned(),
            message,
        });
    };

    let daemon = raw.daemon;
    if daemon.workers == 0 {
        global("daemon.workers", "must be at least 1".into());
    }
    if daemon.queue_capacity == 0 {
        global("daemon.queue_capacity", "must be at least 1".into());
    }
    if daemon.round_timeout.is_zero() {
        global("daemon.round_timeout", "must be longer than 0s".into());
    }
    if let Err(e) = scheduler::normalize_cron(&daemon.schedule) {
        global("daemon.schedule", e);
    }
    let http = raw.http;
    if http.timeout.is_zero() {
        global("http.timeout", "must be longer than 0s".into());
    }
    if http.connect_timeout.is_zero() {
        global("http.connect_timeout", "must be longer than 0s".into());
    }
    if http.per_host_concurrency == 0 {
        global("http.per_host_concurrency", "must be at least 1".into());
    }
    if http.backoff_initial > http.backoff_max {
        global(
            "http.backoff_initial",
            "must not exceed http.backoff_max".into(),
        );
    }
    if http.max_body_bytes == 0 {
        global("http.max_body_bytes", "must be at least 1".into());
    }
    let mut log = raw.log;
    if tracing_subscriber::EnvFilter::try_new(crate::telemetry::expand_level(&log.level)).is_err() {
        global(
            "log.level",
            format!(
                "{:?} is not a level or filter (try \"info\" or \"herald=debug,warn\")",
                log.level
            ),
        );
    }
    if log.file.is_empty() || log.file.contains('/') {
        global("log.file", "must be a plain file name".into());
    }
    if let Some(webhook) = &raw.alerts.webhook {
        match url::Url::parse(webhook) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => global(
                "alerts.webhook",
                format!("must be an http or https URL, not {}:", url.scheme()),
            ),
            Err(e) => global("alerts.webhook", format!("is not a URL: {e}")),
        }
    }
    if http.user_agent.trim().is_empty() || !http.user_agent.is_ascii() {
        global("http.user_agent", "must be a non-empty ASCII string".into());
    }

    let context = sources::BuildContext {
        config_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let mut names = HashSet::new();
    let mut sources = Vec::new();
    let mut intervals: std::collections::HashMap<String, Duration> =
        std::collections::HashMap::new();
    for (index, raw_source) in raw.sources.into_iter().enumerate() {
        let label = if raw_source.name.trim().is_empty() {
            format!("#{}", index + 1)
        } else {
            raw_source.name.clone()
        };
        let mut source_problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                file: path.to_path_buf(),
                line: locator.source_key(index, key),
                source: Some(label.clone()),
                key: key.to_owned(),
                message,
            });
        };
        if raw_source.name.trim().is_empty() {
            source_problem("name", "must not be empty".into());
        } else if !names.insert(raw_source.name.clone()) {
            source_problem(
                "name",
                "is used by another source; names must be unique".into(),
            );
        }
        if let Some(schedule) = &raw_source.schedule {
            if let Err(e) = scheduler::normalize_cron(schedule) {
                source_problem("schedule", e);
            }
        }
        if raw_source.limit == Some(0) {
            source_problem("limit", "must be at least 1".into());
        }
        let rate_limit = match raw_source
            .rate_limit
            .as_deref()
            .map(crate::breaker::parse_rate_limit)
        {
            Some(Err(e)) => {
                source_problem("rate_limit", e);
                None
            }
            Some(Ok(limit)) => Some(limit),
            None => None,
        };
        let schedule = raw_source.schedule.as_deref().unwrap_or(&daemon.schedule);
        // Thousands of sources share a handful of schedules: parse each once.
        let interval = *intervals.entry(schedule.to_owned()).or_insert_with(|| {
            scheduler::interval_of(schedule).unwrap_or(Duration::from_secs(900))
        });
        if raw_source.options.contains_key("api_key") && readable_by_others(path) {
            warnings.push(format!(
                "source {:?} has an inline api_key but {} is readable by group or others; \
                 chmod 600 it or use api_key_env / api_key_file",
                raw_source.name,
                path.display()
            ));
        }
        match sources::build(&raw_source, &context) {
            Ok(built) => {
                let enabled = raw_source.enabled && built.disabled.is_none();
                if let (true, Some(reason)) = (raw_source.enabled, &built.disabled) {
                    warnings.push(format!("source {:?} disabled: {reason}", raw_source.name));
                }
                sources.push(Arc::new(SourceSpec {
                    name: raw_source.name.clone(),
                    kind: raw_source.kind.clone(),
                    enabled,
                    schedule: raw_source.schedule.clone(),
                    limit: raw_source.limit,
                    rate_limit,
                    respect_server_hints: raw_source.respect_server_hints,
                    interval,
                    source: built.source,
                }));
            }
            Err(kind_problems) => {
                for p in kind_problems {
                    source_problem(&p.key, p.message);
                }
            }
        }
    }
    if sources.iter().all(|s| !s.enabled) {
        warnings.push("no enabled sources: rounds will fetch nothing".to_owned());
    }

    if !problems.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        });
    }
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    let mut daemon = daemon;
    if daemon.database.is_relative() {
        daemon.database = folder.join(&daemon.database);
    }
    if let Some(dir) = log.dir.as_mut().filter(|d| d.is_relative()) {
        *dir = folder.join(&*dir);
    }
    Ok(Config {
        path: path.to_path_buf(),
        daemon,
        http,
        log,
        metrics: raw.metrics,
        alerts: raw.alerts,
        sources,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(text: &str) -> Vec<ConfigProblem> {
        match load_from_str(Path::new("/etc/herald/test.toml"), text) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gets_every_default() {
        let config = load_from_str(Path::new("/srv/h/herald.toml"), "").expect("valid");
        assert_eq!(config.daemon.workers, 16);
        assert_eq!(config.daemon.queue_capacity, 1024);
        assert_eq!(config.daemon.round_timeout, Duration::from_secs(120));
        assert_eq!(config.daemon.database, PathBuf::from("/srv/h/herald.db"));
        assert_eq!(config.http.max_body_bytes, 10 * 1024 * 1024);
        assert!(config.http.user_agent.starts_with("herald/"));
        assert_eq!(config.warnings.len(), 1);
    }

    #[test]
    fn every_problem_is_reported_with_line_source_and_key() {
        let text = r#"
[daemon]
workers = 0
schedule = "every tuesday"

[[sources]]
name = "a"
kind = "feed"
url = "not a url"

[[sources]]
name = "a"
kind = "telepathy"

[[sources]]
name = "j"
kind = "json"
url = "https://example.com/api"
title = "title"
"#;
        let problems = problems_of(text);
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let expect = [
            "/etc/herald/test.toml:3: key `daemon.workers`: must be at least 1",
            "/etc/herald/test.toml:4: key `daemon.schedule`:",
            "/etc/herald/test.toml:9: source \"a\": key `url`:",
            "/etc/herald/test.toml:12: source \"a\": key `name`: is used by another source",
            "/etc/herald/test.toml:13: source \"a\": key `kind`: unknown kind \"telepathy\"",
            "/etc/herald/test.toml:19: source \"j\": key `title`: JSON pointer",
        ];
        for want in expect {
            assert!(
                shown.iter().any(|s| s.starts_with(want)),
                "missing {want:?} in {shown:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{shown:#?}");
    }

    #[test]
    fn unknown_key_is_a_syntax_error_with_its_line() {
        let err = load_from_str(Path::new("h.toml"), "[daemon]\nwokers = 3\n")
            .expect_err("typo must fail");
        let message = err.to_string();
        assert!(message.contains("h.toml"), "{message}");
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("wokers"), "{message}");
    }

    #[test]
    fn metrics_and_alerts_are_checked_with_their_line() {
        let err = load_from_str(Path::new("h.toml"), "[metrics]\nlisten = \"everywhere\"\n")
            .expect_err("bad address must fail");
        let message = err.to_string();
        assert!(
            message.contains("line 2") && message.contains("listen"),
            "{message}"
        );
        let problems = problems_of("[alerts]\nwebhook = \"ftp://hooks.example/x?token=k\"\n");
        let shown = problems[0].to_string();
        assert!(
            shown.starts_with(
                "/etc/herald/test.toml:2: key `alerts.webhook`: must be an http or https URL"
            ),
            "{shown}"
        );
        assert!(!shown.contains("token=k"), "the URL is not echoed: {shown}");
        let config = load_from_str(
            Path::new("h.toml"),
            "[metrics]\nlisten = \"127.0.0.1:9464\"\n[alerts]\nwebhook = \"http://10.0.0.2/hook\"\n",
        )
        .expect("valid");
        assert_eq!(config.metrics.listen, Some(([127, 0, 0, 1], 9464).into()));
        assert_eq!(
            config.alerts.webhook.as_deref(),
            Some("http://10.0.0.2/hook")
        );
    }

    #[test]
    fn bad_duration_names_the_key() {
        let err = load_from_str(Path::new("h.toml"), "[http]\ntimeout = \"soon\"\n")
            .expect_err("bad duration must fail");
        let message = err.to_string();
        assert!(
            message.contains("line 2") && message.contains("timeout"),
            "{message}"
        );
    }
}
