//! Configuration: one TOML file, overridable by `HERALD__SECTION__KEY`
//! environment variables, validated all at once.
//!
//! Loading runs in three steps so that every mistake is reported precisely:
//! 1. the file alone is parsed strictly with `toml` (syntax errors, unknown
//!    keys and wrong types come back with their line and column);
//! 2. the `config` crate layers the environment over the file;
//! 3. `validate` checks meaning (cron, URLs, duplicate names, kind options)
//!    and collects *every* problem, each naming the file, line, source and key,
//!    then turns the raw values into model types ([`SourceSpec`], [`Schedule`]).
//!
//! Each part owns its own section's type (`[http]` is the fetcher's
//! [`ClientSettings`], `[log]` is telemetry's [`LogConfig`]); this module
//! reads, layers and validates, and never reaches back into the parts.
//!
//! Each default is written once, in a `default_*` function. Relative paths are
//! resolved against the config file's folder, never the working directory,
//! so `systemctl` and a shell in another folder read the same database.

mod edit;
mod effective;
mod locate;
mod raw;
mod structure;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use edit::{ConfigEditor, NewSource};
use raw::RawConfig;
pub use raw::{AlertsConfig, MetricsConfig};

use crate::fetch::ClientSettings;
use crate::model::retention::{Keep, RetentionPolicy};
use crate::model::schedule::Schedule;
use crate::model::source::SourceSpec;
use crate::telemetry::LogConfig;

/// Environment variable prefix and separator for overrides: `HERALD__DAEMON__WORKERS=64`.
pub const ENV_PREFIX: &str = "HERALD";
const ENV_SEPARATOR: &str = "__";

/// Why a configuration could not be used. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No file at any of the places herald looks.
    #[error("no config file found (looked in: {})", list_paths(.searched))]
    NotFound {
        /// Every place looked in, in order.
        searched: Vec<PathBuf>,
    },
    /// The file exists but cannot be read.
    #[error("{}: cannot read config file: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key or a wrong type (with line and column).
    #[error("{}: {message}", .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// An environment override does not fit its key.
    #[error("{}: environment override ({ENV_PREFIX}{ENV_SEPARATOR}*): {message}", .path.display())]
    Environment {
        /// The file overridden.
        path: PathBuf,
        /// What did not fit.
        message: String,
    },
    /// Values that parse but make no sense; every one of them.
    #[error("{} problem(s) in {}:\n{}", .problems.len(), .path.display(), list_problems(.problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, in file order.
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
    /// The config file.
    pub file: PathBuf,
    /// The line of the key (or of its table), when it can be found.
    pub line: Option<usize>,
    /// The `[[sources]]` entry at fault, by name (or index when it has none).
    pub source: Option<String>,
    /// Dotted key, e.g. `daemon.workers` or `url`.
    pub key: String,
    /// What is wrong, in the operator's terms.
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
    /// `[daemon]`, validated.
    pub daemon: DaemonSettings,
    /// `[http]`.
    pub http: ClientSettings,
    /// `[log]`.
    pub log: LogConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[alerts]`.
    pub alerts: AlertsConfig,
    /// Every `[[sources]]` entry, in file order.
    pub sources: Vec<Arc<SourceSpec>>,
    /// `[[notify]]` keyword alerts.
    pub notify: Vec<Arc<crate::model::notify::NotifyRule>>,
    /// Things worth telling the operator that do not stop herald.
    pub warnings: Vec<String>,
}

impl Config {
    /// Who this process is to the database: its instance name, config
    /// digest and lease. The pool holds a connection per two workers (at
    /// most 16): commits are short, and the server's connections are
    /// shared by every instance.
    pub fn identity(&self) -> crate::storage::Identity {
        crate::storage::Identity {
            name: self.daemon.instance.clone(),
            config_digest: self.digest(),
            lease: self.daemon.lease,
            connections: (self.daemon.workers / 2).clamp(2, 16),
        }
    }

    /// What instances sharing a database must agree on, hashed: every
    /// source (name, kind, keys as written, schedule, enabled) and the
    /// default schedule. Instance names, passwords and log settings may
    /// differ. 16 hex digits.
    pub fn digest(&self) -> String {
        let mut text = format!("{}\n", self.daemon.schedule.describe());
        for source in &self.sources {
            let input = &source.input;
            let options = serde_json::to_string(&input.options).unwrap_or_default();
            text.push_str(&format!(
                "{}\t{:?}\t{}\t{:?}\t{}\t{}\t{}\n",
                input.name,
                input.kind,
                input.url.as_deref().unwrap_or(""),
                input.limit,
                options,
                source.schedule.describe(),
                source.enabled
            ));
        }
        format!("{:016x}", crate::model::hash::fnv1a(text.as_bytes()))
    }

    /// The sources a round will fetch.
    pub fn enabled_sources(&self) -> Vec<Arc<SourceSpec>> {
        self.sources.iter().filter(|s| s.enabled).cloned().collect()
    }

    /// The names of the sources carrying any of `tags` (any-of); every
    /// unknown tag is an error naming the tags that exist.
    ///
    /// # Errors
    /// A tag no source carries, with the known ones.
    pub fn sources_tagged(&self, tags: &[String]) -> Result<Vec<String>, String> {
        for tag in tags {
            if !self.sources.iter().any(|s| s.tags.contains(tag)) {
                let mut known: Vec<&str> = self
                    .sources
                    .iter()
                    .flat_map(|s| s.tags.iter().map(String::as_str))
                    .collect();
                known.sort_unstable();
                known.dedup();
                return Err(if known.is_empty() {
                    format!("no source has the tag {tag:?} (no source has any tags)")
                } else {
                    format!(
                        "no source has the tag {tag:?}; tags in use: {}",
                        known.join(", ")
                    )
                });
            }
        }
        Ok(self
            .sources
            .iter()
            .filter(|s| s.tags.iter().any(|t| tags.contains(t)))
            .map(|s| s.name.clone())
            .collect())
    }

    /// The distinct schedules of enabled sources: one cron job each.
    pub fn schedules(&self) -> Vec<Schedule> {
        let mut schedules: Vec<Schedule> = self
            .sources
            .iter()
            .filter(|s| s.enabled)
            .map(|s| s.schedule.clone())
            .collect();
        schedules.sort();
        schedules.dedup();
        schedules
    }

    /// What a prune removes under this config.
    pub fn retention(&self) -> RetentionPolicy {
        RetentionPolicy {
            keep: self.daemon.keep,
            per_source: self
                .sources
                .iter()
                .filter_map(|s| Some((s.name.clone(), s.keep?)))
                .collect(),
            keep_history: self.daemon.keep_history,
        }
    }

    /// The enabled sources a tick of `schedule` makes due.
    pub fn sources_on(&self, schedule: &Schedule) -> Vec<Arc<SourceSpec>> {
        self.sources
            .iter()
            .filter(|s| s.enabled && s.schedule == *schedule)
            .cloned()
            .collect()
    }
}

/// `[daemon]` after validation: paths absolute, the schedule parsed.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Where the database is: a SQLite file (absolute) or a PostgreSQL
    /// server (its password never shown).
    pub database: crate::storage::Location,
    /// This instance's name (rounds, fetches, leases, logs).
    pub instance: String,
    /// Where the name came from (`[daemon] instance`, or the default).
    pub instance_origin: &'static str,
    /// How long a claimed source stays this instance's.
    pub lease: Duration,
    /// Size of the worker pool: the global cap on fetches in flight.
    pub workers: usize,
    /// Capacity of the fetch-job queue between rounds and workers.
    pub queue_capacity: usize,
    /// Deadline for a whole round.
    pub round_timeout: Duration,
    /// The schedule of every source without its own.
    pub schedule: Schedule,
    /// How long a graceful shutdown waits for fetches in flight.
    pub shutdown_grace: Duration,
    /// `herald run` fetches every source once at start-up.
    pub run_on_start: bool,
    /// Failures in a row after which a source is paused.
    pub max_consecutive_failures: u32,
    /// How long articles are kept after their source last served them.
    pub keep: Keep,
    /// How long the `fetches` and `rounds` history is kept.
    pub keep_history: Keep,
    /// The zone schedules are read in unless a source names its own.
    pub timezone: chrono_tz::Tz,
    /// Where that zone came from (`[daemon] timezone`, the TZ variable, the
    /// system), for `check`.
    pub timezone_origin: String,
    /// Window a scheduled round's source starts are spread over.
    pub spread: Duration,
    /// Same-titled items from different sources this close are one story.
    pub same_story_window: Duration,
}

/// Finds the config file: the explicit path (`--config` or `HERALD_CONFIG`),
/// else `./herald.toml`, `$XDG_CONFIG_HOME/herald/herald.toml` (default
/// `~/.config`), `/etc/herald/herald.toml`.
///
/// # Errors
/// [`ConfigError::NotFound`] listing every place looked in.
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
///
/// # Errors
/// Every problem found, each naming the file (and line, source and key
/// where there is one).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    load_from_str(&path, &text)
}

/// As [`load`], for text already read (reloads and tests).
///
/// # Errors
/// As [`load`].
pub fn load_from_str(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let (raw, locator, shape) = layered(path, text)?;
    // Step 3: meaning; every problem of every step, in file order.
    validate::validate(
        path,
        locator,
        raw,
        shape.problems,
        (&shape.broken_sources, &shape.broken_rules),
    )
}

/// `herald config`: the effective configuration of the file at `path` (as
/// [`load`] reads it, the environment on top) as TOML, each value's origin
/// in a comment on its line; secrets masked.
///
/// # Errors
/// As [`load`]: an invalid config is refused, not printed.
pub fn effective(path: &Path) -> Result<String, ConfigError> {
    let config = load(path)?;
    let text = std::fs::read_to_string(&config.path).map_err(|source| ConfigError::Read {
        path: config.path.clone(),
        source,
    })?;
    let (raw, locator, _) = layered(&config.path, &text)?;
    Ok(effective::render(&config, &raw, &locator))
}

/// Steps 1 and 2 of loading: the file checked alone, then the environment
/// layered over it.
fn layered<'t>(
    path: &Path,
    text: &'t str,
) -> Result<(RawConfig, locate::Locator<'t>, structure::Shape), ConfigError> {
    // Step 1: the file alone. A syntax error makes the rest unreadable and
    // stops here; unknown keys and wrong types are collected, and their keys
    // set aside, so the rest is still checked for meaning in step 3.
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let locator = locate::Locator::new(text);
    let shape = structure::check(path, &locator, table);
    let text = toml::to_string(&shape.table).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    // Step 2: the file with the environment on top.
    let environment = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .try_parsing(true);
    let raw: RawConfig = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .add_source(environment)
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| ConfigError::Environment {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok((raw, locator, shape))
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
        assert_eq!(
            config.daemon.database,
            crate::storage::Location::Sqlite(PathBuf::from("/srv/h/herald.db"))
        );
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
    fn unknown_keys_wrong_types_and_meaning_errors_come_together_in_file_order() {
        let text = r#"
[daemon]
workerz = 4
queue_capacity = "lots"
round_timeout = "0s"

[deamon]
workers = 2

[[sources]]
name = "a"
kind = "feed"
url = "not a url"
limit = "ten"

[[sources]]
kind = "feed"
url = "https://b.example/feed"

[[sources]]
name = "c"
kind = "json"
url = "https://c.example/api"
colour = "blue"
flavour = "mint"
"#;
        let shown: Vec<String> = problems_of(text).iter().map(ToString::to_string).collect();
        let expect = [
            "/etc/herald/test.toml:3: key `daemon.workerz`: unknown key `workerz`; did you mean `workers`? known keys: database, workers,",
            "/etc/herald/test.toml:4: key `daemon.queue_capacity`: invalid type: string \"lots\", expected usize",
            "/etc/herald/test.toml:5: key `daemon.round_timeout`: must be longer than 0s",
            "/etc/herald/test.toml:7: key `deamon`: unknown section",
            "/etc/herald/test.toml:13: source \"a\": key `url`:",
            "/etc/herald/test.toml:14: source \"a\": key `limit`: invalid type: string \"ten\"",
            "/etc/herald/test.toml:16: source \"#2\": key `name`: is required",
            "/etc/herald/test.toml:24: source \"c\": key `colour`: not a key of kind \"json\"",
            "/etc/herald/test.toml:25: source \"c\": key `flavour`: not a key of kind \"json\"",
        ];
        assert_eq!(shown.len(), expect.len(), "{shown:#?}");
        for (got, want) in shown.iter().zip(expect) {
            assert!(got.starts_with(want), "{got}\n  should start with\n{want}");
        }
    }

    #[test]
    fn metrics_and_alerts_are_checked_with_their_line() {
        let err = load_from_str(Path::new("h.toml"), "[metrics]\nlisten = \"everywhere\"\n")
            .expect_err("bad address must fail");
        let message = err.to_string();
        assert!(
            message.contains("h.toml:2: key `metrics.listen`"),
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
            message.contains("h.toml:2: key `http.timeout`: invalid value: string \"soon\""),
            "{message}"
        );
    }
}
