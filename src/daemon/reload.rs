//! What a reload changes: a typed diff of two configs, so the supervisor
//! decides from values (which sources came and went, whether the pool must
//! be rebuilt) and the log line names what changed.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::model::source::SourceSpec;

/// The difference between the running config and a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// Sources only in the new config.
    pub added: Vec<String>,
    /// Sources only in the running config.
    pub removed: Vec<String>,
    /// Sources whose schedule changed.
    pub rescheduled: Vec<String>,
    /// Sources whose settings changed (kind, URL, options, limit, enabled,
    /// rate limit, hints).
    pub changed: Vec<String>,
    /// Workers, queue capacity or `[http]` changed: a new pool is needed.
    pub pool: bool,
    /// `per_host_concurrency` changed: new rounds use a new registry.
    pub per_host: bool,
    /// Sections that need a restart to change (`daemon.database`, `[log]`,
    /// `[metrics]`, `[alerts]`).
    pub need_restart: Vec<&'static str>,
}

impl ConfigDiff {
    /// Compares the running config with a new one.
    pub fn between(old: &Config, new: &Config) -> ConfigDiff {
        let index = |c: &Config| -> HashMap<String, Arc<SourceSpec>> {
            c.sources
                .iter()
                .map(|s| (s.name.clone(), Arc::clone(s)))
                .collect()
        };
        let (before, after) = (index(old), index(new));
        let mut diff = ConfigDiff::default();
        for name in after.keys().filter(|n| !before.contains_key(*n)) {
            diff.added.push(name.clone());
        }
        for name in before.keys().filter(|n| !after.contains_key(*n)) {
            diff.removed.push(name.clone());
        }
        for (name, new_spec) in &after {
            let Some(old_spec) = before.get(name) else {
                continue;
            };
            if old_spec.schedule != new_spec.schedule {
                diff.rescheduled.push(name.clone());
            }
            if settings_differ(old_spec, new_spec) {
                diff.changed.push(name.clone());
            }
        }
        for list in [
            &mut diff.added,
            &mut diff.removed,
            &mut diff.rescheduled,
            &mut diff.changed,
        ] {
            list.sort();
        }
        diff.pool = new.daemon.workers != old.daemon.workers
            || new.daemon.queue_capacity != old.daemon.queue_capacity
            || new.http != old.http;
        diff.per_host = new.http.per_host_concurrency != old.http.per_host_concurrency;
        if new.daemon.database != old.daemon.database {
            diff.need_restart.push("daemon.database");
        }
        if new.log != old.log {
            diff.need_restart.push("[log]");
        }
        if new.metrics != old.metrics {
            diff.need_restart.push("[metrics]");
        }
        if new.alerts != old.alerts {
            diff.need_restart.push("[alerts]");
        }
        diff
    }

    /// Whether nothing the daemon runs on changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.rescheduled.is_empty()
            && self.changed.is_empty()
            && !self.pool
    }
}

fn settings_differ(old: &SourceSpec, new: &SourceSpec) -> bool {
    old.input != new.input
        || old.enabled != new.enabled
        || old.rate_limit != new.rate_limit
        || old.respect_server_hints != new.respect_server_hints
        || old.tags != new.tags
        || old.filters != new.filters
}

impl fmt::Display for ConfigDiff {
    /// `+2 sources (a, b), -1 (c), 1 rescheduled (d), 1 changed (e)`, or
    /// `no changes`: names, so the operator sees the reload did what they
    /// meant (at most five per list, then a count).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn names(list: &[String]) -> String {
            const SHOWN: usize = 5;
            let mut text = list
                .iter()
                .take(SHOWN)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if list.len() > SHOWN {
                text.push_str(&format!(", +{} more", list.len() - SHOWN));
            }
            format!("({text})")
        }
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            let noun = if self.added.len() == 1 {
                "source"
            } else {
                "sources"
            };
            parts.push(format!(
                "+{} {noun} {}",
                self.added.len(),
                names(&self.added)
            ));
        }
        if !self.removed.is_empty() {
            parts.push(format!("-{} {}", self.removed.len(), names(&self.removed)));
        }
        if !self.rescheduled.is_empty() {
            parts.push(format!(
                "{} rescheduled {}",
                self.rescheduled.len(),
                names(&self.rescheduled)
            ));
        }
        if !self.changed.is_empty() {
            parts.push(format!(
                "{} changed {}",
                self.changed.len(),
                names(&self.changed)
            ));
        }
        if parts.is_empty() {
            f.write_str("no changes")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// How a reload ended.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// The new config runs; the diff says what changed.
    Applied(ConfigDiff),
    /// The file was invalid; the running config is kept.
    Refused(ConfigError),
    /// The new config was valid but its HTTP client could not be built; the
    /// running config is kept.
    Failed(String),
}
