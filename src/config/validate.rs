//! Step 3 of loading: what the values mean. Every problem is collected (each
//! naming file, line, source and key) before any is reported, one function
//! per section, and the raw values become model types here, at one edge.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::locate::Locator;
use super::raw::{AlertsConfig, DaemonConfig, MetricsConfig, RawConfig, RawNotify, RawSource};
use super::{Config, ConfigError, ConfigProblem, DaemonSettings};
use crate::fetch::ClientSettings;
use crate::model::filter::ItemFilter;
use crate::model::notify::{NotifyFormat, NotifyRule};
use crate::model::rate_limit::RateLimit;
use crate::model::retention::Keep;
use crate::model::schedule::{Schedule, system_zone, zone_named};
use crate::model::source::{Kind, SourceInput, SourceSpec};
use crate::sources::{self, BuildContext};
use crate::storage::Location;
use crate::telemetry::LogConfig;
use chrono_tz::Tz;

/// The largest values `check` accepts. Each bounds something that would
/// otherwise exhaust the machine or overflow a timer: thousands of workers
/// are thousands of sockets (the file-descriptor limit and the remote
/// servers give out long before herald does), and a duration of a century
/// overflows the clock arithmetic. Documented in the README.
pub(super) mod max {
    use std::time::Duration;

    /// `daemon.workers`.
    pub(crate) const WORKERS: usize = 4096;
    /// `daemon.queue_capacity`.
    pub(crate) const QUEUE_CAPACITY: usize = 1_000_000;
    /// `daemon.max_consecutive_failures`.
    pub(crate) const CONSECUTIVE_FAILURES: u32 = 10_000;
    /// `daemon.round_timeout`.
    pub(crate) const ROUND_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
    /// `daemon.spread`.
    pub(crate) const SPREAD: Duration = Duration::from_secs(3600);
    /// `daemon.shutdown_grace`.
    pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(3600);
    /// `http.per_host_concurrency`.
    pub(crate) const PER_HOST: usize = 1024;
    /// `http.retries`.
    pub(crate) const RETRIES: u32 = 10;
    /// `http.timeout` and `http.backoff_max`.
    pub(crate) const REQUEST_TIME: Duration = Duration::from_secs(3600);
    /// `http.connect_timeout`.
    pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(600);
    /// `http.max_body_bytes`: 1 GiB.
    pub(crate) const BODY_BYTES: u64 = 1 << 30;
}

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

    /// `key` must be between `min` and `max`.
    fn range<T: PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        key: &str,
        value: T,
        min: T,
        max: T,
    ) {
        if value < min {
            self.global(key, format!("must be at least {min}"));
        } else if value > max {
            self.global(key, format!("must be at most {max} (got {value})"));
        }
    }

    /// `key` must be longer than zero and at most `max`.
    fn duration(&mut self, key: &str, value: std::time::Duration, max: std::time::Duration) {
        if value.is_zero() {
            self.global(key, "must be longer than 0s");
        } else if value > max {
            self.global(
                key,
                format!(
                    "must be at most {} (got {})",
                    humantime::format_duration(max),
                    humantime::format_duration(value)
                ),
            );
        }
    }

    /// A problem with `key` of the `index`th `[[notify]]` rule.
    fn rule(&mut self, index: usize, label: &str, key: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            file: self.path.to_path_buf(),
            line: self.locator.array_key("notify", index, key),
            source: None,
            key: format!("notify.{key} of rule {label:?}"),
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

pub(super) fn validate(
    path: &Path,
    locator: Locator<'_>,
    raw: RawConfig,
    earlier: Vec<ConfigProblem>,
    (broken_sources, broken_rules): (&BTreeSet<usize>, &BTreeSet<usize>),
) -> Result<Config, ConfigError> {
    let mut found = Findings {
        path,
        locator,
        problems: earlier,
        warnings: Vec::new(),
    };
    let (zone, zone_origin) = match raw.daemon.timezone.as_deref() {
        Some(name) => match zone_named(name) {
            Ok(zone) => (zone, "[daemon] timezone"),
            Err(e) => {
                found.global("daemon.timezone", e);
                (Tz::UTC, "[daemon] timezone")
            }
        },
        None => system_zone(),
    };
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    let schedule = daemon(&mut found, &raw.daemon, zone, folder);
    let mut raw = raw;
    if let Some(ca_file) = raw.http.ca_file.as_mut().filter(|p| p.is_relative()) {
        let folder = path.parent().unwrap_or_else(|| Path::new("."));
        *ca_file = folder.join(&*ca_file);
    }
    http(&mut found, &raw.http);
    log(&mut found, &raw.log);
    alerts(&mut found, &raw.alerts);
    if let Some(listen) = raw.server.take().and_then(|s| s.listen) {
        raw.metrics.listen = Some(listen);
    }
    metrics(&mut found, &raw.metrics);
    // Without a valid global schedule sources cannot be placed; still check
    // them, against a stand-in, so every problem is reported at once.
    let global = schedule
        .as_ref()
        .map(|(global, _)| global.clone())
        .or_else(|| Schedule::parse_in("0 0 * * *", zone).ok());
    let global_filter = match ItemFilter::new(&raw.filters.include, &raw.filters.exclude) {
        Ok(filter) => (!filter.is_empty()).then(|| Arc::new(filter)),
        Err(bad) => {
            let key = if raw.filters.include.contains(&bad.pattern) {
                "filters.include"
            } else {
                "filters.exclude"
            };
            found.global(key, bad.to_string());
            None
        }
    };
    let sources = global.map_or_else(Vec::new, |g| {
        sources(
            &mut found,
            raw.sources,
            &g,
            global_filter.as_ref(),
            broken_sources,
        )
    });
    spread(&mut found, raw.daemon.spread, &sources);
    let notify = notify_rules(&mut found, &raw.notify, &sources, broken_rules);
    if sources.iter().all(|s| !s.enabled) {
        found
            .warnings
            .push("no enabled sources: rounds will fetch nothing".to_owned());
    }
    let Findings {
        mut problems,
        warnings,
        ..
    } = found;
    // In file order; problems without a line (none today) last.
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    let Some((schedule, database)) = schedule.filter(|_| problems.is_empty()) else {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        });
    };
    let d = raw.daemon;
    let mut log = raw.log;
    if let Some(dir) = log.dir.as_mut().filter(|d| d.is_relative()) {
        *dir = folder.join(&*dir);
    }
    Ok(Config {
        path: path.to_path_buf(),
        daemon: DaemonSettings {
            database,
            instance: d
                .instance
                .clone()
                .filter(|name| !name.trim().is_empty())
                .unwrap_or_else(default_instance),
            instance_origin: if d.instance.is_some() {
                "[daemon] instance"
            } else {
                "hostname and PID"
            },
            lease: d.lease,
            workers: d.workers,
            queue_capacity: d.queue_capacity,
            round_timeout: d.round_timeout,
            schedule,
            shutdown_grace: d.shutdown_grace,
            run_on_start: d.run_on_start,
            max_consecutive_failures: d.max_consecutive_failures,
            keep: d.keep.parse().unwrap_or(Keep::Forever),
            keep_history: d.keep_history.parse().unwrap_or(Keep::Forever),
            timezone: zone,
            timezone_origin: zone_origin.to_owned(),
            spread: d.spread,
            same_story_window: d.same_story_window,
        },
        http: raw.http,
        log,
        metrics: raw.metrics,
        alerts: raw.alerts,
        notify,
        sources,
        warnings,
    })
}

/// `[daemon]`; returns the global schedule and the database when both
/// are valid.
fn daemon(
    found: &mut Findings<'_>,
    daemon: &DaemonConfig,
    zone: Tz,
    folder: &Path,
) -> Option<(Schedule, Location)> {
    found.range("daemon.workers", daemon.workers, 1, max::WORKERS);
    found.range(
        "daemon.queue_capacity",
        daemon.queue_capacity,
        1,
        max::QUEUE_CAPACITY,
    );
    found.range(
        "daemon.max_consecutive_failures",
        daemon.max_consecutive_failures,
        1,
        max::CONSECUTIVE_FAILURES,
    );
    found.duration(
        "daemon.round_timeout",
        daemon.round_timeout,
        max::ROUND_TIMEOUT,
    );
    if daemon.shutdown_grace > max::SHUTDOWN_GRACE {
        found.global(
            "daemon.shutdown_grace",
            format!(
                "must be at most {} (got {})",
                humantime::format_duration(max::SHUTDOWN_GRACE),
                humantime::format_duration(daemon.shutdown_grace)
            ),
        );
    }
    for (key, value) in [
        ("daemon.keep", &daemon.keep),
        ("daemon.keep_history", &daemon.keep_history),
    ] {
        if let Err(e) = value.parse::<Keep>() {
            found.global(key, e.to_string());
        }
    }
    let database = Location::parse(
        &daemon.database,
        folder,
        daemon.database_password_file.clone(),
    )
    .map_err(|e| found.global("daemon.database", e.to_string()))
    .ok();
    // Leases exist only on a shared database.
    if database.as_ref().is_some_and(Location::is_shared) && daemon.lease <= daemon.round_timeout {
        found.global(
            "daemon.lease",
            format!(
                "must be longer than daemon.round_timeout ({}), or another instance could take a source still being fetched (got {})",
                humantime::format_duration(daemon.round_timeout),
                humantime::format_duration(daemon.lease)
            ),
        );
    }
    if let Some(name) = &daemon.instance
        && (name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control))
    {
        found.global(
            "daemon.instance",
            "must be a non-empty name of at most 100 printable characters",
        );
    }
    let schedule = Schedule::parse_in(&daemon.schedule, zone)
        .map_err(|e| found.global("daemon.schedule", e))
        .ok();
    schedule.zip(database)
}

/// `hostname-PID`: unique among running instances, readable in logs.
fn default_instance() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "herald".to_owned());
    format!("{host}-{}", std::process::id())
}

/// How messages name an entry: its name, or `#3` when it has none.
fn label_of(name: &str, index: usize) -> String {
    if name.trim().is_empty() {
        format!("#{}", index + 1)
    } else {
        name.to_owned()
    }
}

/// `[[notify]]`: every rule's patterns compile, its sources and tags exist,
/// its webhook is an http(s) URL (never repeated in a message: it may carry
/// a token).
fn notify_rules(
    found: &mut Findings<'_>,
    raw: &[RawNotify],
    sources: &[Arc<SourceSpec>],
    broken: &BTreeSet<usize>,
) -> Vec<Arc<NotifyRule>> {
    let mut names = HashSet::new();
    let mut rules = Vec::new();
    for (index, rule) in raw.iter().enumerate() {
        if broken.contains(&index) {
            continue;
        }
        let label = label_of(&rule.name, index);
        let problems_before = found.problems.len();
        if rule.name.trim().is_empty() {
            found.rule(index, &label, "name", "must not be empty");
        } else if !names.insert(rule.name.clone()) {
            found.rule(
                index,
                &label,
                "name",
                "is used by another rule; names must be unique",
            );
        }
        if rule.patterns.is_empty() {
            found.rule(index, &label, "match", "must list at least one pattern");
        }
        let matcher = match ItemFilter::new(&rule.patterns, &[]) {
            Ok(matcher) => Some(Arc::new(matcher)),
            Err(bad) => {
                found.rule(index, &label, "match", bad.to_string());
                None
            }
        };
        let mut watched: Vec<String> = Vec::new();
        for name in &rule.sources {
            if sources.iter().any(|s| &s.name == name) {
                watched.push(name.clone());
            } else {
                found.rule(
                    index,
                    &label,
                    "sources",
                    format!("no source is named {name:?}"),
                );
            }
        }
        for tag in &rule.tags {
            let tagged: Vec<&Arc<SourceSpec>> =
                sources.iter().filter(|s| s.tags.contains(tag)).collect();
            if tagged.is_empty() {
                found.rule(
                    index,
                    &label,
                    "tags",
                    format!("no source has the tag {tag:?}"),
                );
            }
            for source in tagged {
                if !watched.contains(&source.name) {
                    watched.push(source.name.clone());
                }
            }
        }
        let webhook = match url::Url::parse(&rule.webhook) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
            _ => {
                found.rule(
                    index,
                    &label,
                    "webhook",
                    "must be an http:// or https:// URL",
                );
                None
            }
        };
        let format = match rule.format.as_deref() {
            None | Some("json") => NotifyFormat::Json,
            Some("slack") => NotifyFormat::Slack,
            Some(other) => {
                found.rule(
                    index,
                    &label,
                    "format",
                    format!("{other:?}: use \"json\" or \"slack\""),
                );
                NotifyFormat::Json
            }
        };
        if let (Some(matcher), Some(webhook), true) =
            (matcher, webhook, found.problems.len() == problems_before)
        {
            rules.push(Arc::new(NotifyRule {
                name: rule.name.clone(),
                matcher,
                sources: watched,
                webhook,
                format,
            }));
        }
    }
    rules
}

/// `[daemon] spread` must end before the next tick of every schedule it
/// applies to, or every round would overlap the next one.
fn spread(found: &mut Findings<'_>, spread: std::time::Duration, sources: &[Arc<SourceSpec>]) {
    if spread.is_zero() {
        return;
    }
    if spread > max::SPREAD {
        found.global(
            "daemon.spread",
            format!(
                "must be at most {} (got {})",
                humantime::format_duration(max::SPREAD),
                humantime::format_duration(spread)
            ),
        );
        return;
    }
    let tightest = sources
        .iter()
        .filter(|s| s.enabled)
        .min_by_key(|s| s.schedule.interval());
    if let Some(source) = tightest.filter(|s| s.schedule.interval() <= spread) {
        found.global(
            "daemon.spread",
            format!(
                "{} is not shorter than the {} between two ticks of {:?} (source {:?}): \
                 rounds would overlap",
                humantime::format_duration(spread),
                humantime::format_duration(source.schedule.interval()),
                source.schedule.written(),
                source.name
            ),
        );
    }
}

/// `[http]`.
fn http(found: &mut Findings<'_>, http: &ClientSettings) {
    found.duration("http.timeout", http.timeout, max::REQUEST_TIME);
    found.duration(
        "http.connect_timeout",
        http.connect_timeout,
        max::CONNECT_TIMEOUT,
    );
    found.range(
        "http.per_host_concurrency",
        http.per_host_concurrency,
        1,
        max::PER_HOST,
    );
    found.range("http.retries", http.retries, 0, max::RETRIES);
    found.duration("http.backoff_max", http.backoff_max, max::REQUEST_TIME);
    if http.backoff_initial > http.backoff_max {
        found.global("http.backoff_initial", "must not exceed http.backoff_max");
    }
    found.range(
        "http.max_body_bytes",
        http.max_body_bytes,
        1,
        max::BODY_BYTES,
    );
    if let Some(proxy) = &http.proxy {
        match url::Url::parse(proxy) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            Ok(url) => found.global(
                "http.proxy",
                format!(
                    "must be an http:// or https:// proxy URL with a host (got scheme {:?})",
                    url.scheme()
                ),
            ),
            Err(e) => found.global(
                "http.proxy",
                format!("is not a URL ({e}); write it as \"http://proxy.example:3128\""),
            ),
        }
    }
    if let Some(ca_file) = &http.ca_file
        && let Err(why) = crate::fetch::read_ca_file(ca_file)
    {
        found.global("http.ca_file", why);
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

/// `[metrics]`: a listener beyond loopback is allowed, with a warning.
fn metrics(found: &mut Findings<'_>, metrics: &MetricsConfig) {
    if let Some(addr) = metrics.listen.filter(|a| !a.ip().is_loopback()) {
        found.warnings.push(format!(
            "[server] listen = \"{addr}\" is not a loopback address: anyone who can reach it reads \
             source names, health and the served feeds; bind 127.0.0.1 (reach it through an SSH \
             tunnel or a reverse proxy) or allow only who needs it in the firewall"
        ));
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
    global_filter: Option<&Arc<ItemFilter>>,
    broken: &BTreeSet<usize>,
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
    let mut schedules: HashMap<(String, Tz), Result<Schedule, String>> = HashMap::new();
    let zone = global.zone();
    for (index, raw) in raw_sources.into_iter().enumerate() {
        if broken.contains(&index) {
            continue;
        }
        let label = label_of(&raw.name, index);
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
        let own_zone = match raw.timezone.as_deref().map(zone_named) {
            Some(Ok(own)) => Some(own),
            Some(Err(e)) => {
                found.source(index, &label, "timezone", e);
                None
            }
            None => None,
        };
        let text = match (&raw.schedule, own_zone) {
            (Some(text), _) => Some(text.clone()),
            (None, Some(_)) => Some(global.written().to_owned()),
            (None, None) => None,
        };
        let own_schedule = match text {
            Some(text) => match schedules
                .entry((text.clone(), own_zone.unwrap_or(zone)))
                .or_insert_with(|| Schedule::parse_in(&text, own_zone.unwrap_or(zone)))
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
        for tag in &raw.tags {
            if tag.trim().is_empty() || tag.contains(',') || tag.trim() != tag {
                found.source(
                    index,
                    &label,
                    "tags",
                    format!(
                        "{tag:?} is not a usable tag: no empty tags, commas or surrounding spaces"
                    ),
                );
            }
        }
        let mut filters: Vec<Arc<ItemFilter>> = global_filter.into_iter().cloned().collect();
        match ItemFilter::new(&raw.include, &raw.exclude) {
            Ok(own) if !own.is_empty() => filters.push(Arc::new(own)),
            Ok(_) => {}
            Err(bad) => {
                let key = if raw.include.contains(&bad.pattern) {
                    "include"
                } else {
                    "exclude"
                };
                found.source(index, &label, key, bad.to_string());
            }
        }
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
        let keep = match raw.keep.as_deref().map(str::parse::<Keep>) {
            Some(Err(e)) => {
                found.source(index, &label, "keep", e.to_string());
                None
            }
            Some(Ok(keep)) => Some(keep),
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
                    keep,
                    tags: raw.tags.clone(),
                    filters,
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
