//! Step 1 of loading, after the TOML syntax: the shape of the file. Unknown
//! sections and keys and values of the wrong type are all collected (with
//! their lines), and taken out of the table, so that the values that are
//! fine can still be checked for meaning in the same pass: an operator sees
//! `workerz = 4` and a bad `url` further down together.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::ConfigProblem;
use super::locate::Locator;
use super::raw::{AlertsConfig, DaemonConfig, FiltersConfig, MetricsConfig, RawSource};
use crate::fetch::ClientSettings;
use crate::model::keys::{KeyProblem, deserialize_keys, edit_distance};
use crate::telemetry::LogConfig;

/// The sections a config file may have.
const SECTIONS: &[&str] = &[
    "daemon", "http", "log", "server", "metrics", "alerts", "filters", "notify", "sources",
];

/// The file's table with every unusable key removed, the problems found,
/// and the `[[sources]]` entries that cannot be built at all.
pub(super) struct Shape {
    pub(super) table: toml::Table,
    pub(super) problems: Vec<ConfigProblem>,
    /// Indices of entries without a usable `name` or `kind`; validation
    /// skips them (their problem is already reported).
    pub(super) broken_sources: BTreeSet<usize>,
    /// `[[notify]]` rules missing a required key (reported already).
    pub(super) broken_rules: BTreeSet<usize>,
}

/// Checks every section and entry of `table`.
pub(super) fn check(
    path: &std::path::Path,
    locator: &Locator<'_>,
    mut table: toml::Table,
) -> Shape {
    let mut problems = Vec::new();
    let mut broken_sources = BTreeSet::new();
    let mut broken_rules = BTreeSet::new();
    let unknown: Vec<String> = table
        .keys()
        .filter(|k| !SECTIONS.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        problems.push(ConfigProblem {
            file: path.to_path_buf(),
            line: locator.table_key(&key, ""),
            source: None,
            key: key.clone(),
            message: format!(
                "unknown section or top-level key (known: {})",
                SECTIONS.join(", ")
            ),
        });
        table.remove(&key);
    }
    // `[server]` is the listener's name now that it serves feeds too;
    // `[metrics]`, its first name, keeps working.
    if let Some(server) = table.remove("server") {
        if table.contains_key("metrics") {
            problems.push(ConfigProblem {
                file: path.to_path_buf(),
                line: locator.table_key("server", ""),
                source: None,
                key: "server".to_owned(),
                message: "[server] and [metrics] are one section (its old name): keep one"
                    .to_owned(),
            });
        } else {
            table.insert("metrics".to_owned(), server);
        }
    }
    let mut section = |name: &str, check: fn(&Map<String, Value>) -> Vec<KeyProblem>| {
        let Some(value) = table.get_mut(name) else {
            return;
        };
        let Some(inner) = value.as_table_mut() else {
            problems.push(ConfigProblem {
                file: path.to_path_buf(),
                line: locator.table_key(name, ""),
                source: None,
                key: name.to_owned(),
                message: format!("must be a table ([{name}])"),
            });
            *value = toml::Value::Table(toml::Table::new());
            return;
        };
        for p in check(&as_json(inner)) {
            problems.push(ConfigProblem {
                file: path.to_path_buf(),
                line: locator.table_key(name, &p.key),
                source: None,
                key: format!("{name}.{}", p.key),
                message: tidy(&p.message),
            });
            inner.remove(&p.key);
        }
    };
    section("daemon", keys_of::<DaemonConfig>);
    section("http", keys_of::<ClientSettings>);
    section("log", keys_of::<LogConfig>);
    section("metrics", keys_of::<MetricsConfig>);
    section("alerts", keys_of::<AlertsConfig>);
    section("filters", keys_of::<FiltersConfig>);
    if let Some(rules) = table.get_mut("notify").and_then(toml::Value::as_array_mut) {
        for (index, rule) in rules.iter_mut().enumerate() {
            let Some(fields) = rule.as_table_mut() else {
                continue;
            };
            let allowed = ["name", "match", "sources", "tags", "webhook", "format"];
            for required in ["name", "match", "webhook"] {
                if !fields.contains_key(required) {
                    problems.push(ConfigProblem {
                        file: path.to_path_buf(),
                        line: locator.array_key("notify", index, required),
                        source: None,
                        key: format!("notify.{required}"),
                        message: format!("is required (rule #{})", index + 1),
                    });
                    broken_rules.insert(index);
                    // A stand-in, so the rest of the file still loads and is
                    // checked; validation skips the rule.
                    let stand_in = match required {
                        "match" => toml::Value::Array(Vec::new()),
                        _ => toml::Value::String(String::new()),
                    };
                    fields.insert(required.to_owned(), stand_in);
                }
            }
            let unknown: Vec<String> = fields
                .keys()
                .filter(|k| !allowed.contains(&k.as_str()))
                .cloned()
                .collect();
            for key in unknown {
                problems.push(ConfigProblem {
                    file: path.to_path_buf(),
                    line: locator.array_key("notify", index, &key),
                    source: None,
                    key: format!("notify.{key}"),
                    message: format!(
                        "unknown key of rule #{} (known: {})",
                        index + 1,
                        allowed.join(", ")
                    ),
                });
                fields.remove(&key);
            }
        }
    }
    if let Some(sources) = table.get_mut("sources") {
        if let Some(entries) = sources.as_array_mut() {
            for (index, entry) in entries.iter_mut().enumerate() {
                check_source(
                    path,
                    locator,
                    index,
                    entry,
                    &mut problems,
                    &mut broken_sources,
                );
            }
        } else {
            problems.push(ConfigProblem {
                file: path.to_path_buf(),
                line: locator.table_key("sources", ""),
                source: None,
                key: "sources".to_owned(),
                message: "must be an array of tables ([[sources]])".to_owned(),
            });
            table.remove("sources");
        }
    }
    Shape {
        table,
        problems,
        broken_sources,
        broken_rules,
    }
}

/// One `[[sources]]` entry: `name` and `kind` must be there and be text;
/// the common keys must have the right types. The kind's own keys are the
/// kind's business (checked, all at once, when it is built).
fn check_source(
    path: &std::path::Path,
    locator: &Locator<'_>,
    index: usize,
    entry: &mut toml::Value,
    problems: &mut Vec<ConfigProblem>,
    broken: &mut BTreeSet<usize>,
) {
    let label = entry
        .get("name")
        .and_then(toml::Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .map_or_else(|| format!("#{}", index + 1), str::to_owned);
    let mut problem = |key: &str, message: String| {
        problems.push(ConfigProblem {
            file: path.to_path_buf(),
            line: locator.source_key(index, key),
            source: Some(label.clone()),
            key: key.to_owned(),
            message,
        });
    };
    let Some(fields) = entry.as_table_mut() else {
        problem("sources", "each entry must be a table".to_owned());
        broken.insert(index);
        *entry = placeholder(index);
        return;
    };
    for required in ["name", "kind"] {
        match fields.get(required) {
            Some(toml::Value::String(_)) => {}
            Some(other) => {
                problem(
                    required,
                    format!("must be a string, not {}", other.type_str()),
                );
                broken.insert(index);
            }
            None => {
                problem(required, "is required".to_owned());
                broken.insert(index);
            }
        }
    }
    if broken.contains(&index) {
        // Kept in place (so later entries keep their index and line) but
        // made loadable; validation skips it.
        *entry = placeholder(index);
        return;
    }
    // Only the common keys are checked here: put name and kind under every
    // try, and leave the kind's keys out (they flatten into `options`).
    let common = [
        "enabled",
        "url",
        "schedule",
        "limit",
        "rate_limit",
        "respect_server_hints",
        "keep",
        "timezone",
        "tags",
        "include",
        "exclude",
    ];
    let json = as_json(fields);
    let base: Map<String, Value> = ["name", "kind"]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), json.get(k)?.clone())))
        .collect();
    let checked: Map<String, Value> = json
        .into_iter()
        .filter(|(k, _)| common.contains(&k.as_str()))
        .collect();
    if let Err(found) = deserialize_keys::<RawSource>(&checked, &base) {
        for p in found {
            problem(&p.key, tidy(&p.message));
            fields.remove(&p.key);
        }
    }
}

/// An entry that loads and that validation skips.
fn placeholder(index: usize) -> toml::Value {
    let mut table = toml::Table::new();
    table.insert(
        "name".to_owned(),
        toml::Value::String(format!("#{}", index + 1)),
    );
    table.insert("kind".to_owned(), toml::Value::String("feed".to_owned()));
    toml::Value::Table(table)
}

fn keys_of<T: serde::de::DeserializeOwned>(table: &Map<String, Value>) -> Vec<KeyProblem> {
    deserialize_keys::<T>(table, &Map::new())
        .err()
        .unwrap_or_default()
}

/// A TOML table as JSON, for the key-by-key check.
fn as_json(table: &toml::Table) -> Map<String, Value> {
    match serde_json::to_value(table) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// serde's message, in the operator's terms: an unknown key names the
/// known ones and the nearest of them when it looks like a typo.
fn tidy(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field ") else {
        return message.to_owned();
    };
    let (field, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    if known.is_empty() {
        return format!("unknown key {field}");
    }
    let typed = field.trim_matches('`');
    let nearest = known
        .iter()
        .map(|k| (edit_distance(typed, k), *k))
        .min()
        .filter(|(distance, _)| *distance <= 2);
    let hint = nearest.map_or_else(String::new, |(_, k)| format!("did you mean `{k}`? "));
    format!(
        "unknown key {field}; {hint}known keys: {}",
        known.join(", ")
    )
}
