//! `herald config`: what herald runs with, and where each value came from.
//!
//! The unit file sets values through the environment and most keys are
//! left at their defaults, so the file alone does not say what applies.
//! This prints every section as TOML (a valid config file, secrets masked)
//! with the origin of each value as a comment: `file:line`, the environment
//! variable, or `default`.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::locate::Locator;
use super::raw::RawConfig;
use super::{Config, ENV_PREFIX, ENV_SEPARATOR};
use crate::model::secret::redact_url_text;

/// Shown instead of a secret.
const MASK: &str = "[REDACTED]";

/// The effective configuration, annotated.
pub(super) fn render(config: &Config, raw: &RawConfig, locator: &Locator<'_>) -> String {
    let environment = overrides();
    let file = config.path.display().to_string();
    let origin = |section: &str, key: &str| -> String {
        if let Some(variable) = environment.get(&(section.to_owned(), key.to_owned())) {
            return variable.clone();
        }
        match locator.set_in_file(section, key) {
            Some(line) => format!("{file}:{line}"),
            None if (section, key) == ("daemon", "timezone") => {
                format!("default: {}", config.daemon.timezone_origin)
            }
            None => "default".to_owned(),
        }
    };
    let mut out = format!(
        "# herald's effective configuration: {file}, with the environment on top.\n\
         # Each value's origin is on its line: file:line, the environment variable, or default.\n"
    );
    let sections: [(&str, Option<toml::Table>); 6] = [
        ("daemon", toml::Table::try_from(&raw.daemon).ok()),
        ("http", toml::Table::try_from(&raw.http).ok()),
        ("log", toml::Table::try_from(&raw.log).ok()),
        ("metrics", toml::Table::try_from(&raw.metrics).ok()),
        ("alerts", toml::Table::try_from(&raw.alerts).ok()),
        ("filters", toml::Table::try_from(&raw.filters).ok()),
    ];
    for (section, table) in sections {
        let mut table = table.unwrap_or_default();
        resolve(section, &mut table, config);
        let _ = writeln!(out, "\n[{section}]");
        for (key, value) in &table {
            let _ = writeln!(
                out,
                "{key} = {}  # {}",
                shown(section, key, value),
                origin(section, key)
            );
        }
        for note in notes(section, config) {
            let _ = writeln!(out, "{note}");
        }
    }
    for rule in locator.entries("notify") {
        let _ = writeln!(out, "\n[[notify]]");
        for (key, text, line) in rule {
            // The webhook carries its token in its path or query.
            let value = if key == "webhook" {
                url::Url::parse(text.trim_matches('"')).map_or_else(
                    |_| format!("\"{MASK}\""),
                    |url| {
                        format!(
                            "\"{}://{}/{MASK}\"",
                            url.scheme(),
                            url.host_str().unwrap_or("?")
                        )
                    },
                )
            } else {
                text
            };
            let at = line.map_or_else(|| file.clone(), |line| format!("{file}:{line}"));
            let _ = writeln!(out, "{key} = {value}  # {at}");
        }
    }
    for entry in locator.sources() {
        let _ = writeln!(out, "\n[[sources]]");
        for (key, text, line) in entry {
            let value = if is_secret_key(&key) {
                format!("\"{MASK}\"")
            } else if key == "url" || key == "base_url" {
                format!("\"{}\"", redact_url_text(text.trim_matches('"')))
            } else {
                text
            };
            let at = line.map_or_else(|| file.clone(), |line| format!("{file}:{line}"));
            let _ = writeln!(out, "{key} = {value}  # {at}");
        }
    }
    out
}

/// `HERALD__SECTION__KEY` variables set now, by (section, key).
fn overrides() -> HashMap<(String, String), String> {
    let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
    std::env::vars()
        .filter_map(|(name, _)| {
            let rest = name.strip_prefix(&prefix)?;
            let (section, key) = rest.split_once(ENV_SEPARATOR)?;
            Some((
                (section.to_ascii_lowercase(), key.to_ascii_lowercase()),
                name.clone(),
            ))
        })
        .collect()
}

/// Values as herald uses them: paths resolved against the config's folder,
/// the time zone in effect.
fn resolve(section: &str, table: &mut toml::Table, config: &Config) {
    let path = |p: &std::path::Path| toml::Value::String(p.display().to_string());
    match section {
        "daemon" => {
            // A PostgreSQL string is shown without its password.
            table.insert(
                "database".into(),
                toml::Value::String(config.daemon.database.to_string()),
            );
            table.insert(
                "instance".into(),
                toml::Value::String(config.daemon.instance.clone()),
            );
            table.insert(
                "timezone".into(),
                toml::Value::String(config.daemon.timezone.name().to_owned()),
            );
        }
        "log" => {
            if let Some(dir) = &config.log.dir {
                table.insert("dir".into(), path(dir));
            }
        }
        "http" => {
            if let Some(ca_file) = &config.http.ca_file {
                table.insert("ca_file".into(), path(ca_file));
            }
        }
        _ => {}
    }
}

/// A value as TOML, masked where it may carry a secret.
fn shown(section: &str, key: &str, value: &toml::Value) -> String {
    match (section, key, value) {
        // Webhook URLs carry their token in the path or query.
        ("alerts", "webhook", toml::Value::String(url)) => match url::Url::parse(url) {
            Ok(parsed) => format!(
                "\"{}://{}/{MASK}\"",
                parsed.scheme(),
                parsed.host_str().unwrap_or("?")
            ),
            Err(_) => format!("\"{MASK}\""),
        },
        ("http", "proxy", toml::Value::String(url)) => {
            toml::Value::String(redact_proxy(url)).to_string()
        }
        _ => value.to_string(),
    }
}

/// A proxy URL with its password masked.
fn redact_proxy(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Comments for what a value alone does not say.
fn notes(section: &str, config: &Config) -> Vec<String> {
    match section {
        "http" => vec![format!(
            "# proxy in effect: {}",
            config.http.proxy_setup().describe()
        )],
        "metrics" if config.metrics.listen.is_none() => {
            vec!["# listen: not set, so /metrics, /healthz and the served feeds are off".to_owned()]
        }
        _ => Vec::new(),
    }
}

/// Keys whose values are credentials (`api_key`, `token`, …); `api_key_env`
/// and `api_key_file` name where one is, and are shown.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    !key.ends_with("_env")
        && !key.ends_with("_file")
        && ["key", "token", "secret", "password"]
            .iter()
            .any(|word| key.contains(word))
}
