//! Reading a table of keys into a struct, with every key at fault reported.
//!
//! serde stops at the first unknown key or wrong type; an operator fixing a
//! config file wants them all at once. So a table that does not deserialize
//! is tried again key by key (each key alone, on top of `base`, the keys a
//! struct cannot do without), and every key that fails alone is reported.
//! Only the structs whose keys all have defaults can be checked this way;
//! `base` supplies the rest.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// One key that does not fit the struct, with serde's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    /// The key as written (`workers`, `url`).
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl KeyProblem {
    /// A problem with `key`.
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        KeyProblem {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Deserialises `table` (over `base`) into `T`, or reports every key that
/// does not fit: unknown keys and wrong types alike.
///
/// # Errors
/// One [`KeyProblem`] per key at fault, in key order; when no single key is
/// at fault (keys that only clash together), serde's own message once.
pub fn deserialize_keys<T: DeserializeOwned>(
    table: &Map<String, Value>,
    base: &Map<String, Value>,
) -> Result<T, Vec<KeyProblem>> {
    let with = |extra: &mut dyn Iterator<Item = (&String, &Value)>| -> Value {
        let mut map = base.clone();
        map.extend(extra.map(|(k, v)| (k.clone(), v.clone())));
        Value::Object(map)
    };
    let whole = match serde_json::from_value::<T>(with(&mut table.iter())) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let mut keys: Vec<&String> = table.keys().collect();
    keys.sort();
    let problems: Vec<KeyProblem> = keys
        .into_iter()
        .filter_map(|key| {
            let value = &table[key];
            serde_json::from_value::<T>(with(&mut std::iter::once((key, value))))
                .err()
                .map(|e| KeyProblem::new(key, e.to_string()))
        })
        .collect();
    if problems.is_empty() {
        // No key is wrong alone: name the one serde names, if it does.
        let message = whole.to_string();
        let key = message.split('`').nth(1).unwrap_or_default().to_owned();
        return Err(vec![KeyProblem { key, message }]);
    }
    Err(problems)
}

/// How far apart two short names are (Levenshtein distance): enough to
/// tell a typo (`wokers`, `</langauge>`) from a different name.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Section {
        #[serde(default)]
        workers: usize,
        #[serde(default)]
        name: String,
    }

    fn table(json: &str) -> Map<String, Value> {
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => map,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn every_key_at_fault_is_reported_not_just_the_first() {
        let problems = deserialize_keys::<Section>(
            &table(r#"{"workerz": 4, "workers": "many", "name": "ok", "colour": "blue"}"#),
            &Map::new(),
        )
        .expect_err("three keys are wrong");
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["colour", "workers", "workerz"]);
        assert!(problems[0].message.starts_with("unknown field `colour`"));
        assert!(problems[1].message.contains("invalid type"), "{problems:?}");
        assert_eq!(
            deserialize_keys::<Section>(&table(r#"{"workers": 3}"#), &Map::new()),
            Ok(Section {
                workers: 3,
                name: String::new()
            })
        );
    }
}
