//! `kind = "json"`: any JSON API, mapped with JSON pointers (RFC 6901).
//!
//! `items` points at the array of items; `title`, `link`, `published`,
//! `summary` and `author` point into one item. Values may be strings, numbers
//! (a number for `published` is unix seconds or milliseconds) or missing.

use serde::Deserialize;
use serde_json::Value;

use super::{KeyProblem, options, parse_datetime, required_url, text, unix_time};
use crate::model::article::ItemDraft;
use crate::model::http::{FetchRequest, Payload};
use crate::model::source::{ParseError, Parsed, Source, SourceInput};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonOptions {
    #[serde(default)]
    items: String,
    #[serde(default = "default_title")]
    title: String,
    #[serde(default = "default_link")]
    link: String,
    published: Option<String>,
    summary: Option<String>,
    author: Option<String>,
}

fn default_title() -> String {
    "/title".to_owned()
}
fn default_link() -> String {
    "/url".to_owned()
}

/// A JSON endpoint and the pointers that read it.
#[derive(Debug)]
pub(super) struct JsonSource {
    url: url::Url,
    items: String,
    title: String,
    link: String,
    published: Option<String>,
    summary: Option<String>,
    author: Option<String>,
}

impl JsonSource {
    /// Builds the source from its entry's keys.
    ///
    /// # Errors
    /// Every problem with the keys, each naming its key.
    pub(super) fn from_input(input: &SourceInput) -> Result<Self, Vec<KeyProblem>> {
        let mut problems = Vec::new();
        let url = required_url(input).map_err(|p| problems.push(p)).ok();
        let opts = options::<JsonOptions>(input)
            .map_err(|p| problems.extend(p))
            .ok();
        if let Some(opts) = &opts {
            let pointers = [
                ("items", Some(&opts.items)),
                ("title", Some(&opts.title)),
                ("link", Some(&opts.link)),
                ("published", opts.published.as_ref()),
                ("summary", opts.summary.as_ref()),
                ("author", opts.author.as_ref()),
            ];
            for (key, pointer) in pointers {
                if let Some(p) = pointer.filter(|p| !p.is_empty() && !p.starts_with('/')) {
                    problems.push(KeyProblem::new(
                        key,
                        format!("JSON pointer must be empty or start with '/' (got {p:?}; did you mean \"/{p}\"?)"),
                    ));
                }
            }
        }
        match (url, opts) {
            (Some(url), Some(o)) if problems.is_empty() => Ok(JsonSource {
                url,
                items: o.items,
                title: o.title,
                link: o.link,
                published: o.published,
                summary: o.summary,
                author: o.author,
            }),
            _ => Err(problems),
        }
    }
}

impl Source for JsonSource {
    fn request(&self) -> FetchRequest {
        FetchRequest::get(self.url.clone(), "application/json")
    }

    fn parse(&self, payload: &Payload) -> Result<Parsed, ParseError> {
        let mut repairs = super::repairs::Repairs::default();
        let text = text::decode_json(&payload.body, payload.content_type.as_deref(), &mut repairs);
        let root: Value =
            serde_json::from_str(&text).map_err(|e| ParseError::Json(e.to_string()))?;
        let items = root.pointer(&self.items).ok_or_else(|| {
            ParseError::Shape(format!("`items` pointer {:?} matches nothing", self.items))
        })?;
        let items = items.as_array().ok_or_else(|| {
            ParseError::Shape(format!(
                "`items` pointer {:?} points at {}, not an array",
                self.items,
                type_name(items)
            ))
        })?;
        let items = items
            .iter()
            .map(|item| ItemDraft {
                title: string_at(item, &self.title),
                link: string_at(item, &self.link),
                published_at: self.published.as_deref().and_then(|p| date_at(item, p)),
                summary: self.summary.as_deref().and_then(|p| string_at(item, p)),
                author: self.author.as_deref().and_then(|p| string_at(item, p)),
                origin: None,
                ..ItemDraft::default()
            })
            .collect();
        Ok(Parsed {
            items,
            warnings: repairs.into_warnings(),
            ..Parsed::default()
        })
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string or number at `pointer`, as text.
pub(super) fn string_at(item: &Value, pointer: &str) -> Option<String> {
    match item.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A date string or unix timestamp at `pointer`.
pub(super) fn date_at(item: &Value, pointer: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    match item.pointer(pointer)? {
        Value::String(s) => parse_datetime(s),
        Value::Number(n) => n.as_i64().and_then(unix_time),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn source(options: &[(&str, &str)]) -> Result<JsonSource, Vec<KeyProblem>> {
        let options: BTreeMap<String, Value> = options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        JsonSource::from_input(&SourceInput {
            name: "j".into(),
            kind: crate::model::source::Kind::Json,
            url: Some("https://api.example/v1/news".into()),
            limit: None,
            options,
        })
    }

    fn parse(source: &JsonSource, body: &str) -> Result<Vec<ItemDraft>, ParseError> {
        source
            .parse(&Payload {
                body: bytes::Bytes::copy_from_slice(body.as_bytes()),
                content_type: Some("application/json".into()),
                url: url::Url::parse("https://api.example/v1/news").expect("static URL"),
            })
            .map(|parsed| parsed.items)
    }

    #[test]
    fn maps_nested_fields_and_tolerates_nulls() {
        let s = source(&[
            ("items", "/data/stories"),
            ("title", "/headline"),
            ("link", "/links/web"),
            ("published", "/ts"),
            ("author", "/by/name"),
        ])
        .expect("valid options");
        let body = r#"{"data":{"stories":[
            {"headline":"Zürich &amp; co","links":{"web":"https://e.com/z"},"ts":1795341600,"by":{"name":"Ana"}},
            {"headline":null,"links":{"web":"https://e.com/n"},"ts":"2026-11-22T10:00:00Z","by":null}]}}"#;
        let items = parse(&s, body).expect("parses");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].title.as_deref(), Some("Zürich &amp; co"));
        assert_eq!(items[0].author.as_deref(), Some("Ana"));
        assert_eq!(items[0].published_at, items[1].published_at);
        assert_eq!(items[1].title, None);
        assert_eq!(items[1].author, None);
    }

    #[test]
    fn wrong_shape_is_named() {
        let s = source(&[("items", "/data")]).expect("valid options");
        let err = parse(&s, r#"{"data":{"a":1}}"#).expect_err("object is no array");
        assert_eq!(
            err.to_string(),
            "unexpected shape: `items` pointer \"/data\" points at an object, not an array"
        );
        let err = parse(&s, r#"{"other":[]}"#).expect_err("missing");
        assert!(err.to_string().contains("matches nothing"), "{err}");
        let err = parse(&s, "{nope").expect_err("invalid");
        assert!(err.to_string().starts_with("invalid JSON"), "{err}");
    }

    #[test]
    fn bad_pointer_and_unknown_key_are_problems() {
        let problems = source(&[("title", "headline"), ("colour", "blue")]).expect_err("invalid");
        assert_eq!(
            problems.len(),
            1,
            "serde stops at the unknown key: {problems:?}"
        );
        assert_eq!(problems[0].key, "colour");
        let problems = source(&[("title", "headline")]).expect_err("invalid");
        assert_eq!(problems[0].key, "title");
        assert!(problems[0].message.contains("\"/headline\""));
    }
}
