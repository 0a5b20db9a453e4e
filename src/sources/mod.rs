//! Source kinds: each turns response bytes into [`ItemDraft`]s.
//!
//! A kind is one file holding an options struct (its own config keys, checked
//! with `deny_unknown_fields`) and an implementation of [`Source`]. Kinds know
//! nothing of HTTP clients, queues or SQL: they say what to request and how to
//! read the answer. Adding a kind means one file and one line in [`build`].

pub mod devto;
pub mod feed;
pub mod github;
pub mod guardian;
pub mod hackernews;
pub mod json;
pub mod keys;
pub mod newsapi;
pub mod text;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;
use url::Url;

use crate::article::ItemDraft;
use crate::config::RawSource;
pub use crate::redact::Secret;

/// The kinds herald knows, as written in `kind = "..."`.
pub const KINDS: &[&str] = &[
    "feed",
    "json",
    "hackernews",
    "newsapi",
    "guardian",
    "devto",
    "github",
];

/// What a source asks the fetcher for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub url: Url,
    /// Sent as `Accept`, so servers that negotiate pick the right format.
    pub accept: &'static str,
    /// Extra headers (API versions, credentials).
    pub headers: Vec<Header>,
}

impl FetchRequest {
    /// A plain GET of `url`.
    pub fn get(url: Url, accept: &'static str) -> Self {
        FetchRequest {
            url,
            accept,
            headers: Vec::new(),
        }
    }
}

/// A request header; credential values are [`Secret`]s so they never print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    Plain(&'static str, String),
    Credential(&'static str, Secret),
}

/// What a parse found: items, and requests that complete them (Hacker News
/// lists ids; each item is a request of its own, queued like any job).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub items: Vec<ItemDraft>,
    pub follow_ups: Vec<FetchRequest>,
    /// The feed's own idea of how often to check it (RSS `<ttl>`).
    pub ttl: Option<std::time::Duration>,
}

impl From<Vec<ItemDraft>> for Parsed {
    fn from(items: Vec<ItemDraft>) -> Self {
        Parsed {
            items,
            follow_ups: Vec::new(),
            ttl: None,
        }
    }
}

/// A successful response as a parser sees it.
#[derive(Debug, Clone)]
pub struct Payload {
    pub body: bytes::Bytes,
    /// The `Content-Type` header, for its `charset`.
    pub content_type: Option<String>,
    /// Where the body really came from (after redirects): the base for relative links.
    pub url: Url,
}

/// Why a body could not be read as news. One line, safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a feed: {0}")]
    Feed(String),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("unexpected shape: {0}")]
    Shape(String),
    #[error("API error: {0}")]
    Api(String),
    #[error("parser panicked: {0}")]
    Panicked(String),
}

/// A kind of news source. Implementations must be cheap to share: one value
/// serves every round until the config is reloaded.
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The request that fetches this source.
    fn request(&self) -> FetchRequest;
    /// Reads a 2xx response into item drafts (in the order the source lists
    /// them) and any follow-up requests.
    fn parse(&self, payload: &Payload) -> Result<Parsed, ParseError>;
    /// Reads the answer to one follow-up request; `None` for an item that is
    /// legitimately absent (deleted, dead, null), which is not an error.
    fn parse_follow_up(&self, _payload: &Payload) -> Result<Option<ItemDraft>, ParseError> {
        Ok(None)
    }
    /// The credential this source sends, if any: its value is scrubbed from
    /// everything printed about the source, and its origin (`api_key_env
    /// GUARDIAN_KEY`) is named in "unauthorized" messages.
    fn credential(&self) -> Option<&keys::ApiKey> {
        None
    }
}

/// A configured source, shared by the rounds that fetch it.
#[derive(Debug)]
pub struct SourceSpec {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub schedule: Option<String>,
    pub limit: Option<usize>,
    pub rate_limit: Option<crate::breaker::RateLimit>,
    /// Whether Cache-Control, Expires, `<ttl>` and Retry-After may delay fetches.
    pub respect_server_hints: bool,
    /// Time between two rounds of its schedule: the breaker's cooldown unit.
    pub interval: std::time::Duration,
    pub source: Arc<dyn Source>,
}

/// A config problem inside one source, before the config module adds file
/// and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionProblem {
    pub key: String,
    pub message: String,
}

impl OptionProblem {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        OptionProblem {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// The values to scrub from anything printed about `source`.
pub fn secrets_of(source: &dyn Source) -> Vec<Secret> {
    source
        .credential()
        .map(|key| key.secret.clone())
        .into_iter()
        .collect()
}

/// What building a source needs besides its own keys.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// The config file's folder: relative `api_key_file`s outside systemd resolve here.
    pub config_dir: std::path::PathBuf,
}

/// A built source, possibly disabled (a missing API key is not fatal).
#[derive(Debug)]
pub struct Built {
    pub source: Arc<dyn Source>,
    /// Why the source will not be fetched, for one warning at start.
    pub disabled: Option<String>,
}

impl Built {
    fn enabled(source: impl Source + 'static) -> Result<Built, Vec<OptionProblem>> {
        Ok(Built {
            source: Arc::new(source),
            disabled: None,
        })
    }
}

/// Builds the source for one `[[sources]]` entry, or says everything wrong with it.
pub fn build(raw: &RawSource, context: &BuildContext) -> Result<Built, Vec<OptionProblem>> {
    match raw.kind.as_str() {
        "feed" => Built::enabled(feed::FeedSource::from_config(raw)?),
        "json" => Built::enabled(json::JsonSource::from_config(raw)?),
        "hackernews" => Built::enabled(hackernews::HackerNews::from_config(raw)?),
        "devto" => Built::enabled(devto::DevTo::from_config(raw)?),
        "newsapi" => newsapi::NewsApi::from_config(raw, context),
        "guardian" => guardian::Guardian::from_config(raw, context),
        "github" => github::GitHub::from_config(raw, context),
        other => Err(vec![OptionProblem::new(
            "kind",
            format!("unknown kind {other:?}; known kinds: {}", KINDS.join(", ")),
        )]),
    }
}

/// `base_url` (or the kind's public API) as a URL ending in `/`, so that
/// relative paths join under it.
pub fn base_url(
    raw: &RawSource,
    default: &str,
    configured: Option<&str>,
) -> Result<Url, OptionProblem> {
    let text = configured.unwrap_or(default);
    let mut url =
        Url::parse(text).map_err(|e| OptionProblem::new("base_url", format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(OptionProblem::new(
            "base_url",
            format!("{text:?}: only http and https are fetched"),
        ));
    }
    if raw.url.is_some() {
        return Err(OptionProblem::new(
            "url",
            format!(
                "kind {:?} builds its own URLs; use base_url to point it elsewhere",
                raw.kind
            ),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Joins `path` (no leading slash) under `base` and sets the query pairs that have a value.
pub fn api_url(base: &Url, path: &str, query: &[(&str, Option<String>)]) -> Url {
    let mut url = base.join(path).unwrap_or_else(|_| base.clone());
    {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            if let Some(value) = value {
                pairs.append_pair(name, value);
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

/// Parses JSON, naming what was expected when it is not JSON at all.
pub fn parse_json<T: DeserializeOwned>(payload: &Payload) -> Result<T, ParseError> {
    let text = text::decode_json(&payload.body, payload.content_type.as_deref());
    serde_json::from_str(&text).map_err(|e| {
        if e.is_data() {
            ParseError::Shape(e.to_string())
        } else {
            ParseError::Json(e.to_string())
        }
    })
}

/// Deserialises a kind's own keys; unknown keys become problems naming them.
pub fn options<T: DeserializeOwned>(raw: &RawSource) -> Result<T, Vec<OptionProblem>> {
    let map: serde_json::Map<String, serde_json::Value> = raw
        .options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
        let message = e.to_string();
        // serde names the offending field in backticks; point the key at it.
        let key = message
            .split('`')
            .nth(1)
            .filter(|_| message.starts_with("unknown field") || message.contains("field `"))
            .unwrap_or(&raw.kind)
            .to_owned();
        let message = if message.starts_with("unknown field") {
            format!("not a key of kind {:?} ({message})", raw.kind)
        } else {
            message
        };
        vec![OptionProblem { key, message }]
    })
}

/// The `url` key as an absolute http(s) URL.
pub fn required_url(raw: &RawSource) -> Result<Url, OptionProblem> {
    let text = raw
        .url
        .as_deref()
        .ok_or_else(|| OptionProblem::new("url", format!("kind {:?} needs a url", raw.kind)))?;
    let url = Url::parse(text).map_err(|e| OptionProblem::new("url", format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(OptionProblem::new(
            "url",
            format!("{text:?}: only http and https are fetched"),
        ));
    }
    Ok(url)
}

/// Turns a panic in `f` into [`ParseError::Panicked`], so that a panic
/// inside a parser (a dependency has panicked on odd UTF-16 before) fails
/// this one source instead of a worker.
pub fn contain_panic<T, F>(f: F) -> Result<T, ParseError>
where
    F: FnOnce() -> Result<T, ParseError>,
{
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(ParseError::Panicked(message))
    })
}

/// Reads the date formats news APIs use: RFC 3339, RFC 2822, a bare
/// `YYYY-MM-DD HH:MM:SS` (taken as UTC), a date alone, or unix seconds.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(at) = DateTime::parse_from_rfc2822(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    text.parse::<i64>().ok().and_then(unix_time)
}

/// Unix seconds (or milliseconds, for values too large to be seconds).
pub fn unix_time(value: i64) -> Option<DateTime<Utc>> {
    const MS_THRESHOLD: i64 = 100_000_000_000;
    let seconds = if value.abs() >= MS_THRESHOLD {
        value / 1000
    } else {
        value
    };
    Utc.timestamp_opt(seconds, 0).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_common_formats() {
        let want = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single();
        assert_eq!(parse_datetime("2026-11-22T10:00:00Z"), want);
        assert_eq!(parse_datetime("2026-11-22T12:00:00+02:00"), want);
        assert_eq!(parse_datetime("Sun, 22 Nov 2026 10:00:00 GMT"), want);
        assert_eq!(parse_datetime("2026-11-22 10:00:00"), want);
        assert_eq!(parse_datetime("1795341600"), want);
        assert_eq!(unix_time(1_795_341_600_000), want);
        assert_eq!(parse_datetime("yesterday-ish"), None);
    }

    #[test]
    fn a_panicking_parser_becomes_an_error() {
        let result: Result<Vec<ItemDraft>, _> = contain_panic(|| panic!("boom at byte 7"));
        assert_eq!(result, Err(ParseError::Panicked("boom at byte 7".into())));
    }
}
