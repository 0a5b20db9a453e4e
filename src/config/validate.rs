//! Step 3 of loading: what the values mean. Every problem is collected (each
//! naming file, line, source and key) before any is reported, one function
//! per section, and the raw values become model types here, at one edge.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::locate::Locator;
use super::raw::{AlertsConfig, DaemonConfig, RawConfig, RawSource};
use super::{Config, ConfigError, ConfigProblem, DaemonSettings};
use crate::fetch::ClientSettings;
use crate::model::rate_limit::RateLimit;
use crate::model::schedule::Schedule;
use crate::model::source::{Kind, SourceInput, SourceSpec};
use crate::sources::{self, BuildContext};
use crate::telemetry::LogConfig;

/// Collects problems and warnings while the sections are checked.
struct Findings<'a> {
    path: &'a Path,
    locator: Locator<'a>,
    problems: Vec<ConfigProblem>,
    warnings: Vec<String>,
}

impl Findings<'_> {
    /// A problem with `section.key` outside `[[sources]]`.
    fn global(&mut self, key: &str, message: impl Into<String>) {
        let (section, field) = key.split_once('.').unwrap_or((key, ""));
        self.problems.push(ConfigProblem {
            file: self.path.to_path_buf(),
            line: self.locator.table_key(section, field),
            source: None,
            key: key.to_owned(),
            message: message.into(),
        });
    }

    /// A problem with `key` of the `index`th source, labelled `label`.
    fn source(&mut self, index: usize, label: &str, key: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            file: self.path.to_path_buf(),
            line: self.locator.source_key(index, key),
            source: Some(label.to_owned()),
            key: key.to_owned(),
            message: message.into(),
        });
    }
}

pub(super) fn validate(path: &Path, text: &str, raw: RawConfig) -> Result<Config, ConfigError> {
    let mut found = Findings {
        path,
        locator: Locator::new(text),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let schedule = daemon(&mut found, &raw.daemon);
    http(&mut found, &raw.http);
    log(&mut found, &raw.log);
    alerts(&mut found, &raw.alerts);
    // Without a valid global schedule sources cannot be placed; still check
    // them, against a stand-in, so every problem is reported at once.
    let global = schedule
        .clone()
        .or_else(|| Schedule::parse("0 0 * * *").ok());
    let sources = global.map_or_else(Vec::new, |g| sources(&mut found, raw.sources, &g));
    if sources.iter().all(|s| !s.enabled) {
        found
            .warnings
            .push("no enabled sources: rounds will fetch nothing".to_owned());
    }
    let Findings {
        problems, warnings, ..
    } = found;
    let Some(schedule) = schedule.filter(|_| problems.is_empty()) else {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        });
    };
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    let d = raw.daemon;
    let mut log = raw.log;
    if let Some(dir) = log.dir.as_mut().filter(|d| d.is_relative()) {
        *dir = folder.join(&*dir);
    }
    Ok(Config {
        path: path.to_path_buf(),
        daemon: DaemonSettings {
            database: if d.database.is_relative() {
                folder.join(&d.database)
            } else {
                d.database
            },
            workers: d.workers,
            queue_capacity: d.queue_capacity,
            round_timeout: d.round_timeout,
            schedule,
            shutdown_grace: d.shutdown_grace,
            run_on_start: d.run_on_start,
            max_consecutive_failures: d.max_consecutive_failures,
        },
        http: raw.http,
        log,
        metrics: raw.metrics,
        alerts: raw.alerts,
        sources,
        warnings,
    })
}

/// `[daemon]`; returns the global schedule when it is valid.
fn daemon(found: &mut Findings<'_>, daemon: &DaemonConfig) -> Option<Schedule> {
    if daemon.workers == 0 {
        found.global("daemon.workers", "must be at least 1");
    }
    if daemon.queue_capacity == 0 {
        found.global("daemon.queue_capacity", "must be at least 1");
    }
    if daemon.round_timeout.is_zero() {
        found.global("daemon.round_timeout", "must be longer than 0s");
    }
    Schedule::parse(&daemon.schedule)
        .map_err(|e| found.global("daemon.schedule", e))
        .ok()
}

/// `[http]`.
fn http(found: &mut Findings<'_>, http: &ClientSettings) {
    if http.timeout.is_zero() {
        found.global("http.timeout", "must be longer than 0s");
    }
    if http.connect_timeout.is_zero() {
        found.global("http.connect_timeout", "must be longer than 0s");
    }
    if http.per_host_concurrency == 0 {
        found.global("http.per_host_concurrency", "must be at least 1");
    }
    if http.backoff_initial > http.backoff_max {
        found.global("http.backoff_initial", "must not exceed http.backoff_max");
    }
    if http.max_body_bytes == 0 {
        found.global("http.max_body_bytes", "must be at least 1");
    }
    if http.user_agent.trim().is_empty() || !http.user_agent.is_ascii() {
        found.global("http.user_agent", "must be a non-empty ASCII string");
    }
}

/// `[log]`.
fn log(found: &mut Findings<'_>, log: &LogConfig) {
    if tracing_subscriber::EnvFilter::try_new(crate::telemetry::expand_level(&log.level)).is_err() {
        found.global(
            "log.level",
            format!(
                "{:?} is not a level or filter (try \"info\" or \"herald=debug,warn\")",
                log.level
            ),
        );
    }
    if log.file.is_empty() || log.file.contains('/') {
        found.global("log.file", "must be a plain file name");
    }
}

/// `[alerts]`. The URL is never echoed: webhook URLs often carry a token.
fn alerts(found: &mut Findings<'_>, alerts: &AlertsConfig) {
    if let Some(webhook) = &alerts.webhook {
        match url::Url::parse(webhook) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => found.global(
                "alerts.webhook",
                format!("must be an http or https URL, not {}:", url.scheme()),
            ),
            Err(e) => found.global("alerts.webhook", format!("is not a URL: {e}")),
        }
    }
}

/// Whether a file's mode lets anyone but its owner read it (unix only).
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

/// `[[sources]]`: each entry's common keys here, its kind's keys by the kind.
fn sources(
    found: &mut Findings<'_>,
    raw_sources: Vec<RawSource>,
    global: &Schedule,
) -> Vec<Arc<SourceSpec>> {
    let context = BuildContext {
        config_dir: found
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let mut names = HashSet::new();
    let mut specs = Vec::new();
    // Thousands of sources share a handful of schedules: parse each once.
    let mut schedules: HashMap<String, Result<Schedule, String>> = HashMap::new();
    for (index, raw) in raw_sources.into_iter().enumerate() {
        let label = if raw.name.trim().is_empty() {
            format!("#{}", index + 1)
        } else {
            raw.name.clone()
        };
        if raw.name.trim().is_empty() {
            found.source(index, &label, "name", "must not be empty");
        } else if !names.insert(raw.name.clone()) {
            found.source(
                index,
                &label,
                "name",
                "is used by another source; names must be unique",
            );
        }
        let own_schedule = match &raw.schedule {
            Some(text) => match schedules
                .entry(text.clone())
                .or_insert_with(|| Schedule::parse(text))
            {
                Ok(schedule) => Some(schedule.clone()),
                Err(e) => {
                    let e = e.clone();
                    found.source(index, &label, "schedule", e);
                    None
                }
            },
            None => None,
        };
        if raw.limit == Some(0) {
            found.source(index, &label, "limit", "must be at least 1");
        }
        let rate_limit = match raw.rate_limit.as_deref().map(str::parse::<RateLimit>) {
            Some(Err(e)) => {
                found.source(index, &label, "rate_limit", e.to_string());
                None
            }
            Some(Ok(limit)) => Some(limit),
            None => None,
        };
        if raw.options.contains_key("api_key") && readable_by_others(found.path) {
            found.warnings.push(format!(
                "source {:?} has an inline api_key but {} is readable by group or others; \
                 chmod 600 it or use api_key_env / api_key_file",
                raw.name,
                found.path.display()
            ));
        }
        let kind = match raw.kind.parse::<Kind>() {
            Ok(kind) => kind,
            Err(e) => {
                found.source(index, &label, "kind", e.to_string());
                continue;
            }
        };
        let input = SourceInput {
            name: raw.name.clone(),
            kind,
            url: raw.url,
            limit: raw.limit,
            options: raw.options,
        };
        match sources::build(&input, &context) {
            Ok(built) => {
                let enabled = raw.enabled && built.disabled.is_none();
                if let (true, Some(reason)) = (raw.enabled, &built.disabled) {
                    found
                        .warnings
                        .push(format!("source {:?} disabled: {reason}", raw.name));
                }
                specs.push(Arc::new(SourceSpec {
                    name: raw.name,
                    kind,
                    enabled,
                    own_schedule: own_schedule.is_some(),
                    schedule: own_schedule.unwrap_or_else(|| global.clone()),
                    limit: raw.limit,
                    rate_limit,
                    respect_server_hints: raw.respect_server_hints,
                    input,
                    source: built.source,
                }));
            }
            Err(kind_problems) => {
                for p in kind_problems {
                    found.source(index, &label, &p.key, p.message);
                }
            }
        }
    }
    specs
}
