//! `herald check`: validate the config and list the sources.

use std::process::ExitCode;

use super::render::table;
use herald::config::Config;
use herald::model::secret::redact_url;
use herald::storage::{Reader, StorageError};

/// Prints what a valid config runs, and the database it would use; an
/// invalid one never gets here (`main` reports every problem and exits 2).
/// A database that cannot be reached, or that a newer herald migrated,
/// fails the check (exit 1): the daemon would not start on it.
pub(crate) fn run(config: &Config) -> ExitCode {
    let (store, healthy) = store_status(config);
    print!(
        "{}",
        describe(config).replacen("\n\n", &format!("\n{store}\n"), 1)
    );
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Which store, its schema version, and on a shared database the other
/// instances and whether their configs match this one.
fn store_status(config: &Config) -> (String, bool) {
    let location = &config.daemon.database;
    let current = herald::storage::current_version(location);
    if location.sqlite_path().is_some_and(|path| !path.exists()) {
        return (
            format!(
                "store: sqlite, not created yet (herald creates it at schema version {current})"
            ),
            true,
        );
    }
    let reader = match Reader::open(location) {
        Ok(reader) => reader,
        Err(StorageError::Empty { .. }) => {
            return (
                format!(
                    "store: {}, connected; empty (the first instance to start creates schema version {current})",
                    location.kind()
                ),
                true,
            );
        }
        Err(e) => return (format!("store: {}: {e}", location.kind()), false),
    };
    let version = match reader.schema_version() {
        Ok(version) => version,
        Err(e) => return (format!("store: {}: {e}", location.kind()), false),
    };
    let mut out = format!("store: {}, schema version {version}", location.kind());
    let healthy = version <= current;
    if version < current {
        out.push_str(&format!(
            " (this herald migrates it to {current} when it starts)"
        ));
    } else if version > current {
        out.push_str(&format!(
            " — newer than this herald understands ({current}): upgrade herald"
        ));
    }
    if location.is_shared() {
        let digest = config.digest();
        out.push_str(&format!(
            "\ninstance: {} (from {}), lease: {}, config digest: {digest}",
            config.daemon.instance,
            config.daemon.instance_origin,
            humantime::format_duration(config.daemon.lease)
        ));
        for instance in reader.instances().unwrap_or_default() {
            let state = if instance.running {
                "running or killed"
            } else {
                "stopped"
            };
            let config_note = if instance.config_digest == digest {
                "same config".to_owned()
            } else {
                format!(
                    "DIFFERENT CONFIG (digest {}): instances sharing a database should run the same config",
                    instance.config_digest
                )
            };
            out.push_str(&format!(
                "\n  {} (herald {}, last seen {}, {state}): {config_note}",
                instance.name, instance.version, instance.seen_at
            ));
        }
    }
    (out, healthy)
}

/// What `herald check` prints for a valid config.
fn describe(config: &Config) -> String {
    let d = &config.daemon;
    let metrics = config.metrics.listen.map_or_else(
        || "off".to_owned(),
        |addr| format!("http://{addr}/ (/feed.atom, /feed.json, /feed.opml, /metrics, /healthz)"),
    );
    let alerts = config
        .alerts
        .webhook
        .as_deref()
        .and_then(|w| url::Url::parse(w).ok())
        .map_or_else(
            || "off".to_owned(),
            // The host only: webhook URLs often carry a token.
            |url| format!("webhook to {}", url.host_str().unwrap_or("?")),
        );
    let spread = if d.spread.is_zero() {
        "off (every source starts at the tick)".to_owned()
    } else {
        format!(
            "{} (each source at a stable offset)",
            humantime::format_duration(d.spread)
        )
    };
    let mut out = format!(
        "{}: ok\ndatabase: {}\nworkers: {}, queue capacity: {}, round timeout: {}, schedule: {:?}\n\
         time zone: {} (from {}), spread: {spread}\nproxy: {}\nextra root certificates: {}\n\
         server: {metrics}\nalerts: {alerts}\n\n",
        config.path.display(),
        d.database,
        d.workers,
        d.queue_capacity,
        humantime::format_duration(d.round_timeout),
        d.schedule.written(),
        d.timezone.name(),
        d.timezone_origin,
        config.http.proxy_setup().describe(),
        config
            .http
            .ca_file
            .as_ref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
    );
    let rows: Vec<Vec<String>> = config
        .sources
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.kind.to_string(),
                if s.enabled { "yes" } else { "no" }.to_owned(),
                if s.own_schedule {
                    s.schedule.describe()
                } else {
                    format!("{}, global", s.schedule.describe())
                },
                redact_url(&s.source.request().url, &s.secrets()),
            ]
        })
        .collect();
    let enabled = config.sources.iter().filter(|s| s.enabled).count();
    out.push_str(&format!(
        "{} sources, {enabled} enabled\n",
        config.sources.len()
    ));
    out.push_str(&table(
        &["NAME", "KIND", "ENABLED", "SCHEDULE", "URL"],
        &rows,
    ));
    out
}
