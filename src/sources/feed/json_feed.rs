//! JSON Feed 1.0 and 1.1, whatever the `version` string says (the URL forms,
//! `"1.0"`, `"1.1"`, or none): a document with an `items` array of objects
//! is read as one. Items take 1.1's `authors` or 1.0's `author`, `tags` as
//! categories and the first `attachments` entry as the enclosure.

use serde_json::Value;

use super::xml::Document;
use crate::model::article::{Enclosure, ItemDraft};
use crate::sources::date::parse_date;
use crate::sources::repairs::Repairs;

/// Why JSON is not a JSON Feed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NotJsonFeed {
    /// Not JSON at all.
    Invalid(String),
    /// JSON of another shape.
    Shape,
}

/// Reads a JSON Feed.
pub(super) fn parse(text: &str, repairs: &mut Repairs) -> Result<Document, NotJsonFeed> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| NotJsonFeed::Invalid(e.to_string()))?;
    let Some(items) = value.get("items").and_then(Value::as_array) else {
        return Err(NotJsonFeed::Shape);
    };
    let string = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut doc = Document {
        title: string(&value, "title"),
        link: string(&value, "home_page_url"),
        ..Document::default()
    };
    for item in items.iter().filter(|i| i.is_object()) {
        let link = string(item, "url")
            .or_else(|| string(item, "external_url"))
            .or_else(|| {
                string(item, "id")
                    .filter(|id| id.starts_with("http://") || id.starts_with("https://"))
            });
        let date = |key: &str| string(item, key).map(|text| (parse_date(&text), text));
        let published_at = match date("date_published").or_else(|| date("date_modified")) {
            Some((Some(at), _)) => Some(at),
            Some((None, _)) => {
                repairs.note("unreadable date left unknown");
                None
            }
            None => None,
        };
        let author = item
            .get("authors")
            .and_then(Value::as_array)
            .and_then(|authors| authors.iter().find_map(|a| string(a, "name")))
            .or_else(|| item.get("author").and_then(|a| string(a, "name")));
        let categories = item
            .get("tags")
            .and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let enclosure = item
            .get("attachments")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|a| {
                Some(Enclosure {
                    url: string(a, "url")?,
                    mime_type: string(a, "mime_type"),
                    length: a.get("size_in_bytes").and_then(Value::as_u64),
                })
            });
        doc.items.push(ItemDraft {
            title: string(item, "title"),
            link,
            published_at,
            summary: string(item, "summary")
                .or_else(|| string(item, "content_html"))
                .or_else(|| string(item, "content_text")),
            author,
            origin: None,
            categories,
            enclosure,
        });
    }
    Ok(doc)
}
